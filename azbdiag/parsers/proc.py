"""/proc/<pid> files: text in, data out, never raises."""

from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

_STAT_HEAD = re.compile(r"\d+ \((?P<comm>.*)\) (?P<state>\S)", re.S)


def parse_cmdline(raw: Any) -> List[str]:
    """/proc/<pid>/cmdline: NUL-separated arguments."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="replace")
    if not isinstance(raw, (bytes, bytearray)):
        return []
    return [a.decode("utf-8", errors="replace") for a in bytes(raw).split(b"\0") if a]


def parse_stat_head(text: Any) -> Optional[Tuple[str, str]]:
    """(comm, state letter) from /proc/<pid>/stat; None when it is not a stat line."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    m = _STAT_HEAD.match(text)
    return (m.group("comm"), m.group("state")) if m else None
