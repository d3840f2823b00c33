"""`xfs_repair -n DEV`: its exit code and output. Text in, data out; nothing here raises."""

from __future__ import annotations

from typing import List, Optional


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


def xfs_repair_findings(stdout: str, stderr: str, limit: int = 20) -> List[str]:
    """What `xfs_repair -n` would change: its "would ..." lines and the problems they follow.

    >>> for line in xfs_repair_findings("", "Phase 3 - for each AG...\\n        - agno = 0\\n"
    ...         "imap claims a free inode 132 is in use, would correct imap and clear inode\\n"
    ...         "No modify flag set, skipping phase 5\\n"
    ...         "would have junked entry \\"f\\" in directory inode 131\\n"):
    ...     print(line)
    imap claims a free inode 132 is in use, would correct imap and clear inode
    would have junked entry "f" in directory inode 131
    """
    out: List[str] = []
    for line in f"{stdout or ''}\n{stderr or ''}".splitlines():
        line = line.strip()
        if "would" in line and not line.startswith(("No modify flag", "- ")):
            out.append(line[:300])
            if len(out) >= limit:
                break
    return out
