"""/etc/waagent.conf (or /usr/share/oem/waagent.conf ...), read the way the agent reads it,
and the line edit `fix --agent` makes. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

DEFAULT_RESOURCE_MOUNT = "/mnt/resource"

@dataclasses.dataclass
class ConfEntry:
    """One key=value setting of waagent.conf, where it is and how it is written."""
    key: str
    value: Optional[str]       # None: the literal None, which leaves the key at its default
    line: int                  # 1-based line number
    raw: str


@dataclasses.dataclass
class WaagentConf:
    """waagent.conf as the agent reads it: the settings that count, and the lines it ignores or
    reads differently from how they look."""
    entries: Dict[str, ConfEntry]            # the last occurrence of each key wins
    lines: List[str]
    duplicates: Dict[str, List[int]]         # key -> every line it appears on (when > 1)
    ignored_lines: List[int]                 # lines the agent skips that look like settings
    empty: bool = False                      # zero bytes: the agent refuses to start
    decode_error: Optional[str] = None       # not UTF-8: the agent dies at start
    # Lines holding a carriage return or form feed before their end: the agent splits on
    # "\n" only, so what follows stays in that line's value. (line, the line's text)
    odd_lines: List[Tuple[int, str]] = dataclasses.field(default_factory=list)

    def get(self, key: str) -> Optional[str]:
        """The value that counts (None: absent or the literal None)."""
        e = self.entries.get(key)
        return e.value if e else None

    def line_of(self, key: str) -> Optional[int]:
        """The line that counts for `key`, or None."""
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
        """The effective value of a number setting and how it came about (as switch())."""
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


def _split_lines(text: str) -> List[str]:
    """Split on "\n" only, keeping it (as the agent does; a CR or form feed stays inside)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _first_bad_byte(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return f"byte 0x{raw[exc.start]:02x} at offset {exc.start} (line {line}) is not UTF-8"
    return ""


def parse_conf(text) -> WaagentConf:
    """Read waagent.conf as the agent does (common/conf.py ConfigurationProvider.load): bytes
    are decoded as strict UTF-8 (common/utils/fileutil.py read_file; a bad byte makes the
    agent die at start); lines are split on "\n" only; a line is skipped when it starts with
    '#' or has no '='; the key is the text before the first '=' stripped; the value is cut at
    the first '#' and stripped of spaces and double quotes; 'None' means unset; keys are
    case-sensitive and the last occurrence wins. Only a zero-byte file is empty.

    >>> conf = parse_conf("# Extensions.Enabled=y\\nExtensions.Enabled=n  # off\\n"
    ...                   "AutoUpdate.Enabled=yes\\nHttpProxy.Host=None\\nLogs.Verbose: y\\n")
    >>> conf.get("Extensions.Enabled"), conf.line_of("Extensions.Enabled")
    ('n', 2)
    >>> conf.switch("Extensions.Enabled", True), conf.switch("AutoUpdate.Enabled", True)
    ((False, 'set'), (True, 'invalid'))
    >>> conf.get("HttpProxy.Host") is None, conf.ignored_lines
    (True, [5])
    >>> conf.with_value("Extensions.Enabled", "y").splitlines()[1]
    'Extensions.Enabled=y # off'
    >>> odd = parse_conf(b"Logs.Verbose=n\\rExtensions.Enabled=n\\n")
    >>> odd.get("Extensions.Enabled"), odd.get("Logs.Verbose"), odd.odd_lines[0][0]
    (None, 'n\\rExtensions.Enabled=n', 1)
    >>> parse_conf(b"# Ge\\xe4ndert\\nX=1\\n").decode_error
    'byte 0xe4 at offset 4 (line 1) is not UTF-8'
    >>> parse_conf(b"").empty, parse_conf(b" \\n").empty
    (True, False)
    """
    decode_error = None
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
        decode_error = _first_bad_byte(raw) or None
        text = raw.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = ""
    lines = _split_lines(text)
    entries: Dict[str, ConfEntry] = {}
    seen: Dict[str, List[int]] = {}
    ignored: List[int] = []
    odd: List[Tuple[int, str]] = []
    for number, raw_line in enumerate(lines, 1):
        line = raw_line[:-1] if raw_line.endswith("\n") else raw_line
        shown = line.rstrip("\r")
        if "\r" in shown or "\f" in shown:
            odd.append((number, shown))
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
        value = value.split("#", 1)[0].strip('" ').strip()
        entries[key] = ConfEntry(key, None if value == "None" else value, number, shown)
        seen.setdefault(key, []).append(number)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    return WaagentConf(entries, lines, dups, ignored, empty=not text,
                       decode_error=decode_error, odd_lines=odd)


def resource_disk_mount_point(conf) -> str:
    """ResourceDisk.MountPoint read as the agent reads it (default /mnt/resource); `conf` is
    waagent.conf's text or a parsed WaagentConf.

    >>> resource_disk_mount_point("ResourceDisk.MountPoint=/mnt/\\n"), resource_disk_mount_point(None)
    ('/mnt', '/mnt/resource')
    """
    if not isinstance(conf, WaagentConf):
        conf = parse_conf(conf or "")
    value = conf.get("ResourceDisk.MountPoint")
    return (value.rstrip("/") or "/") if value else DEFAULT_RESOURCE_MOUNT
