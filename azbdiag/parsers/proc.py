"""Files under /proc: /proc/<pid>/cmdline and /proc/<pid>/stat, /proc/uptime. Text in, data
out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, List, Optional, Tuple

_STAT_HEAD = re.compile(r"\d+ \((?P<comm>.*)\) (?P<state>\S)", re.S)


def _text(data: Any) -> Optional[str]:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8", errors="replace")
    return data if isinstance(data, str) else None


# ---- /proc/<pid>/cmdline -----------------------------------------------------------------
def parse_cmdline(raw: Any) -> List[str]:
    """/proc/<pid>/cmdline: NUL-separated arguments.

    >>> parse_cmdline(b"/var/lib/waagent/x/main/safefreeze/bin/safefreeze\\x0060\\x00/data\\x00")
    ['/var/lib/waagent/x/main/safefreeze/bin/safefreeze', '60', '/data']
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="replace")
    if not isinstance(raw, (bytes, bytearray)):
        return []
    return [a.decode("utf-8", errors="replace") for a in bytes(raw).split(b"\0") if a]


# ---- /proc/<pid>/stat --------------------------------------------------------------------
def parse_stat_head(text: Any) -> Optional[Tuple[str, str]]:
    """(comm, state letter) from /proc/<pid>/stat; None when it is not a stat line. The
    command name may hold spaces and parentheses.

    >>> parse_stat_head("4711 (safe (freeze)) D 1 4711 4711 0 -1 4194560")
    ('safe (freeze)', 'D')
    """
    text = _text(text)
    if text is None:
        return None
    m = _STAT_HEAD.match(text)
    return (m.group("comm"), m.group("state")) if m else None


@dataclasses.dataclass
class ProcStat:
    state: str
    start_ticks: int


def parse_proc_stat(text: Any) -> Optional[ProcStat]:
    """/proc/<pid>/stat: the state letter and the start time (clock ticks after boot).

    >>> parse_proc_stat("123 (safefreeze) D " + " ".join(["0"] * 18) + " 4200 0 0")
    ProcStat(state='D', start_ticks=4200)
    >>> parse_proc_stat("garbage") is None
    True
    """
    text = _text(text)
    if text is None or ")" not in text:
        return None
    fields = text[text.rfind(")") + 1:].split()
    # after the command: state is field 3, starttime field 22 -> indexes 0 and 19
    if len(fields) < 20 or not re.fullmatch(r"[0-9]{1,18}", fields[19]):
        return None
    return ProcStat(state=fields[0][:1], start_ticks=int(fields[19]))


# ---- /proc/uptime ------------------------------------------------------------------------
def parse_uptime(text: Any) -> Optional[float]:
    """Seconds since boot, the first number of /proc/uptime.

    >>> parse_uptime("345.6 100.0\\n"), parse_uptime("nan")
    (345.6, None)
    """
    text = _text(text)
    if text is None:
        return None
    parts = text.split()
    try:
        value = float(parts[0]) if parts else None
    except ValueError:
        return None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value
