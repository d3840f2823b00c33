"""INI-style files as NetworkManager (keyfiles) and systemd-networkd (.network files) read
them: [section] headers, key=value lines, # and ; comments; a section may repeat. Text in,
data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple


@dataclasses.dataclass
class IniSection:
    """One [section] of a keyfile or .network file, with its key=value lines in order."""
    name: str
    line: int                               # 1-based line of the header (0: before any header)
    entries: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)

    def get(self, key: str) -> Optional[str]:
        """The last value of `key` in the section, or None."""
        found = None
        for k, v, _ in self.entries:
            if k == key:
                found = v
        return found

    def all(self, key: str) -> List[str]:
        """Every value of `key`, in order."""
        return [v for k, v, _ in self.entries if k == key]

    def line_of(self, key: str) -> Optional[int]:
        """The line of the last `key`, or None."""
        found = None
        for k, _, n in self.entries:
            if k == key:
                found = n
        return found


def parse_ini(text: str) -> List[IniSection]:
    """Sections in file order (repeated sections stay separate); lines without '=' ignored;
    entries before any header go to a section named "".

    >>> sections = parse_ini("[Match]\\nName=eth0\\n\\n[Network]\\nDHCP=ipv4\\n# DHCP=no\\n")
    >>> [(s.name, s.line, s.entries) for s in sections]
    [('Match', 1, [('Name', 'eth0', 2)]), ('Network', 4, [('DHCP', 'ipv4', 5)])]
    """
    sections: List[IniSection] = []
    if not isinstance(text, str):
        return sections
    current = IniSection("", 0)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            if current.entries or current.name:
                sections.append(current)
            current = IniSection(line[1:-1].strip(), number)
            continue
        key, sep, value = line.partition("=")
        if sep:
            current.entries.append((key.strip(), value.strip(), number))
    if current.entries or current.name:
        sections.append(current)
    return sections


def ini_section(sections: List[IniSection], name: str) -> Optional[IniSection]:
    """Every section called `name` merged into one (None when there is none).

    >>> ini_section(parse_ini("[ipv4]\\nmethod=manual\\n[ipv4]\\nmethod=auto\\n"), "ipv4").get("method")
    'auto'
    """
    found = [s for s in sections if s.name == name]
    if not found:
        return None
    merged = IniSection(name, found[0].line)
    for s in found:
        merged.entries.extend(s.entries)
    return merged


def ini_get(sections: List[IniSection], section: str, key: str) -> Optional[str]:
    """The last value of `key` in `section`, or None.

    >>> ini_get(parse_ini("[connection]\\nid=System eth0\\n"), "connection", "id")
    'System eth0'
    """
    s = ini_section(sections, section)
    return s.get(key) if s else None
