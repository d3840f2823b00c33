"""The names in a log directory: which files are rotated copies of a log, and in which order.
Text in (the directory's names), data out; nothing here raises.

The backup extension never rotates its extension.log (VMBackup at b7eecd4b has no rotation
code, and the agent's logrotate rule covers /var/log/waagent.log only), so rotated copies
come from a site's own logrotate rule. logrotate names them `<log>.1`, `<log>.2.gz` ...
(1 newest), or with `dateext` `<log>-20260110[.gz]` or `<log>-2026-01-10-1768000000[.gz]`;
`compress` adds `.gz` by default, `.xz` or `.bz2` with another compresscmd.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, List, Optional, Tuple

COMPRESSIONS = {".gz": "gzip", ".xz": "xz", ".bz2": "bzip2"}
MAX_NAMES = 4096


@dataclasses.dataclass
class RotatedLog:
    """A log file or one of its rotated copies, as named in the log's directory."""
    name: str
    compression: Optional[str]     # None, gzip, xz, bzip2
    sort_key: Tuple                 # older files sort first; the live log last


def _split_compression(name: str) -> Tuple[str, Optional[str]]:
    for suffix, kind in COMPRESSIONS.items():
        if name.endswith(suffix):
            return name[:-len(suffix)], kind
    return name, None


def parse_rotated_names(base: str, names: Iterable[str]) -> List[RotatedLog]:
    """The log `base` and its rotated copies among `names`, oldest first, the live log last.

    >>> [(r.name, r.compression) for r in parse_rotated_names("extension.log", [
    ...     "shell.log", "extension.log", "extension.log.1", "extension.log.2.gz",
    ...     "extension.log-20260101.gz", "extension.log.1.tmp", "extension.log.10.gz"])]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('extension.log-20260101.gz', 'gzip'), ('extension.log.10.gz', 'gzip'),
     ('extension.log.2.gz', 'gzip'), ('extension.log.1', None), ('extension.log', None)]
    """
    found: List[RotatedLog] = []
    if not isinstance(base, str) or not base:
        return found
    for name in list(names or [])[:MAX_NAMES]:
        if not isinstance(name, str):
            continue
        if name == base:
            found.append(RotatedLog(name, None, (3,)))
            continue
        stem, compression = _split_compression(name)
        if not stem.startswith(base) or len(stem) == len(base):
            continue
        tail = stem[len(base):]
        number = re.fullmatch(r"\.([1-9][0-9]{0,5})", tail)
        dated = re.fullmatch(r"-(\d{4})-?(\d{2})-?(\d{2})(?:-(\d{1,12}))?", tail)
        if number:
            # one directory holds one scheme in practice; mixed, dated copies sort first
            found.append(RotatedLog(name, compression, (2, -int(number.group(1)))))
        elif dated:
            key = tuple(int(g or 0) for g in dated.groups())
            found.append(RotatedLog(name, compression, (1,) + key))
    return sorted(found, key=lambda r: r.sort_key)
