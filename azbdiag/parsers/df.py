"""`df -P -k PATH` and `df -P -i PATH` output. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass
class DfRow:
    """One file system's row of `df -P -k` (sizes in KiB) or `df -P -i` (counts of inodes), as
    printed or as computed from os.statvfs."""
    filesystem: str
    total: int
    used: int
    free: int
    percent: Optional[int]
    mount_point: str


def parse_df(text) -> Optional[DfRow]:
    """The last data line of `df -P -k PATH` (sizes in KiB) or `df -P -i PATH` (inodes);
    None when the output has no such line. A '-' percentage (no inodes counted) is None.

    >>> parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\\n"
    ...          "/dev/sda1 30298176 9128536 21153256 31% /\\n")
    DfRow(filesystem='/dev/sda1', total=30298176, used=9128536, free=21153256, percent=31, mount_point='/')
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    row = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        try:
            total, used, free = int(fields[-5]), int(fields[-4]), int(fields[-3])
        except ValueError:
            continue
        pct = fields[-2].rstrip("%")
        percent = int(pct) if pct.isascii() and pct.isdigit() else None
        row = DfRow(" ".join(fields[:-5]), total, used, free, percent, fields[-1])
    return row


def _percent(used: int, avail: int) -> Optional[int]:
    """df's Use%: used / (used + available), rounded up; None when both are 0."""
    whole = used + avail
    if whole <= 0:
        return None
    return -(-used * 100 // whole)


def statvfs_rows(st, filesystem: str, mount_point: str):
    """The rows `df -P -k` and `df -P -i` would print, from an os.statvfs result (as GNU df
    computes them: KiB of f_frsize blocks, available = f_bavail, Use% rounded up). The inode
    row is None when the file system counts no inodes (btrfs, vfat: df prints '-').

    >>> import collections
    >>> S = collections.namedtuple("S", "f_frsize f_blocks f_bfree f_bavail f_files f_ffree")
    >>> space, inodes = statvfs_rows(S(4096, 1000, 600, 500, 200, 150), "/dev/sda1", "/")
    >>> space
    DfRow(filesystem='/dev/sda1', total=4000, used=1600, free=2000, percent=45, mount_point='/')
    >>> inodes
    DfRow(filesystem='/dev/sda1', total=200, used=50, free=150, percent=25, mount_point='/')
    """
    kib = max(int(st.f_frsize), 1)
    total = st.f_blocks * kib // 1024
    used = (st.f_blocks - st.f_bfree) * kib // 1024
    free = st.f_bavail * kib // 1024
    space = DfRow(filesystem, total, used, free, _percent(used, free), mount_point)
    inodes = None
    if st.f_files:
        iused = st.f_files - st.f_ffree
        inodes = DfRow(filesystem, st.f_files, iused, st.f_ffree,
                       -(-iused * 100 // st.f_files), mount_point)
    return space, inodes
