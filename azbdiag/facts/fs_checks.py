"""Is a file system clean? The read-only checks per file system type, shared by the live rules
(freeze.fs_state) and the rescue ones (freeze.rescue_fs_state, freeze.disk_fs_state).

Mounted (live, or under --root on a rescue VM): ext2/3/4 from the superblock (`tune2fs -l`,
which reads it while mounted); XFS, which keeps no clean flag, from the kernel log since its
last mount and `xfs_repair -n` only when it is mounted read-only (it refuses a writable mount);
btrfs from its device error counters. Not mounted (--disk): `dumpe2fs -h` and `e2fsck -f -n`,
`xfs_repair -n`, `btrfs check --readonly`: each reads and never writes.

Each check returns (verdict, detail): "bad" (not clean), "ok", "unknown" (could not tell), or
"suspect" (not clean in a way the next mount settles: a journal or log still to replay).
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

from azbdiag.parsers.btrfs_check import btrfs_check_verdict
from azbdiag.parsers.btrfs_stats import btrfs_errors, parse_btrfs_stats
from azbdiag.parsers.e2fsck import e2fsck_verdict
from azbdiag.parsers.kernel_log import KernelLine, errors_since_mount
from azbdiag.parsers.tune2fs import ext_state
from azbdiag.parsers.xfs_repair import xfs_repair_findings, xfs_repair_verdict

EXT_TYPES = ("ext2", "ext3", "ext4")
# A full read-only check reads all metadata: minutes on a large disk.
OFFLINE_CHECK_TIMEOUT = 900


def _last_line(res) -> str:
    lines = [ln for ln in (res.stderr or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else res.describe()


def _e2fsprogs_reason(res) -> str:
    r"""Why an e2fsprogs tool failed: its own "PROGRAM: <error> while trying to open DEV" line,
    not the generic "Couldn't find valid filesystem superblock." it prints after it.

    >>> from azbdiag.runner import CommandResult
    >>> _e2fsprogs_reason(CommandResult(["tune2fs", "-l", "/dev/vda"], 1, "", "tune2fs: "
    ...     "Operation not permitted while trying to open /dev/vda\nCouldn't find valid "
    ...     "filesystem superblock.\n"))
    'tune2fs: Operation not permitted while trying to open /dev/vda'
    """
    program = os.path.basename(res.argv[0])
    for line in (res.stderr or "").splitlines():
        if line.startswith(f"{program}: "):
            return line.strip()
    return _last_line(res)


def mounted_fs_state(host, device: str, kname: str, fstype: str, mount_point: str,
                     super_options: Sequence[str],
                     klog: Optional[List[KernelLine]]) -> Tuple[str, str]:
    """The state of a mounted file system. `klog`: the kernel log of the machine it is mounted
    on (None when unreadable); `mount_point`: a real path on that machine."""
    current, _ = errors_since_mount(klog or [], kname)
    if fstype in EXT_TYPES:
        res = host.run(["tune2fs", "-l", device], timeout=15)
        st = ext_state(res.stdout) if res.ok else None
        if st is None:
            return "unknown", f"tune2fs -l {device}: {_e2fsprogs_reason(res)}"
        if st.needs_fsck(mounted=True):
            return "bad", f"{device}: {st.describe()}"
        if current:
            return "bad", f"{device}: kernel reported errors since it was mounted: {current[0]}"
        return "ok", f"{device}: {st.state}"
    if fstype == "xfs":
        if current:
            return "bad", f"{device}: kernel reported errors since it was mounted: {current[0]}"
        if "ro" in super_options:
            res = host.run(["xfs_repair", "-n", device], timeout=120)
            verdict = xfs_repair_verdict(res.rc, res.stdout, res.stderr)
            if verdict in ("corrupt", "dirty_log"):
                return "bad", f"{device}: xfs_repair -n says {verdict.replace('_', ' ')}"
            if verdict == "clean":
                return "ok", f"{device}: xfs_repair -n found nothing"
        if klog is None:
            return "unknown", f"{device}: XFS has no clean flag and the kernel log is unreadable"
        return "ok", f"{device}: no XFS errors in the kernel log since it was mounted"
    if fstype == "btrfs":
        res = host.run(["btrfs", "device", "stats", mount_point], timeout=15)
        errs = btrfs_errors(parse_btrfs_stats(res.stdout)) if res.ok else []
        if errs or current:
            return "bad", f"{mount_point}: " + "; ".join(errs + current[:1])
        return ("ok" if res.ok else "unknown"), f"{mount_point}: btrfs device stats " + (
            "all zero" if res.ok else res.describe())
    return "ok", f"{mount_point}: {fstype} is not frozen by the backup"


def unmounted_fs_state(host, device: str, fstype: str) -> Tuple[str, str]:
    """The state of a file system that is not mounted anywhere, by its read-only check."""
    if fstype in EXT_TYPES:
        head = host.run(["dumpe2fs", "-h", device], timeout=30)
        st = ext_state(head.stdout) if head.ok else None
        res = host.run(["e2fsck", "-f", "-n", device], timeout=OFFLINE_CHECK_TIMEOUT)
        fsck = e2fsck_verdict(res.rc, res.stdout, res.stderr) if not res.not_found else None
        if st is not None and st.needs_fsck(mounted=False):
            extra = f"; {fsck.detail}" if fsck is not None and fsck.verdict == "errors" else ""
            return "bad", f"{device}: {st.describe()}{extra}"
        if fsck is None:
            return "unknown", f"{device}: e2fsck is not installed on this machine"
        if fsck.verdict == "errors" and fsck.journal_pending:
            return "suspect", (f"{device}: its journal has not been replayed (the VM stopped "
                               f"without unmounting it), so e2fsck -n sees it as it was before: "
                               f"{fsck.detail}")
        if fsck.verdict == "errors":
            return "bad", f"{device}: {fsck.detail}"
        if fsck.verdict == "unknown":
            return "unknown", f"{device}: e2fsck -f -n: {fsck.detail}"
        state = st.state if st is not None else "superblock unread"
        return "ok", f"{device}: {state}; e2fsck -f -n found no problem"
    if fstype == "xfs":
        res = host.run(["xfs_repair", "-n", device], timeout=OFFLINE_CHECK_TIMEOUT)
        verdict = xfs_repair_verdict(res.rc, res.stdout, res.stderr)
        if res.not_found:
            return "unknown", f"{device}: xfs_repair is not installed on this machine"
        if verdict == "corrupt":
            found = xfs_repair_findings(res.stdout, res.stderr)
            return "bad", f"{device}: xfs_repair -n found problems" + (
                f": {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
                if found else "")
        if verdict == "dirty_log":
            return "suspect", (f"{device}: its log holds changes not yet written (the VM stopped "
                               f"without unmounting it); mounting it once replays them, and "
                               f"only then can xfs_repair -n check it")
        if verdict == "clean":
            return "ok", f"{device}: xfs_repair -n found nothing"
        return "unknown", f"{device}: xfs_repair -n: {_last_line(res)}"
    if fstype == "btrfs":
        res = host.run(["btrfs", "check", "--readonly", device], timeout=OFFLINE_CHECK_TIMEOUT)
        if res.not_found:
            return "unknown", f"{device}: btrfs (btrfs-progs) is not installed on this machine"
        verdict, errors = btrfs_check_verdict(res.rc, res.stdout, res.stderr)
        if verdict == "corrupt":
            return "bad", f"{device}: btrfs check --readonly: " + (
                "; ".join(errors[:2]) or f"exit {res.rc}")
        if verdict == "clean":
            return "ok", f"{device}: btrfs check --readonly found no error"
        return "unknown", f"{device}: btrfs check --readonly: " + (
            errors[0] if errors else _last_line(res))
    return "ok", f"{device}: {fstype} is not frozen by the backup"
