"""The backup extension as the agent laid it out (its directories under /var/lib/waagent, the
one the agent runs), and the Python interpreters its shell wrapper main/handle.sh tries, in
its order."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import List, Optional, Tuple

from azbdiag import lazyre
from azbdiag.facts.agent import agent_interpreter
from azbdiag.facts.process_table import processes
from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.extension_dir import HANDLER, dir_version, version_tuple
from azbdiag.parsers.handler_environment import HandlerEnvironment, parse_handler_environment
from azbdiag.parsers.handler_state import parse_handler_state
from azbdiag.parsers.handler_status import HandlerStatus, parse_handler_status

WAAGENT = "/var/lib/waagent"


@dataclasses.dataclass
class ExtDir:
    """One installed version of the backup extension (/var/lib/waagent/<handler>-<version>):
    its handler state and status, its environment file, and what the folder holds."""
    path: str
    version: str
    key: Tuple[int, ...]
    state: str                                   # config/HandlerState ('' if missing)
    has_state: bool
    handler_status: Optional[HandlerStatus]   # config/HandlerStatus, None if missing
    env: Optional[HandlerEnvironment]         # HandlerEnvironment.json, None if missing
    manifest: bool                               # HandlerManifest.json present
    handle_sh: bool                              # main/handle.sh present
    entries: List[str]


def _world_readable(host, path: str) -> bool:
    try:
        st = host.stat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() or st.st_mode & 0o005 == 0o005


def ext_dirs(host) -> List[ExtDir]:
    """Every VMSnapshotLinux-<version> directory under /var/lib/waagent, oldest version first."""
    if not host.isdir(WAAGENT):
        raise SkipRule(SkipReason.NO_INPUT, f"no {WAAGENT}: the guest agent has not run here")
    if not host.is_root and not _world_readable(host, WAAGENT):
        raise SkipRule(SkipReason.NOT_ROOT, f"{WAAGENT} is readable by root only: re-run as root")
    found = []
    for path in host.glob(WAAGENT, HANDLER + "-*"):
        version = dir_version(os.path.basename(path))
        if version is None or not host.isdir(path):
            continue
        old = f"{WAAGENT}/handler_state/{os.path.basename(path)}"   # agents before 2.2
        state_text = host.try_read_text(f"{path}/config/HandlerState", 4096)
        if state_text is None:
            state_text = host.try_read_text(f"{old}/state", 4096)
        status_text = host.try_read_text(f"{path}/config/HandlerStatus", 256 * 1024)
        if status_text is None:
            status_text = host.try_read_text(f"{old}/status", 256 * 1024)
        env_text = host.try_read_text(f"{path}/HandlerEnvironment.json", 256 * 1024)
        found.append(ExtDir(
            path=path, version=version, key=version_tuple(version) or (),
            state=parse_handler_state(state_text) if state_text is not None else "",
            has_state=state_text is not None,
            handler_status=parse_handler_status(status_text) if status_text is not None else None,
            env=parse_handler_environment(env_text) if env_text is not None else None,
            manifest=host.isfile(f"{path}/HandlerManifest.json"),
            handle_sh=host.isfile(f"{path}/main/handle.sh"),
            entries=host.listdir(path)))
    return sorted(found, key=lambda d: d.key)


def active_ext_dir(dirs: List[ExtDir]) -> Optional[ExtDir]:
    """The install the agent runs: the newest enabled one, else the newest."""
    enabled = [d for d in dirs if d.state == "Enabled"]
    return (enabled or dirs)[-1] if dirs else None


def active_ext_path(host) -> Optional[str]:
    """The directory of the install the agent runs (as active_ext_dir), read with a glob and
    the HandlerState files only: for facts that need it without the ext_dirs fact."""
    found = []
    for path in host.glob(WAAGENT, HANDLER + "-*"):
        version = dir_version(os.path.basename(path))
        if version is None or not host.isdir(path):
            continue
        state = parse_handler_state(host.try_read_text(f"{path}/config/HandlerState", 4096) or "")
        found.append((state == "Enabled", version_tuple(version) or (), path))
    enabled = sorted(f for f in found if f[0])
    rest = sorted(found, key=lambda f: f[1])
    return (enabled or rest)[-1][2] if found else None


# ---- the extension versions that cannot start on a new Python ------------------------------
@dataclasses.dataclass(frozen=True)
class PythonBreak:
    """Extension versions that cannot start on a Python release and later ones."""
    python: Tuple[int, int]              # from this Python on
    last_broken: Tuple[int, ...]         # the newest extension version known to fail
    fixed_in: Optional[str]              # the first released version with the fix, if known
    why: str
    sources: str


# The newest break first. Sources: azure-linux-extensions issues and PRs (reference
# vmbackup-extension.md and the issue 13 audit).
BREAKS = (
    PythonBreak((3, 13), (1, 0, 9225, 0), None,
                "Python 3.13 removed the crypt module, which main/WaagentLib.py imports, and the "
                "imp fallback of main/Utils/WAAgentUtil.py is gone since 3.12 (on Azure Linux 4.0 "
                "the distutils import fails first)",
                "azure-linux-extensions#2172 (1.0.9225.0 failing, 2026-05); fixed by PR #2177 "
                "(merged 2026-07-24, after #2124 was reverted by #2163), in no release named "
                "publicly yet"),
    PythonBreak((3, 12), (1, 0, 9219, 0), "1.0.9220.0",
                "Python 3.12 removed the imp module, which main/Utils/WAAgentUtil.py used to load "
                "the agent's code",
                "azure-linux-extensions PR #1920 (fix), issue #1922 (1.0.9218.0 failing; fixed "
                "in 1.0.9220.0, rolled out to all regions by 2024-06-25), WALinuxAgent#3132 "
                "(1.0.9217.0 failing)"),
)


def starts(ext: Optional[Tuple[int, ...]], py: Optional[Tuple[int, int]]):
    """Whether extension version `ext` (None: not installed, the next published one) starts
    on Python `py` (None: unknown, assumed to): (True, False or None for not known, the break
    that decides or None)."""
    if py is None:
        return True, None
    for brk in BREAKS:
        if py >= brk.python:
            if ext is None:
                return (None if brk.fixed_in is None else True), brk
            if ext <= brk.last_broken:
                return False, brk
            return (None if brk.fixed_in is None else True), brk
    return True, None


# ---- the Python main/handle.sh runs -------------------------------------------------------
# handle.sh tries each of these names in /usr/bin, else /usr/local/bin (`[ -f ]`, so a link to
# a file counts), moving on while handle.py exits non-zero; then `which python`; then the
# interpreter of the first `ps -ef` line holding both waagent and python (PR #1198). With none
# it logs "python version unknown" and exits 3.
HANDLE_SH_NAMES = ("python3.8", "python3.7", "python3.6", "python3.5", "python3.4", "python3.3",
                   "python3", "python2.7", "python2.6", "python2", "python")
# The PATH systemd gives the agent, and so the extension: where `which python` looks.
SERVICE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_PY_NAME = lazyre.compile(r"(?:platform-)?python(\d)(?:\.(\d+))?")


@dataclasses.dataclass
class Interpreter:
    """A Python handle.sh would try to run the extension with, and why it is a candidate
    (handle.sh's list, `which python`, the agent's own Python)."""
    path: str
    how: str                                  # why handle.sh runs it
    version: Optional[Tuple[int, int]]        # X.Y when the name (or a link's) says it


def interpreter_version(host, path: str) -> Optional[Tuple[int, int]]:
    """The X.Y of an interpreter from the last name along its chain of symlinks that says it
    (/usr/bin/python3 -> python3.12, /usr/libexec/platform-python -> platform-python3.6,
    /usr/local/bin/python3.8 -> python3.11 is 3.11)."""
    found = None
    for _ in range(8):
        m = _PY_NAME.fullmatch(posixpath.basename(path))
        if m and m.group(2) is not None:
            found = int(m.group(1)), int(m.group(2))
        if not host.islink(path):
            break
        try:
            target = host.readlink(path)
        except OSError:
            break
        path = target if target.startswith("/") else posixpath.join(posixpath.dirname(path),
                                                                     target)
    return found


def _agent_python_live(table) -> Optional[str]:
    """`ps -ef | grep waagent | grep python | head -n1 | awk '{print $8}'`: the first word of
    the command of the lowest-numbered process whose command line holds both words."""
    for p in sorted(table, key=lambda p: int(p.pid) if p.pid.isascii() and p.pid.isdigit() else 0):
        line = p.cmdline
        if "waagent" in line and "python" in line and p.argv:
            return p.argv[0]
    return None


def extension_interpreters(ctx) -> List[Interpreter]:
    """The interpreters handle.sh would try on this machine, in its order, without
    duplicates (the same file reached twice is tried twice but decides nothing new)."""
    host = ctx.host
    out: List[Interpreter] = []
    for name in HANDLE_SH_NAMES:
        for d in ("/usr/bin", "/usr/local/bin"):
            path = f"{d}/{name}"
            if host.isfile(path):
                out.append(Interpreter(path, f"handle.sh's list ({name})",
                                       interpreter_version(host, path)))
                break
    which = host.which("python", dirs=SERVICE_PATH)
    if which:
        out.append(Interpreter(which, "`which python`", interpreter_version(host, which)))
    if host.live:
        agent = _agent_python_live(ctx.fact(processes))
        how = "the Python that runs waagent (ps -ef)"
    else:
        argv = agent_interpreter(ctx)
        agent = argv[0] if argv and posixpath.basename(argv[0]) != "env" else None
        how = "the Python that runs waagent (its unit or its #! line)"
    if agent and agent.startswith("/") and host.isfile(agent):
        out.append(Interpreter(agent, how, interpreter_version(host, agent)))
    seen, unique = set(), []
    for interp in out:
        try:
            st = host.stat(interp.path)
            key: object = (st.st_dev, st.st_ino)
        except OSError:
            key = interp.path
        if key in seen:
            continue
        seen.add(key)
        unique.append(interp)
    return unique


def extension_python(ctx) -> Optional[Interpreter]:
    """The interpreter handle.sh ends up running the extension with: the first one in its
    order on which the version the agent runs starts (or may start), else None."""
    try:
        active = active_ext_dir(ctx.fact(ext_dirs))
    except SkipRule:
        active = None
    ext = active.key if active is not None else None
    for interp in extension_interpreters(ctx):
        if starts(ext, interp.version)[0] is not False:
            return interp
    return None
