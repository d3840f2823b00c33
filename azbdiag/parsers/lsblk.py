"""`lsblk -b -n -P -o NAME,TYPE,FSTYPE,MOUNTPOINT` output. Text in, data out; nothing here
raises."""

from __future__ import annotations

import re
from typing import Dict, List

from azbdiag import lazyre

_PAIR = lazyre.compile(r'([A-Z:-]+)="((?:[^"\\]|\\.)*)"')


def _unhex(value: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def parse_lsblk_pairs(text: str) -> List[Dict[str, str]]:
    """`lsblk -P` output: one dict per line of KEY="value" pairs (hex escapes undone).

    >>> rows = parse_lsblk_pairs('NAME="sda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/"\\n'
    ...                          'NAME="sdb1" TYPE="part" FSTYPE="xfs" MOUNTPOINT="/my\\\\x20data"\\n')
    >>> rows[0]
    {'NAME': 'sda1', 'TYPE': 'part', 'FSTYPE': 'ext4', 'MOUNTPOINT': '/'}
    >>> rows[1]["MOUNTPOINT"]
    '/my data'
    """
    rows: List[Dict[str, str]] = []
    for line in (text or "").splitlines():
        row = {k: _unhex(v) for k, v in _PAIR.findall(line)}
        if row:
            rows.append(row)
    return rows
