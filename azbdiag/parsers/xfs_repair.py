"""`xfs_repair -n DEV`: its exit code and output. Text in, data out; nothing here raises."""

from __future__ import annotations

from typing import Optional


def xfs_repair_verdict(rc: Optional[int], stdout: str, stderr: str) -> str:
    """clean, corrupt, dirty_log, mounted (it refused to look) or unknown, from the exit code
    and output of `xfs_repair -n`.

    >>> xfs_repair_verdict(2, "", "ERROR: The filesystem has valuable metadata changes in a log")
    'dirty_log'
    >>> xfs_repair_verdict(1, "", "xfs_repair: /dev/sdb1 contains a mounted and writable filesystem")
    'mounted'
    """
    text = f"{stdout or ''}\n{stderr or ''}"
    if "contains a mounted" in text or "couldn't initialize XFS library" in text:
        return "mounted"
    if rc == 0:
        return "clean"
    if rc == 2 or "valuable metadata changes in a log" in text:
        return "dirty_log"
    if rc == 1:
        return "corrupt"
    return "unknown"
