"""`btrfs device stats MOUNT` output. Text in, data out; nothing here raises."""

from __future__ import annotations

from typing import Dict, List

from azbdiag import lazyre

_BTRFS_STAT = lazyre.compile(r"^\[(?P<dev>[^\]]+)\]\.(?P<key>\w+)\s+(?P<n>-?\d+)\s*$")


def parse_btrfs_stats(text: str) -> Dict[str, Dict[str, int]]:
    """device -> counter -> value from `btrfs device stats`.

    >>> parse_btrfs_stats("[/dev/sdb1].write_io_errs    0\\n[/dev/sdb1].corruption_errs  2\\n")
    {'/dev/sdb1': {'write_io_errs': 0, 'corruption_errs': 2}}
    """
    out: Dict[str, Dict[str, int]] = {}
    for line in (text or "").splitlines():
        m = _BTRFS_STAT.match(line.strip())
        if m:
            out.setdefault(m.group("dev"), {})[m.group("key")] = int(m.group("n"))
    return out


def btrfs_errors(stats: Dict[str, Dict[str, int]]) -> List[str]:
    """The counters above zero, as evidence lines.

    >>> btrfs_errors({"/dev/sdb1": {"write_io_errs": 0, "corruption_errs": 2}})
    ['/dev/sdb1: corruption_errs = 2']
    """
    return [f"{dev}: {key} = {n}" for dev, counters in sorted(stats.items())
            for key, n in sorted(counters.items()) if n > 0]
