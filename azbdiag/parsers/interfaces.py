"""ifupdown's /etc/network/interfaces and the files it sources: iface stanzas, auto lines and
source directives, and how an interface gets its IPv4 address. Text in, data out; nothing
here raises."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from azbdiag.parsers.ipv4 import ipv4_addresses


@dataclasses.dataclass
class Iface:
    """One `iface NAME FAMILY METHOD` stanza of ifupdown's interfaces file, with its options."""
    name: str
    family: str
    method: str
    line: int
    options: Dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Interfaces:
    """An ifupdown interfaces file: its iface stanzas, auto lines and source directives."""
    ifaces: List[Iface] = dataclasses.field(default_factory=list)
    auto: List[str] = dataclasses.field(default_factory=list)
    sources: List[str] = dataclasses.field(default_factory=list)        # glob patterns
    source_dirs: List[str] = dataclasses.field(default_factory=list)


def parse_interfaces(text: str) -> Interfaces:
    """The stanzas of an interfaces file (continuation lines joined; options of an iface are
    the indented lines after it).

    >>> parsed = parse_interfaces("source /etc/network/interfaces.d/*\\nauto eth0\\n"
    ...                           "iface eth0 inet static\\n    address 10.0.0.5/24\\n")
    >>> parsed.sources, parsed.auto
    (['/etc/network/interfaces.d/*'], ['eth0'])
    >>> parsed.ifaces
    [Iface(name='eth0', family='inet', method='static', line=3, options={'address': '10.0.0.5/24'})]
    """
    out = Interfaces()
    if not isinstance(text, str):
        return out
    current: Optional[Iface] = None
    logical = []
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append((number, pending + raw))
        pending = ""
    if pending:
        logical.append((len(text.splitlines()), pending))
    for number, raw in logical:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        head = words[0]
        if head == "iface" and len(words) >= 4:
            current = Iface(words[1], words[2], words[3], number)
            out.ifaces.append(current)
        elif head in ("auto", "allow-auto", "allow-hotplug") or head.startswith("allow-"):
            out.auto += words[1:]
            current = None
        elif head == "source" and len(words) >= 2:
            out.sources += words[1:]
            current = None
        elif head == "source-directory" and len(words) >= 2:
            out.source_dirs += words[1:]
            current = None
        elif head in ("mapping", "iface", "rename", "no-auto-down", "no-scripts"):
            current = None
        elif current is not None and len(words) >= 1:
            current.options[head] = " ".join(words[1:])
    return out


def ifupdown_method(iface: Iface) -> Tuple[str, List[str], str]:
    """(dhcp | static | unknown, IPv4 addresses, detail) of one iface stanza.

    >>> ifupdown_method(parse_interfaces("iface eth0 inet dhcp\\n").ifaces[0])
    ('dhcp', [], 'iface eth0 inet dhcp')
    >>> ifupdown_method(Iface("eth0", "inet", "static", 2, {"address": "10.0.0.5/24"}))
    ('static', ['10.0.0.5/24'], 'iface eth0 inet static, address 10.0.0.5/24')
    """
    method = iface.method.lower()
    addr = iface.options.get("address", "")
    addresses = ipv4_addresses([addr.strip()]) if addr else []
    if method in ("dhcp", "bootp"):
        return "dhcp", addresses, f"iface {iface.name} inet {iface.method}"
    if method == "static":
        return "static", addresses, f"iface {iface.name} inet static" + (
            f", address {addr}" if addr else "")
    return "unknown", addresses, f"iface {iface.name} inet {iface.method}"
