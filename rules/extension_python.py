"""extension.python: which Python the backup extension's shell wrapper (main/handle.sh) will
run it with on this machine, in handle.sh's own order, and whether the extension version the
agent runs starts on that Python.

handle.sh (azure-linux-extensions VMBackup/main/handle.sh) tries python3.8 ... python3,
python2.7 ... python in /usr/bin, else /usr/local/bin, moving on while main/handle.py exits
non-zero; then `which python`; then, since PR #1198, the interpreter of the first `ps -ef`
line holding both "waagent" and "python" (RHEL 8's /usr/libexec/platform-python). With none it
logs "python version unknown" and exits 3."""

from __future__ import annotations

from typing import List

from azbdiag.engine import rule
from azbdiag.facts import (
    HANDLE_SH_NAMES,
    Interpreter,
    active_ext_dir,
    ext_dirs,
    extension_interpreters,
    starts,
)
from azbdiag.model import SkipRule, fail, ok, warn
from azbdiag.parsers.extension_dir import HANDLER
from azbdiag.parsers.status_file import parse_status

LOG_DIR = f"/var/log/azure/{HANDLER}"


def _shown(interp: Interpreter, brief: bool = False) -> str:
    if interp.version:
        return f"{interp.path} (Python {interp.version[0]}.{interp.version[1]})"
    return interp.path if brief else f"{interp.path} (its name tells no Python version)"


@rule("extension.python", "The backup extension finds a Python it can run",
      error_codes=("UserErrorVmProvisioningStateFailed", "GuestAgentSnapshotTaskStatusError"),
      remedy="Install the distribution's python3 (handle.sh looks in /usr/bin and /usr/local/bin) "
             "or keep the agent running under a Python the extension finds. On Python 3.12 an "
             "extension older than 1.0.9220.0 cannot start: the next backup installs a newer "
             "one. On Python 3.13 and later, versions up to 1.0.9225.0 cannot start "
             "(azure-linux-extensions#2172): until a release with PR #2177 reaches the VM, give "
             "handle.sh an older Python it tries first, for example /usr/local/bin/python3.8 "
             "pointing to a Python 3.11 or older.")
def python(ctx):
    """The interpreters handle.sh tries here, in its order; the extension version the agent
    runs; whether that version starts on each (known breaks on Python 3.12 and 3.13+)."""
    host = ctx.host
    interps = extension_interpreters(ctx)
    log = host.try_read_text(f"{LOG_DIR}/shell.log", 256 * 1024) or ""
    unknown = [ln.strip() for ln in log.splitlines() if "python version unknown" in ln][-2:]
    if not interps:
        return fail("no interpreter the extension looks for exists (python3.8 ... python3, "
                    "python2, python in /usr/bin or /usr/local/bin, `which python`, the Python "
                    "that runs waagent): it stops with 'python version unknown'",
                    unknown + [f"handle.sh's names: {' '.join(HANDLE_SH_NAMES)}"])
    try:
        active = active_ext_dir(ctx.fact(ext_dirs))
    except SkipRule:          # no agent directory, or not readable: judge the interpreters only
        active = None
    ext = active.key if active is not None else None
    ext_text = (f"VMSnapshotLinux {active.version}, the version the agent runs" if active
                else "VMSnapshotLinux is not installed yet: the next backup installs the "
                     "newest published version")
    evidence: List[str] = [ext_text]
    chosen, open_question, blocked = None, [], []
    name = active.version if active else "the next version"
    for n, interp in enumerate(interps, 1):
        verdict, brk = starts(ext, interp.version)
        line = f"{n}. {_shown(interp)}, from {interp.how}"
        if verdict is True:
            evidence.append(line + (": starts" if brk is None else
                                    f": starts (fixed in {brk.fixed_in})"))
            chosen = interp
            break
        if verdict is False:
            blocked.append(brk)
            evidence.append(f"{line}: {name} cannot start on it (handle.py exits non-zero and "
                            f"handle.sh tries the next one): {brk.why}; {brk.sources}")
        else:
            open_question.append(brk)
            evidence.append(f"{line}: not known to start: {brk.why}; versions up to "
                            f"{'.'.join(map(str, brk.last_broken))} fail and no released "
                            f"version is known to have the fix; {brk.sources}")
    telemetry = _last_python(ctx, active)
    if telemetry:
        evidence.append(f"the last run reported Python {telemetry}")
    evidence += unknown
    if chosen is not None:
        head = f"the extension will run {_shown(chosen, brief=True)}, from {chosen.how}"
        if unknown:
            return warn(head + ", but its shell.log reports it found none before", evidence)
        return ok(head, evidence)
    if open_question:
        brk = open_question[0]
        return warn(f"{ext_text.split(',')[0]} is not known to start on Python "
                    f"{brk.python[0]}.{brk.python[1]} or later: no released version is known to "
                    f"have the fix (azure-linux-extensions PR #2177)", evidence)
    py = next(i.version for i in interps if i.version is not None)
    if all(b.fixed_in for b in blocked):
        return warn(f"VMSnapshotLinux {name} cannot start on Python {py[0]}.{py[1]}; the next "
                    f"backup installs {blocked[0].fixed_in} or later, which can", evidence)
    return fail(f"VMSnapshotLinux {name} cannot start on Python {py[0]}.{py[1]}, and no released "
                f"version is known to: backups fail until a release with "
                f"azure-linux-extensions PR #2177 reaches this VM", evidence)


def _last_python(ctx, active) -> str:
    """pythonVersion from the newest status file's telemetry ("" when unknown)."""
    if active is None:
        return ""
    best = None
    for path in ctx.host.glob(f"{active.path}/status", "*.status"):
        try:
            mtime = ctx.host.stat(path).st_mtime
        except OSError:
            continue
        if best is None or mtime > best[0]:
            best = (mtime, path)
    if best is None:
        return ""
    text = ctx.host.try_read_text(best[1], 512 * 1024)
    return parse_status(text).telemetry.get("pythonVersion", "") if text else ""
