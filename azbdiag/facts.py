"""Facts shared by several rule modules: each is `fn(host)`, reads through the host and hands
the text to a parser. Use them as `ctx.fact(mounts)`: the engine computes each once per run.
Facts used by one rule module only live in that module, next to the rule."""

from __future__ import annotations

from typing import List

from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.mounts import Mount, parse_fstab, parse_mountinfo


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


def _in_extension_dir(host, pid: str, args: str) -> bool:
    """The extension starts `main/handle.sh daemon` / `main/handle.py -daemon` with relative
    paths from its own directory, so the command line alone does not name it."""
    if "handle.py" not in args and "handle.sh" not in args:
        return False
    try:
        return "VMSnapshotLinux" in host.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False


def backup_in_progress(host) -> List[str]:
    """Evidence that a backup snapshot is running now (live only): a safefreeze or VMSnapshot
    daemon process, or the safefreeze lock file held (read from /proc/locks, never by taking
    the lock ourselves). Empty list if none or offline."""
    import os

    from azbdiag.parsers.fsstate import parse_proc_locks

    if not host.live:
        return []
    found: List[str] = []
    me = str(os.getpid())
    for pid in host.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        comm = (host.try_read_text(f"/proc/{pid}/comm", 256) or "").strip()
        argv = (host.try_read_text(f"/proc/{pid}/cmdline", 4096) or "").split("\0")
        args = " ".join(a for a in argv if a)
        if comm == "safefreeze" or (argv and os.path.basename(argv[0]) == "safefreeze"):
            found.append(f"pid {pid}: safefreeze is running ({args[:200]})")
        elif "daemon" in args and ("VMSnapshotLinux" in args or _in_extension_dir(host, pid, args)):
            found.append(f"pid {pid}: the VMSnapshot extension daemon is running ({args[:200]})")
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
