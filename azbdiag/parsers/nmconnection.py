"""NetworkManager keyfiles (/etc/NetworkManager/system-connections/*.nmconnection and the /run
and /usr/lib equivalents): the profile's interface and IPv4 method, and the edit `fix --dhcp`
makes. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Tuple

from azbdiag.parsers.ini import ini_get, ini_section, parse_ini
from azbdiag.parsers.ipv4 import ipv4_addresses

# The sample profile the examples in the docstrings read.
_EXAMPLE = """\
[connection]
id=System eth0
type=ethernet
interface-name=eth0

[ipv4]
address1=10.0.0.5/24,10.0.0.1
method=manual
"""


@dataclasses.dataclass
class Keyfile:
    """A NetworkManager keyfile profile: the interface it applies to and its IPv4 method."""
    id: str
    type: str
    interface_name: str
    mac: str
    method: str                      # as written; "" when no [ipv4] method
    method_line: Optional[int]
    addresses: List[str]


def parse_keyfile(text: str) -> Keyfile:
    """The connection and [ipv4] settings of a keyfile.

    >>> kf = parse_keyfile(_EXAMPLE)
    >>> kf.id, kf.type, kf.interface_name, kf.method, kf.method_line, kf.addresses
    ('System eth0', 'ethernet', 'eth0', 'manual', 8, ['10.0.0.5/24'])
    """
    sections = parse_ini(text)
    ipv4 = ini_section(sections, "ipv4")
    addresses = []
    if ipv4:
        for k, v, _ in ipv4.entries:
            if re.match(r"^address(es)?\d*$", k):
                for part in v.split(";"):
                    addresses += ipv4_addresses([part.split(",")[0].strip()])
    mac = ini_get(sections, "ethernet", "mac-address") or ini_get(sections, "802-3-ethernet",
                                                                     "mac-address") or ""
    return Keyfile(
        id=ini_get(sections, "connection", "id") or "",
        type=ini_get(sections, "connection", "type") or "",
        interface_name=ini_get(sections, "connection", "interface-name") or "",
        mac=mac,
        method=(ipv4.get("method") or "") if ipv4 else "",
        method_line=ipv4.line_of("method") if ipv4 else None,
        addresses=addresses,
    )


def keyfile_method(kf: Keyfile) -> Tuple[str, List[str], str]:
    """(dhcp | static | disabled, IPv4 addresses, detail); no method means auto (DHCP).

    >>> keyfile_method(parse_keyfile(_EXAMPLE))
    ('static', ['10.0.0.5/24'], '[ipv4] method=manual, address 10.0.0.5/24')
    >>> keyfile_method(parse_keyfile("[connection]\\ntype=ethernet\\n"))
    ('dhcp', [], '[ipv4] method=auto (not set)')
    """
    method = kf.method.strip().lower()
    if method in ("", "auto"):
        return "dhcp", kf.addresses, f"[ipv4] method={kf.method or 'auto (not set)'}"
    if method == "manual":
        if kf.addresses:
            return "static", kf.addresses, f"[ipv4] method=manual, address {', '.join(kf.addresses)}"
        return "disabled", [], "[ipv4] method=manual without an address"
    return "disabled", [], f"[ipv4] method={kf.method}"


def keyfile_set_auto(text: str) -> str:
    """Set [ipv4] method=auto, keeping every other line (adds the key or section if missing).

    >>> keyfile_set_auto(_EXAMPLE) == _EXAMPLE.replace("method=manual", "method=auto")
    True
    >>> keyfile_set_auto("[connection]\\nid=x")
    '[connection]\\nid=x\\n\\n[ipv4]\\nmethod=auto\\n'
    """
    lines = text.splitlines(keepends=True)
    section = None
    ipv4_header = None
    method_idx = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section == "ipv4" and ipv4_header is None:
                ipv4_header = i
            continue
        if section == "ipv4" and line.partition("=")[0].strip() == "method" and "=" in line:
            method_idx = i
    if method_idx is not None:
        raw = lines[method_idx]
        ending = raw[len(raw.rstrip("\r\n")):] or "\n"
        indent = raw[:len(raw) - len(raw.lstrip())]
        lines[method_idx] = f"{indent}method=auto{ending}"
        return "".join(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    if ipv4_header is not None:
        lines.insert(ipv4_header + 1, "method=auto\n")
    else:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines += ["[ipv4]\n", "method=auto\n"]
    return "".join(lines)
