"""`networkctl status --no-pager IF` output. Text in, data out; nothing here raises."""

from __future__ import annotations

from azbdiag import lazyre

_NETWORKCTL_DHCP = lazyre.compile(r"\((?:DHCP4|DHCPv4)\s+via\s+[^)]*\)")


def networkctl_dhcp4(text: str) -> bool:
    """Whether systemd-networkd shows an address it got by DHCPv4 ("(DHCP4 via ...)").

    >>> networkctl_dhcp4("        Address: 10.0.0.4 (DHCP4 via 168.63.129.16)")
    True
    >>> networkctl_dhcp4("        Address: 10.0.0.4/24")
    False
    """
    return isinstance(text, str) and bool(_NETWORKCTL_DHCP.search(text))
