"""The one way azbdiag runs commands: through `sh`, with a timeout, no TTY and captured output.

Works with Debian 12's sh 1.14 (calls return a RunningCommand) and with sh 2.x (calls return a
str unless `_return_cmd=True`, which sh 1.x would pass to the program as an argument).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import sh

_SH2 = int(sh.__version__.split(".")[0]) >= 2

DEFAULT_TIMEOUT = 10.0
# Commands we run must print in a stable, parseable form whatever the admin's locale.
_BASE_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


@dataclasses.dataclass
class CommandResult:
    argv: Tuple[str, ...]
    rc: Optional[int]
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    not_found: bool = False
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out and not self.not_found

    def describe(self) -> str:
        cmd = " ".join(self.argv)
        if self.not_found:
            return f"{cmd}: command not found"
        if self.timed_out:
            return f"{cmd}: timed out after {self.duration_ms / 1000:.1f} s"
        return f"{cmd}: exit {self.rc}"


def _decode(data) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)


class ShRunner:
    """Runs real commands with sh. Every call has a timeout; output is captured, never a TTY."""

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        self.env = dict(os.environ)
        self.env.update(_BASE_ENV)
        if env:
            self.env.update(env)

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        input: Union[str, bytes, None] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        started = time.monotonic()
        call_env = dict(self.env)
        if env:
            call_env.update(env)
        kwargs = {
            "_tty_out": False,
            "_tty_in": False,
            "_ok_code": list(range(256)),
            "_env": call_env,
            "_in": input if input is not None else "",
            "_new_session": True,
        }
        if _SH2:
            kwargs["_return_cmd"] = True
        exe = shutil.which(argv[0], path=call_env.get("PATH"))
        if exe is None:
            return CommandResult(argv, None, not_found=True)
        # GNU timeout signals the whole process group (a shell's children die too) and
        # SIGKILLs it 2 s later; the engine's per-rule timeout is the backstop. sh's own
        # timeout, used only without it, kills just the direct child, and its watcher thread
        # adds ~100 ms to every call.
        wrapped = argv
        killer = shutil.which("timeout", path=call_env.get("PATH"))
        if killer:
            wrapped = (killer, "--kill-after=2", f"{timeout:g}", exe) + argv[1:]
        else:
            kwargs["_timeout"] = timeout
        try:
            proc = sh.Command(wrapped[0])(*wrapped[1:], **kwargs)
            elapsed = int((time.monotonic() - started) * 1000)
            if killer and proc.exit_code in (124, 137) and elapsed >= timeout * 1000:
                return CommandResult(argv, None, _decode(proc.stdout), _decode(proc.stderr),
                                     timed_out=True, duration_ms=elapsed)
            return CommandResult(
                argv, proc.exit_code, _decode(proc.stdout), _decode(proc.stderr),
                duration_ms=elapsed,
            )
        except sh.CommandNotFound:
            return CommandResult(argv, None, not_found=True)
        except sh.TimeoutException:
            return CommandResult(
                argv, None, timed_out=True, duration_ms=int((time.monotonic() - started) * 1000)
            )
        except sh.SignalException as exc:  # killed by a signal other than our timeout
            return CommandResult(
                argv, -abs(getattr(exc, "exit_code", 1)), _decode(exc.stdout), _decode(exc.stderr)
            )
        except (OSError, PermissionError) as exc:
            return CommandResult(argv, None, stderr=str(exc), not_found=True)


FakeEntry = Union[str, Tuple[int, str], Tuple[int, str, str], Callable[..., CommandResult]]


class FakeRunner:
    """A table of command lines and their output, for tests.

    Keys are the command line joined by spaces; values are stdout, (rc, stdout) or
    (rc, stdout, stderr), or a callable taking (argv, timeout) and returning a CommandResult.
    Unknown commands behave as 'command not found'. Every call is recorded in `calls`.
    """

    def __init__(self, table: Optional[Dict[str, FakeEntry]] = None):
        self.table: Dict[str, FakeEntry] = dict(table or {})
        self.calls = []

    def run(self, argv, timeout=DEFAULT_TIMEOUT, input=None, env=None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        self.calls.append(argv)
        entry = self.table.get(" ".join(argv))
        if entry is None:
            return CommandResult(argv, None, not_found=True)
        if callable(entry):
            return entry(argv, timeout)
        if isinstance(entry, str):
            return CommandResult(argv, 0, entry)
        rc, out, *rest = entry
        return CommandResult(argv, rc, out, rest[0] if rest else "")
