"""`nmcli -t -f GENERAL.CONNECTION,DHCP4 device show IF` output (terse FIELD:value lines).
Text in, data out; nothing here raises."""

from __future__ import annotations

import re
from typing import Dict


def parse_nmcli_terse(text: str) -> Dict[str, str]:
    """FIELD:value lines of nmcli's terse output -> {FIELD: value} (\\\\: unescaped).

    >>> parse_nmcli_terse("GENERAL.CONNECTION:cloud-init eth0\\n"
    ...                   "DHCP4.OPTION[1]:dhcp_lease_time = 4294967295\\n")
    {'GENERAL.CONNECTION': 'cloud-init eth0', 'DHCP4.OPTION[1]': 'dhcp_lease_time = 4294967295'}
    """
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        m = re.search(r"(?<!\\):", line)
        if not m:
            continue
        key, value = line[:m.start()], line[m.end():]
        out[key.replace("\\:", ":")] = value.replace("\\:", ":")
    return out


def nmcli_has_dhcp4(fields: Dict[str, str]) -> bool:
    """Whether NetworkManager reports DHCPv4 lease options for the device.

    >>> nmcli_has_dhcp4(parse_nmcli_terse("DHCP4.OPTION[2]:routers = 10.0.0.1\\n"))
    True
    >>> nmcli_has_dhcp4(parse_nmcli_terse("GENERAL.CONNECTION:--\\n"))
    False
    """
    return any(k.startswith("DHCP4.OPTION") for k in fields)
