"""File system state: tune2fs -l, xfs_repair -n, btrfs device stats, kernel log lines, the
backup extension's freeze log lines, and /proc/locks. Text in, data out; never raises."""

from __future__ import annotations

import dataclasses
from typing import List

# ---- /proc/locks -------------------------------------------------------------------------

@dataclasses.dataclass
class FileLock:
    kind: str          # POSIX, FLOCK, OFDLCK, ...
    access: str        # READ / WRITE
    pid: int
    major: int
    minor: int
    inode: int


def parse_proc_locks(text: str) -> List[FileLock]:
    """Held locks (waiters, marked '->', are left out). The device is major:minor in hex."""
    locks: List[FileLock] = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 6 or "->" in fields[:2]:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            locks.append(FileLock(fields[1], fields[3], pid, int(major, 16), int(minor, 16),
                                  int(inode)))
        except ValueError:
            continue
    return locks
