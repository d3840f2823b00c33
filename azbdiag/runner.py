"""The one way azbdiag runs commands: through `sh`, with a timeout, no TTY and captured output.

Works with Debian 12's sh 1.14 (calls return a RunningCommand) and with sh 2.x (calls return a
str unless `_return_cmd=True`, which sh 1.x would pass to the program as an argument).

Time: the engine gives each rule a Budget (its share of the run's deadline). A command started
under it never outlives it: its timeout is clipped to what the rule has left, and when the rule
times out the engine cancels the budget, which kills the command's whole process group; the
check commands still running when azbdiag stops (normal exit, SIGTERM, SIGHUP) are killed too.

One exec per command: a check's command (one started under a Budget) is spawned directly in its
own session, and a timer kills its process group at the timeout. So that it cannot outlive an
azbdiag killed with SIGKILL (no handler runs then), every such group is also registered with the
reaper: one small `sh` per azbdiag process, started with the first command, that reads "+pgid"
and "-pgid" lines on a pipe only azbdiag holds and, at end of file (azbdiag is gone, however it
died), kills every group still registered. The command's own fork writes its "+pgid" (after
setsid, before exec): azbdiag killed right after the spawn cannot leave it unregistered. A fix's
commands (no Budget) keep GNU timeout around them: they are not killed when azbdiag dies
(stopping e2fsck half-way is the fixer's call), and timeout still ends one that hangs.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import signal
import threading
import time
from typing import Callable, Dict, Mapping, Optional, Sequence, Set, Tuple, Union


def _sh():
    """The sh module, imported at the first command: an offline check that runs none does not
    pay for its import (a sixth of such a check)."""
    import sh

    return sh


DEFAULT_TIMEOUT = 10.0
# GNU timeout sends SIGKILL this long after its SIGTERM.
KILL_AFTER = 2
# Commands we run must print in a stable, parseable form whatever the admin's locale.
_BASE_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


class CommandsDeferred(BaseException):
    """Raised by Host.run while the engine's first pass runs the rules that only read files.
    A BaseException so that a rule's `except Exception` cannot swallow it; nothing has been
    started when it is raised."""


class Cancelled(BaseException):
    """Raised by the host in a rule the engine gave up on (timed out): its thread stops at its
    next read or command instead of running on unseen."""


class Budget:
    """The time one rule has left, and the process groups of the commands it started."""

    def __init__(self, seconds: float, defer_commands: bool = False):
        self.end = time.monotonic() + seconds
        self.defer_commands = defer_commands
        self.cancelled = False
        self._lock = threading.Lock()
        self._groups: set = set()

    def left(self) -> float:
        return self.end - time.monotonic()

    def adopt(self, pid: int) -> bool:
        """Track the group of a command just started; False (and killed) if already cancelled."""
        with self._lock:
            if not self.cancelled:
                self._groups.add(pid)
                return True
        _signal_group(pid, signal.SIGKILL)
        return False

    def release(self, pid: int) -> None:
        with self._lock:
            self._groups.discard(pid)

    def cancel(self) -> None:
        """The rule is out of time: no new command starts, running ones are killed."""
        with self._lock:
            self.cancelled = True
            groups = list(self._groups)
        for pid in groups:
            _signal_group(pid, signal.SIGKILL)


_local = threading.local()


def current_budget() -> Optional[Budget]:
    return getattr(_local, "budget", None)


def set_budget(budget: Optional[Budget]) -> None:
    """Attach `budget` to the calling thread (the engine does this in each rule's thread)."""
    _local.budget = budget


# The commands checks started that still run: pid (= process group, each starts with setsid).
# A fix's commands are not in it: stopping one half-way (e2fsck) is the fixer's decision.
_children: Set[int] = set()
_children_lock = threading.Lock()
# Commands between their spawn and their registration in _children: a stop signal waits for
# them (briefly), or a command started just then would outlive azbdiag. When the signal lands
# in the thread that is spawning (the main thread), it is held until the command is registered.
_spawning = 0
_pending_stop: Optional[int] = None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def stop_children() -> None:
    """Kill the process group of every check command still running (at exit, SIGTERM,
    SIGHUP)."""
    with _children_lock:
        running = list(_children)
    for pid in running:
        _signal_group(pid, signal.SIGKILL)


atexit.register(stop_children)
_handlers_installed = False

# The reaper: reads "+PGID" (a command started) and "-PGID" (it ended) on its standard input;
# at end of file, when azbdiag has exited or was killed, it kills the groups still registered.
# Builtins only: nothing to exec, nothing that blocks but the read.
_REAPER = r'''
g=" "
while IFS= read -r l; do
  case $l in
    +*) g="$g${l#+} " ;;
    -*) p=${l#-}; case $g in *" $p "*) g="${g%% $p *} ${g#* $p }" ;; esac ;;
  esac
done
for p in $g; do kill -s KILL -- "-$p" 2>/dev/null; done
exit 0
'''


class _Reaper:
    """The one reaper of this process (see the module docstring), started on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fd: Optional[int] = None
        self._pipe: Optional[Tuple[int, int]] = None   # (st_dev, st_ino) of the pipe at _fd
        self._pid = 0            # the process that started it: a forked child starts its own
        self._proc = None

    def _start(self) -> bool:
        shell = shutil.which("sh", path=_BASE_ENV["PATH"])
        if shell is None:
            return False
        read_end, write_end = os.pipe()          # both close-on-exec: no command inherits them
        try:
            with os.fdopen(read_end, "rb", buffering=0, closefd=False) as stdin:
                self._proc = _sh().Command(shell)(
                    "-c", _REAPER, "azbdiag-reaper", _in=stdin, _bg=True, _bg_exc=False,
                    _new_session=True, _tty_in=False, _tty_out=False,
                    _ok_code=list(range(256)), _env=dict(_BASE_ENV))
        except Exception:  # noqa: BLE001 - no reaper: commands fall back to GNU timeout
            os.close(write_end)
            return False
        finally:
            os.close(read_end)
        self._fd = write_end
        st = os.fstat(write_end)
        self._pipe = (st.st_dev, st.st_ino)
        return True

    def _send(self, line: str) -> bool:
        with self._lock:
            return self._send_locked(line)

    def _send_locked(self, line: str) -> bool:
        """Write `line` (may be empty) to the reaper, starting it if needed: whether it runs."""
        if self._pid != os.getpid():     # first use, or a forked child: a reaper of its own
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._pid = None, os.getpid()
            self._start()
        if self._fd is None:
            return False
        try:
            if line:
                os.write(self._fd, line.encode())
            return True
        except OSError:           # the reaper died (killed by someone): no more of it
            os.close(self._fd)
            self._fd = None
            return False

    def registrar(self) -> Optional[Callable[[], None]]:
        """A preexec function for a command about to be spawned, or None when there is no
        reaper (starting it if needed). In the forked child (its own session by then, so its
        pid is its group), before exec, it registers the group itself. The write end is
        close-on-exec, so the command never holds it; if another thread closed it meanwhile
        (the reaper died) and the number was reused, the child sees another file there and
        writes nothing."""
        with self._lock:
            if not self._send_locked(""):
                return None
            fd, pipe = self._fd, self._pipe

        def register_self() -> None:
            old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)   # a dead reaper: EPIPE
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == pipe:
                    os.write(fd, f"+{os.getpid()}\n".encode())
            except OSError:
                pass
            finally:
                signal.signal(signal.SIGPIPE, old)

        return register_self

    def unregister(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")


_reaper = _Reaper()


def _on_stop_signal(signum, frame):
    global _pending_stop
    if getattr(_local, "spawning", False):
        _pending_stop = signum          # acted on as soon as this thread's command is known
        return
    end = time.monotonic() + 2
    while _spawning and time.monotonic() < end:
        time.sleep(0.01)
    # Then die of the signal as before: no unwinding in the middle of whatever runs.
    stop_children()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_stop_handlers() -> None:
    """On SIGTERM and SIGHUP, kill the check commands still running, then die of the signal.
    Only from the main thread, and only over the default handler."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_stop_signal)
        except (ValueError, OSError):
            pass


@dataclasses.dataclass
class CommandResult:
    """What one command run through the runner did: exit code, output and why it failed to run."""
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
    """Runs real commands with sh. Every call has a timeout; output is captured, never a TTY.

    Each command starts in its own session (its pid is its process group). A check's command
    is spawned as it is: a timer kills its group at the timeout and the reaper if azbdiag dies
    (see the module docstring). Any other is wrapped in GNU timeout, which signals the whole
    group at the timeout and SIGKILLs it KILL_AFTER seconds later, even if azbdiag itself was
    killed; without GNU timeout the timer kills the group.
    """

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        self.env = dict(os.environ)
        self.env.update(_BASE_ENV)
        if env:
            self.env.update(env)
        install_stop_handlers()

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        input: Union[str, bytes, None] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        started = time.monotonic()
        budget = current_budget()
        if budget is not None:
            if budget.cancelled or budget.left() <= 0:
                return CommandResult(argv, None, timed_out=True)
            timeout = min(timeout, budget.left())
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
            "_bg": True,            # so that the pid is known while it runs
            "_bg_exc": False,
        }
        exe = shutil.which(argv[0], path=call_env.get("PATH"))
        if exe is None:
            return CommandResult(argv, None, not_found=True)
        # A check's command: spawned once, its group killed by our timer at the timeout, and
        # by the reaper if azbdiag dies. Otherwise (a fix's command, or no reaper): GNU timeout
        # around it, which ends it at the timeout whatever happens to azbdiag.
        # The child registers its group with the reaper itself (see _Reaper.registrar).
        registrar = _reaper.registrar() if budget is not None else None
        direct = registrar is not None
        if direct:
            kwargs["_preexec_fn"] = registrar
        wrapped = (exe,) + argv[1:]
        killer = None if direct else shutil.which("timeout", path=call_env.get("PATH"))
        if killer:
            wrapped = (killer, f"--kill-after={KILL_AFTER}", f"{max(timeout, 0.01):.2f}",
                       exe) + argv[1:]
        sh = _sh()
        global _spawning
        with _children_lock:
            _spawning += 1
        _local.spawning = True
        try:
            try:
                proc = sh.Command(wrapped[0])(*wrapped[1:], **kwargs)
            except sh.CommandNotFound:
                return CommandResult(argv, None, not_found=True)
            except (OSError, PermissionError) as exc:
                return CommandResult(argv, None, stderr=str(exc), not_found=True)
            pid = proc.pid
            if budget is not None:
                with _children_lock:
                    _children.add(pid)
                budget.adopt(pid)
        finally:
            _local.spawning = False
            with _children_lock:
                _spawning -= 1
            if _pending_stop is not None:
                _on_stop_signal(_pending_stop, None)
        timer = None
        if not killer:
            timer = threading.Timer(timeout, _signal_group, (pid, signal.SIGKILL))
            timer.daemon = True
            timer.start()
        signalled = False
        try:
            try:
                proc.wait()
                code, out, err = proc.exit_code, proc.stdout, proc.stderr
            except sh.SignalException as exc:
                signalled = True
                code, out, err = -abs(getattr(exc, "exit_code", 1)), exc.stdout, exc.stderr
        finally:
            if timer is not None:
                timer.cancel()
            if budget is not None:
                budget.release(pid)
                with _children_lock:
                    _children.discard(pid)
                if direct:
                    _reaper.unregister(pid)
        elapsed = int((time.monotonic() - started) * 1000)
        out_of_time = elapsed >= timeout * 1000 or (budget is not None and budget.cancelled)
        if out_of_time and (signalled or (killer and code in (124, 137))):
            return CommandResult(argv, None, _decode(out), _decode(err), timed_out=True,
                                 duration_ms=elapsed)
        return CommandResult(argv, code, _decode(out), _decode(err), duration_ms=elapsed)


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
