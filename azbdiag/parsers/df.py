"""`df -P -k PATH` and `df -P -i PATH` output. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass
class DfRow:
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
        percent = int(pct) if pct.isdigit() else None
        row = DfRow(" ".join(fields[:-5]), total, used, free, percent, fields[-1])
    return row
