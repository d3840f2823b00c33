"""The Azure Linux guest agent (WALinuxAgent): waagent.conf, `waagent --version` output,
waagent.log lines, the auto-updated agent directories and their error.json, and version
comparison the way the agent orders versions. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from typing import Dict, List, Optional, Tuple

MINIMUM_VERSION = "2.2.53.1"

# ---- versions ----------------------------------------------------------------------------

_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}
_VERSION_RE = re.compile(r"(\d+(?:\.\d+)*)(?:[.-]?(alpha|beta|rc)\.?(\d*))?", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Version:
    """A dotted version ordered like the agent orders them: numeric components, missing
    trailing parts are zero, and alpha < beta < rc < the release itself."""

    parts: Tuple[int, ...]
    pre: Optional[Tuple[int, int]] = None   # (rank, number) for alpha/beta/rc builds
    text: str = ""

    def key(self):
        parts = list(self.parts)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        pre = self.pre if self.pre is not None else (99, 0)
        return (tuple(parts), pre)

    def __lt__(self, other):
        return self.key() < other.key()

    def __le__(self, other):
        return self.key() <= other.key()

    def __gt__(self, other):
        return self.key() > other.key()

    def __ge__(self, other):
        return self.key() >= other.key()

    def __eq__(self, other):
        return isinstance(other, Version) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __str__(self):
        return self.text or ".".join(str(p) for p in self.parts)


def parse_version(text) -> Optional[Version]:
    """The first dotted version in `text` ('2.9.1.1', 'WALinuxAgent-2.2.45', '2.1.5.rc7'),
    or None. Distro package suffixes ('-0ubuntu5', '1:' epochs) are ignored."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if ":" in s.split("-", 1)[0]:            # a Debian epoch, "1:2.9.1.1-1"
        s = s.split(":", 1)[1]
    m = _VERSION_RE.search(s)
    if not m:
        return None
    try:
        parts = tuple(int(p) for p in m.group(1).split(".")[:8])
    except ValueError:
        return None
    if any(p > 10**9 for p in parts):
        return None
    pre = None
    if m.group(2):
        pre = (_PRE_RANK[m.group(2).lower()], int(m.group(3)) if m.group(3) else 0)
    text_out = ".".join(str(p) for p in parts)
    if m.group(2):
        text_out += "." + m.group(2).lower() + (m.group(3) or "")
    return Version(parts, pre, text_out)


def below_minimum(version: Optional[Version], minimum: str = MINIMUM_VERSION) -> bool:
    floor = parse_version(minimum)
    return version is not None and floor is not None and version < floor


# ---- waagent.conf ------------------------------------------------------------------------

@dataclasses.dataclass
class ConfEntry:
    key: str
    value: Optional[str]       # None: the literal None, which leaves the key at its default
    line: int                  # 1-based line number
    raw: str


@dataclasses.dataclass
class WaagentConf:
    entries: Dict[str, ConfEntry]            # the last occurrence of each key wins
    lines: List[str]
    duplicates: Dict[str, List[int]]         # key -> every line it appears on (when > 1)
    ignored_lines: List[int]                 # lines the agent skips that look like settings
    empty: bool = False

    def get(self, key: str) -> Optional[str]:
        e = self.entries.get(key)
        return e.value if e else None

    def line_of(self, key: str) -> Optional[int]:
        e = self.entries.get(key)
        return e.line if e else None

    def switch(self, key: str, default: bool) -> Tuple[bool, str]:
        """The effective value of a y/n setting and how it came about: 'set', 'default'
        (absent or None) or 'invalid' (anything but y/n, which the agent ignores silently)."""
        value = self.get(key)
        if value is None:
            return default, "default"
        low = value.lower()
        if low == "y":
            return True, "set"
        if low == "n":
            return False, "set"
        return default, "invalid"

    def integer(self, key: str, default: int) -> Tuple[int, str]:
        value = self.get(key)
        if value is None:
            return default, "default"
        try:
            return int(value), "set"
        except ValueError:
            return default, "invalid"

    def with_value(self, key: str, value: str) -> str:
        """The file's text with `key` set to `value`: the line that counts is rewritten in
        place (keeping any comment after the value), or a line is appended; everything else
        stays byte for byte."""
        lines = self.lines[:]
        entry = self.entries.get(key)
        if entry is not None:
            raw = lines[entry.line - 1]
            body = raw.rstrip("\r\n")
            nl = raw[len(body):]
            left, _, right = body.partition("=")
            comment = ""
            if "#" in right:
                comment = " #" + right.split("#", 1)[1]
            lines[entry.line - 1] = f"{left.rstrip()}={value}{comment}{nl}"
            return "".join(lines)
        text = "".join(lines)
        if text and not text.endswith("\n"):
            text += "\n"
        return text + f"{key}={value}\n"


def parse_conf(text) -> WaagentConf:
    """Read waagent.conf as the agent does: a line is skipped when it starts with '#' in
    column 1 or has no '='; the key is the text before the first '=' stripped; the value is
    cut at the first '#' and stripped of spaces and double quotes; 'None' means unset; keys
    are case-sensitive and the last occurrence wins."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = ""
    lines = text.splitlines(keepends=True)
    entries: Dict[str, ConfEntry] = {}
    seen: Dict[str, List[int]] = {}
    ignored: List[int] = []
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            continue
        if "=" not in line:
            if re.match(r"^\s*[A-Za-z][\w.]*\s*:", line):
                ignored.append(number)       # "Key: value" is not a setting for the agent
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not key:
            continue
        value = value.split("#", 1)[0].strip().strip('"').strip()
        entries[key] = ConfEntry(key, None if value == "None" else value, number, line)
        seen.setdefault(key, []).append(number)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    return WaagentConf(entries, lines, dups, ignored, empty=not text.strip())


# ---- `waagent --version` -----------------------------------------------------------------

@dataclasses.dataclass
class VersionOutput:
    installed: Optional[Version] = None
    goal_state: Optional[Version] = None
    python: str = ""
    distro: str = ""
    import_error: str = ""      # the agent's CLI could not import its own module


def parse_version_output(text) -> VersionOutput:
    """`waagent -version`: 'WALinuxAgent-<v> running on <distro> <ver>', 'Python: x.y.z',
    'Goal state agent: <v>'. Old agents print only the first line; a traceback means the
    CLI's interpreter cannot import azurelinuxagent."""
    out = VersionOutput()
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^WALinuxAgent\s*[-\u2013]\s*(\S+)(?:\s+running on\s+(.*))?$", s)
        if m and out.installed is None:
            out.installed = parse_version(m.group(1))
            out.distro = (m.group(2) or "").strip()
            continue
        m = re.match(r"^Goal state agent\s*[:\u2013-]\s*(\S+)", s, re.IGNORECASE)
        if m:
            out.goal_state = parse_version(m.group(1))
            continue
        m = re.match(r"^Python\s*:\s*(\S+)", s)
        if m:
            out.python = m.group(1)
            continue
        if re.search(r"(ImportError|ModuleNotFoundError).*azurelinuxagent", s):
            out.import_error = s
    return out


# ---- waagent.log -------------------------------------------------------------------------

@dataclasses.dataclass
class LogLine:
    number: int
    when: Optional[datetime.datetime]   # aware (UTC) for the ISO format, naive for old ones
    level: str
    thread: str
    message: str
    raw: str


_ISO_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z\s+"
    r"(VERBOSE|INFO|WARNING|WARN|ERROR)\s+(?:([A-Za-z][\w-]*)\s+)?(.*)$")
_OLD_RE = re.compile(
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
    or 'YYYY/MM/DD HH:MM:SS.f LEVEL' in local time before), or None."""
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
_PROBLEMS = [(name, re.compile(rx, re.IGNORECASE)) for name, rx in PROBLEM_PATTERNS]


def classify(message: str) -> Optional[str]:
    for name, rx in _PROBLEMS:
        if rx.search(message or ""):
            return name
    return None


def heartbeat_counters(message: str) -> Dict[str, str]:
    """The 'Key: value' pairs in a heartbeat line's [DEBUG ...] part (UpdateGSErrors ...)."""
    m = re.search(r"\[DEBUG (.*?)\]", message or "")
    out = {}
    if m:
        for part in m.group(1).split(";"):
            k, sep, v = part.partition(":")
            if sep and k.strip():
                out[k.strip()] = v.strip()
    return out


# ---- /var/lib/waagent/WALinuxAgent-* -----------------------------------------------------

def agent_dir_version(name) -> Optional[Version]:
    """'WALinuxAgent-2.9.1.1' -> 2.9.1.1; zips and other names -> None."""
    if not isinstance(name, str):
        return None
    m = re.match(r"^WALinuxAgent-(\d+(?:\.\d+)+)$", name)
    return parse_version(m.group(1)) if m else None


@dataclasses.dataclass
class AgentError:
    blacklisted: bool
    reason: str = ""
    failure_count: int = 0
    was_fatal: bool = False
    readable: bool = True


def parse_error_json(text) -> AgentError:
    """An agent directory's error.json: the agent stops using that version when `was_fatal`
    is true or `failure_count` reached 3."""
    try:
        data = json.loads(text) if isinstance(text, (str, bytes)) else None
    except (ValueError, RecursionError):
        return AgentError(False, "error.json is not valid JSON", readable=False)
    if not isinstance(data, dict):
        return AgentError(False, "error.json holds no object", readable=False)
    count = data.get("failure_count", 0)
    try:
        count = int(count)
    except (TypeError, ValueError, OverflowError):
        count = 0
    fatal = data.get("was_fatal") is True or str(data.get("was_fatal")).lower() == "true"
    reason = data.get("reason")
    reason = reason if isinstance(reason, str) else ""
    return AgentError(fatal or count >= 3, reason[:300], count, fatal)


def version_py_version(text) -> Optional[Version]:
    """AGENT_VERSION from azurelinuxagent/common/version.py (for offline roots)."""
    if not isinstance(text, str):
        return None
    m = re.search(r"^AGENT_VERSION\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return parse_version(m.group(1)) if m else None


# ---- `df -P` output for the agent's directories -------------------------------------------

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
    None when the output has no such line. A '-' percentage (no inodes counted) is None."""
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
