"""`wicked ifstatus IF` output (SUSE). Text in, data out; nothing here raises."""

from __future__ import annotations

import re


def wicked_dhcp4(text: str) -> bool:
    """Whether wicked reports a granted IPv4 DHCP lease.

    >>> wicked_dhcp4("eth0            up\\n      leases:   ipv4 dhcp granted\\n")
    True
    """
    return isinstance(text, str) and bool(re.search(r"leases:\s+ipv4\s+dhcp\s+granted", text))
