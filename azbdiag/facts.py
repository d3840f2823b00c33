"""Facts shared by several rule modules: each is `fn(host)`, reads through the host and hands
the text to a parser. Use them as `ctx.fact(mounts)`: the engine computes each once per run.
Facts used by one rule module only live in that module, next to the rule."""

from __future__ import annotations

import dataclasses
import os
from typing import List

from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.extension_dir import HANDLER as EXTENSION_DIR_MARK
from azbdiag.parsers.mounts import Mount, parse_fstab, parse_mountinfo
from azbdiag.parsers.proc import parse_cmdline, parse_stat_head


def mounts(host) -> List[Mount]:
    """The mounts that matter: live, what is mounted now; offline, the root's fstab."""
    if host.live:
        text = host.try_read_text("/proc/self/mountinfo")
        if text is None:
            raise SkipRule(SkipReason.NO_INPUT, "cannot read /proc/self/mountinfo")
        return parse_mountinfo(text)
    text = host.try_read_text("/etc/fstab")
    if text is None:
        raise SkipRule(SkipReason.NO_INPUT, "the root has no readable /etc/fstab")
    return parse_fstab(text)


def mounts_source(host) -> str:
    return "current mounts" if host.live else f"{host.root}/etc/fstab"


ASR_MARKERS = (
    "/usr/local/ASR",                       # Site Recovery mobility agent install folder
    "/usr/local/.vx_version",
    "/etc/vxagent",
)


def asr_present(host) -> List[str]:
    """Evidence that Azure Site Recovery's mobility agent is installed (empty list if not)."""
    found = [p for p in ASR_MARKERS if host.exists(p)]
    found += [p for p in host.glob("/var/lib/waagent", "Microsoft.Azure.RecoveryServices.SiteRecovery*")]
    return found


SAFEFREEZE_LOCK = "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile"


@dataclasses.dataclass
class Process:
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
    from azbdiag.parsers.proc import parse_proc_locks

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
