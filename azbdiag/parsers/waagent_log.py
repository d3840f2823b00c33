"""/var/log/waagent.log: log lines in the agent's two formats, the heartbeat line and the
messages that mean extensions are not being processed. Text in, data out; nothing here
raises."""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Dict, List, Optional

from azbdiag import lazyre


@dataclasses.dataclass
class LogLine:
    """One line of /var/log/waagent.log, in either of the agent's formats."""
    number: int
    when: Optional[datetime.datetime]   # aware (UTC) for the ISO format, naive for old ones
    level: str
    thread: str
    message: str
    raw: str


_ISO_RE = lazyre.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z\s+"
    r"(VERBOSE|INFO|WARNING|WARN|ERROR)\s+(?:([A-Za-z][\w-]*)\s+)?(.*)$")
_OLD_RE = lazyre.compile(
    r"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s+"
    r"(VERBOSE|INFO|WARNING|WARN|ERROR)\s+(.*)$")


def _micro(frac: Optional[str]) -> int:
    if not frac:
        return 0
    return int((frac + "000000")[:6])


def _level(level: str) -> str:
    return "WARNING" if level.startswith("WARN") else level


def parse_log_line(line, number: int = 0) -> Optional[LogLine]:
    """One waagent.log line in either format (ISO UTC with a thread name since 2.2.46/47,
    or 'YYYY/MM/DD HH:MM:SS.f LEVEL' in local time before), or None.

    >>> ln = parse_log_line("2024-05-02T10:15:01.123456Z INFO ExtHandler ExtHandler [HEARTBEAT] "
    ...                     "Agent WALinuxAgent-2.9.1.1 is running as the goal state agent", 7)
    >>> ln.number, ln.when.isoformat(), ln.level, ln.thread, ln.message[:11]
    (7, '2024-05-02T10:15:01.123456+00:00', 'INFO', 'ExtHandler', 'ExtHandler ')
    >>> parse_log_line("2019/06/06 23:53:14.9 WARN Daemon failed").level
    'WARNING'
    """
    if not isinstance(line, str):
        return None
    s = line.rstrip("\r\n")
    m = _ISO_RE.match(s)
    try:
        if m:
            date, hh, mm, ss, frac, level, thread, msg = m.groups()
            y, mo, d = (int(x) for x in date.split("-"))
            thread = thread or ""
            when = datetime.datetime(y, mo, d, int(hh), int(mm), int(ss), _micro(frac),
                                     tzinfo=datetime.timezone.utc)
            return LogLine(number, when, _level(level), thread, msg, s)
        m = _OLD_RE.match(s)
        if m:
            y, mo, d, hh, mm, ss, frac, level, msg = m.groups()
            when = datetime.datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss),
                                     _micro(frac))
            return LogLine(number, when, _level(level), "", msg, s)
    except (ValueError, OverflowError):
        return None
    return None


def parse_log(text) -> List[LogLine]:
    """Every line of waagent.log that parse_log_line understands, with its line number.

    >>> [ln.number for ln in parse_log("garbage\\n2024-05-02T10:15:01Z ERROR Daemon x\\n")]
    [2]
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return []
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        parsed = parse_log_line(line, n)
        if parsed is not None:
            out.append(parsed)
    return out


HEARTBEAT_MARK = "[HEARTBEAT]"

# Message patterns that mean extensions (and so backups) are not being processed.
PROBLEM_PATTERNS = (
    ("goal state fetch failing", r"Error fetching the goal state|Fetching the goal state is "
                                 r"still failing|error occurred while retrieving the goal state"),
    ("WireServer unreachable", r"No route exists to 168\.63\.129\.16|WireServer is not "
                               r"responding|Protocol endpoint not found|\[Wireserver Exception\]"),
    ("HostGAPlugin errors", r"HostGAPlugin:.*(?:error|fail)"),
    ("extension processing failed", r"ProcessExtensionsGoalState failed|Non-zero exit code"),
    ("extension timeout", r"\bTimeout\(\d+\)"),
    ("noexec on /var", r"noexec"),
    ("extension processing disabled", r"extension processing is disabled"),
    ("extension handling on hold", r"Extension handling is on hold"),
    ("unsupported features", r"Unsupported features"),
    ("agent restarts", r"restarted more than|Daemon ended with exception|failed with return code"),
    ("agent disabled", r"Disabling the guest agent by sleeping forever"),
    ("firewall problems", r"not setup correctly|Unable to add firewall rules"),
)
_PROBLEMS = [(name, lazyre.compile(rx, re.IGNORECASE)) for name, rx in PROBLEM_PATTERNS]


def classify(message: str) -> Optional[str]:
    """The name of the first PROBLEM_PATTERNS entry a log message matches, or None.

    >>> classify("No route exists to 168.63.129.16"), classify("Agent is running")
    ('WireServer unreachable', None)
    """
    for name, rx in _PROBLEMS:
        if rx.search(message or ""):
            return name
    return None


def heartbeat_counters(message: str) -> Dict[str, str]:
    """The 'Key: value' pairs in a heartbeat line's [DEBUG ...] part (UpdateGSErrors ...).

    >>> heartbeat_counters("[HEARTBEAT] Agent is running [DEBUG HeartbeatCounter: 5;"
    ...                    "HeartbeatId: 0E3A;DroppedPackets: 0;UpdateGSErrors: 2]")["UpdateGSErrors"]
    '2'
    """
    m = re.search(r"\[DEBUG (.*?)\]", message or "")
    out = {}
    if m:
        for part in m.group(1).split(";"):
            k, sep, v = part.partition(":")
            if sep and k.strip():
                out[k.strip()] = v.strip()
    return out
