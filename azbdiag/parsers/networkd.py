"""systemd-networkd .network files (/etc, /run, /lib and /usr/lib/systemd/network): the
[Match] section and how the interface gets its IPv4 address. Text in, data out; nothing here
raises."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import List, Optional, Tuple

from azbdiag.parsers.ini import ini_section, parse_ini
from azbdiag.parsers.ipv4 import ipv4_addresses


@dataclasses.dataclass
class NetworkdFile:
    """A systemd-networkd .network file: what its [Match] selects and how the interface gets
    its IPv4 address."""
    match_names: List[str]
    match_macs: List[str]
    match_drivers: List[str]
    match_types: List[str]
    dhcp: str
    dhcp_line: Optional[int]
    addresses: List[str]


def parse_networkd(text: str) -> NetworkdFile:
    """The [Match] conditions, DHCP= and the IPv4 Address= values of a .network file.

    >>> nf = parse_networkd("[Match]\\nName=eth0 en*\\n\\n[Network]\\nDHCP=ipv4\\nAddress=10.0.0.9/24\\n")
    >>> nf.match_names, nf.dhcp, nf.dhcp_line, nf.addresses
    (['eth0', 'en*'], 'ipv4', 5, ['10.0.0.9/24'])
    """
    sections = parse_ini(text)
    match = ini_section(sections, "Match")
    network = ini_section(sections, "Network")

    def words(key):
        return [w for v in (match.all(key) if match else []) for w in v.split()]

    addresses = []
    if network:
        addresses += ipv4_addresses([a.strip() for a in network.all("Address")])
    for s in sections:
        if s.name == "Address":
            addresses += ipv4_addresses([a.strip() for a in s.all("Address")])
    return NetworkdFile(words("Name"), [m.lower() for m in words("MACAddress")], words("Driver"),
                        words("Type"), (network.get("DHCP") or "") if network else "",
                        network.line_of("DHCP") if network else None, addresses)


def networkd_matches(nf: NetworkdFile, nic: str, mac: Optional[str] = None,
                     driver: Optional[str] = None) -> bool:
    """Whether the file's [Match] applies to interface `nic` (globs, ! negations, MAC, Type).

    >>> networkd_matches(parse_networkd("[Match]\\nName=en* !ens5\\n"), "ens3")
    True
    >>> networkd_matches(parse_networkd("[Match]\\nType=wlan\\n"), "eth0")
    False
    """
    def glob_any(patterns, value):
        pats = [p.lstrip("!") for p in patterns if not p.startswith("!")]
        negs = [p[1:] for p in patterns if p.startswith("!")]
        if value is None:
            return None
        if any(fnmatch.fnmatchcase(value, p) for p in negs):
            return False
        return not pats or any(fnmatch.fnmatchcase(value, p) for p in pats)

    if nf.match_names and not glob_any(nf.match_names, nic):
        return False
    if nf.match_macs and (mac is None or mac.lower() not in nf.match_macs):
        return False
    if nf.match_drivers and driver is not None and not glob_any(nf.match_drivers, driver):
        return False
    if nf.match_types and "ether" not in nf.match_types:
        return False
    return True


def networkd_method(nf: NetworkdFile) -> Tuple[str, List[str], str]:
    """(dhcp | static | disabled, IPv4 addresses, detail); DHCP defaults to off.

    >>> networkd_method(parse_networkd("[Network]\\nAddress=10.0.0.5/24\\nGateway=10.0.0.1\\n"))
    ('static', ['10.0.0.5/24'], 'no DHCP= (default: off), Address=10.0.0.5/24')
    >>> networkd_method(parse_networkd("[Network]\\nDHCP=yes\\n"))
    ('dhcp', [], 'DHCP=yes')
    """
    value = nf.dhcp.strip().lower()
    shown = f"DHCP={nf.dhcp}" if nf.dhcp_line else "no DHCP= (default: off)"
    if value in ("yes", "ipv4", "both", "v4", "true", "on", "1"):
        return "dhcp", nf.addresses, shown
    if nf.addresses:
        return "static", nf.addresses, f"{shown}, Address={', '.join(nf.addresses)}"
    return "disabled", [], f"{shown} and no IPv4 Address="
