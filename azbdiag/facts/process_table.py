"""The processes running now (live only), and whether a backup snapshot is running."""

from __future__ import annotations

import dataclasses
import os
from typing import List

from azbdiag.parsers.extension_dir import HANDLER as EXTENSION_DIR_MARK
from azbdiag.parsers.proc import parse_cmdline, parse_proc_locks, parse_stat_head

SAFEFREEZE_LOCK = "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile"


@dataclasses.dataclass
class Process:
    """One running process, from /proc/<pid>."""
    pid: str
    comm: str           # /proc/<pid>/comm, else the name in /proc/<pid>/stat
    argv: List[str]     # /proc/<pid>/cmdline ([] for kernel threads or when unreadable)
    state: str          # the state letter from /proc/<pid>/stat, "?" when unreadable
    stat: str           # /proc/<pid>/stat as read, for rules that need more of it

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)


def processes(host) -> List[Process]:
    """Every process but azbdiag itself (live; none offline). Rules share it through
    ctx.fact(processes), so /proc is walked once per run."""
    if not host.live:
        return []
    me = str(os.getpid())
    table: List[Process] = []
    for pid in host.listdir("/proc"):
        if not (pid.isascii() and pid.isdigit()) or pid == me:
            continue
        try:
            argv = parse_cmdline(host.read_bytes(f"/proc/{pid}/cmdline", 8192))
            readable = True
        except OSError:
            argv, readable = [], False
        stat = host.try_read_text(f"/proc/{pid}/stat", 4096) or ""
        head = parse_stat_head(stat)
        comm = (host.try_read_text(f"/proc/{pid}/comm", 256) or "").strip()
        if not (readable or head or comm):
            continue        # gone while we looked
        table.append(Process(pid, comm or (head[0] if head else ""), argv,
                             head[1] if head else "?", stat))
    return table


def runs_in_extension_dir(host, pid: str, argv: List[str]) -> bool:
    """The extension starts `main/handle.sh daemon` and `main/handle.py -seqNo:N -daemon` with
    relative paths from its own directory: look at the arguments, then at the process's cwd."""
    if EXTENSION_DIR_MARK in " ".join(argv):
        return True
    try:
        return EXTENSION_DIR_MARK in host.readlink(f"/proc/{pid}/cwd")
    except OSError:  # not root: another user's cwd is hidden; judge by the script name
        return any(a in ("main/handle.sh", "main/handle.py") for a in argv[1:2])


def backup_in_progress(host, table=None) -> List[str]:
    """Evidence that a backup snapshot is running now (live only): a safefreeze or VMSnapshot
    daemon process, or the safefreeze lock file held (read from /proc/locks, never by taking
    the lock ourselves). Empty list if none or offline. `table` is processes(host) when the
    caller has it already."""
    if not host.live:
        return []
    found: List[str] = []
    for p in processes(host) if table is None else table:
        args = p.cmdline
        if p.comm == "safefreeze" or (p.argv and os.path.basename(p.argv[0]) == "safefreeze"):
            found.append(f"pid {p.pid}: safefreeze is running ({args[:200]})")
        elif "daemon" in args and ("VMSnapshotLinux" in args
                                   or runs_in_extension_dir(host, p.pid, p.argv)):
            found.append(f"pid {p.pid}: the VMSnapshot extension daemon is running "
                         f"({args[:200]})")
    try:
        st = host.stat(SAFEFREEZE_LOCK)
    except OSError:
        st = None
    if st is not None:
        for lock in parse_proc_locks(host.try_read_text("/proc/locks") or ""):
            if (lock.major, lock.minor, lock.inode) == (os.major(st.st_dev), os.minor(st.st_dev),
                                                        st.st_ino):
                found.append(f"{SAFEFREEZE_LOCK} is locked by pid {lock.pid}")
    return found


def mount_holders(host, point: str) -> List[str]:
    """Processes that keep `point` busy: open files, cwd, root or mapped files under it."""
    prefix = point.rstrip("/") + "/"
    me = str(os.getpid())
    found = []

    def under(path: str) -> bool:
        path = path.replace(" (deleted)", "")
        return path == point or path.startswith(prefix)

    for pid in host.listdir("/proc"):
        if not (pid.isascii() and pid.isdigit()) or pid == me:
            continue
        why = []
        for what in ("cwd", "root"):
            try:
                if point != "/" and under(host.readlink(f"/proc/{pid}/{what}")):
                    why.append(what)
            except OSError:
                pass
        for fd in host.listdir(f"/proc/{pid}/fd"):
            try:
                if under(host.readlink(f"/proc/{pid}/fd/{fd}")):
                    why.append("open file")
                    break
            except OSError:
                continue
        maps = host.try_read_text(f"/proc/{pid}/maps", 2 * 1024 * 1024) or ""
        if any(under(line.split(None, 5)[5]) for line in maps.splitlines()
               if len(line.split(None, 5)) == 6):
            why.append("mapped file")
        if why:
            comm = (host.try_read_text(f"/proc/{pid}/comm", 256) or "?").strip()
            found.append(f"{comm} (pid {pid}: {', '.join(why)})")
    return found
