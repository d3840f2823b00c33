"""Files under /proc: /proc/<pid>/cmdline and /proc/<pid>/stat, /proc/uptime, /proc/stat,
/proc/pressure/cpu, /proc/loadavg, /proc/meminfo and /proc/locks. Text in, data out; nothing
here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional, Tuple

from azbdiag import lazyre

_STAT_HEAD = lazyre.compile(r"\d+ \((?P<comm>.*)\) (?P<state>\S)", re.S)


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
    """A process's state letter and start time (clock ticks after boot), from /proc/<pid>/stat."""
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


# ---- /proc/stat --------------------------------------------------------------------------
def parse_cpu_line(text) -> Optional[Tuple[int, int]]:
    """(busy, total) jiffies from the 'cpu ' line of /proc/stat, or None.

    >>> parse_cpu_line("cpu  4705 356 584 3699 23 23 0 0 0 0\\ncpu0 1393280 32966 572056\\n")
    (5668, 9390)
    """
    if not isinstance(text, str):
        return None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu" and len(fields) >= 5:
            try:
                values = [int(x) for x in fields[1:11]]
            except ValueError:
                return None
            if any(v < 0 for v in values):
                return None
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            total = sum(values[:8])      # guest time is already counted in user
            return total - idle, total
    return None


def parse_cpu_count(text) -> int:
    """The number of CPUs /proc/stat lists (its cpuN lines); 0 when it lists none.

    >>> parse_cpu_count("cpu  4705 356 584 3699\\ncpu0 1393 32 572 1\\ncpu1 1 2 3 4\\nintr 1\\n")
    2
    """
    if not isinstance(text, str):
        return 0
    return sum(1 for line in text.splitlines()
               if line.startswith("cpu") and line[3:4].isdigit())


# ---- /proc/pressure/cpu, /proc/loadavg ----------------------------------------------------
def parse_pressure(text) -> Dict[str, Dict[str, float]]:
    """Pressure stall information (/proc/pressure/cpu, memory, io): per line ("some", "full"),
    the percentages of time tasks waited, averaged over 10, 60 and 300 s; {} when unreadable.

    >>> parse_pressure("some avg10=1.53 avg60=0.87 avg300=0.35 total=23434\\n"
    ...                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\\n")["some"]
    {'avg10': 1.53, 'avg60': 0.87, 'avg300': 0.35}
    """
    out: Dict[str, Dict[str, float]] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full"):
            continue
        values: Dict[str, float] = {}
        for field in rest.split():
            key, sep, value = field.partition("=")
            if sep and key in ("avg10", "avg60", "avg300"):
                try:
                    number = float(value)
                except ValueError:
                    continue
                if 0.0 <= number <= 100.0:
                    values[key] = number
        if values:
            out[kind] = values
    return out


def parse_loadavg(text) -> Optional[Tuple[float, float, float]]:
    """The 1, 5 and 15 minute load averages of /proc/loadavg, or None.

    >>> parse_loadavg("0.52 0.58 0.59 1/467 12345\\n")
    (0.52, 0.58, 0.59)
    """
    if not isinstance(text, str):
        return None
    parts = text.split()[:3]
    try:
        values = tuple(float(x) for x in parts)
    except ValueError:
        return None
    if len(values) != 3 or any(not 0.0 <= v < 1e9 for v in values):
        return None
    return values[0], values[1], values[2]


# ---- /proc/meminfo -----------------------------------------------------------------------
def parse_meminfo(text) -> Dict[str, int]:
    """kB values of /proc/meminfo by name.

    >>> parse_meminfo("MemTotal:        8129624 kB\\nMemAvailable:    6551392 kB\\nHugePages_Total: 0\\n")
    {'MemTotal': 8129624, 'MemAvailable': 6551392, 'HugePages_Total': 0}
    """
    out: Dict[str, int] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        words = rest.split()
        if sep and words and words[0].isascii() and words[0].isdigit():  # not '²'
            out[name.strip()] = int(words[0])
    return out


# ---- /proc/locks -------------------------------------------------------------------------
@dataclasses.dataclass
class FileLock:
    """One lock held on a file, from /proc/locks (the device as major and minor numbers)."""
    kind: str          # POSIX, FLOCK, OFDLCK, ...
    access: str        # READ / WRITE
    pid: int
    major: int
    minor: int
    inode: int


def parse_proc_locks(text: str) -> List[FileLock]:
    """Held locks (waiters, marked '->', are left out). The device is major:minor in hex.

    >>> parse_proc_locks("1: FLOCK  ADVISORY  WRITE 2817 08:01:1835015 0 EOF\\n"
    ...                  "1: -> FLOCK  ADVISORY  WRITE 2900 08:01:1835015 0 EOF\\n")
    [FileLock(kind='FLOCK', access='WRITE', pid=2817, major=8, minor=1, inode=1835015)]
    """
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
