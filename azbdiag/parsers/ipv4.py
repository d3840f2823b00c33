"""IPv4 addresses as network configuration files write them. Text in, data out; never raises."""

from __future__ import annotations

from typing import List

from azbdiag import lazyre

_ADDRESS = lazyre.compile(r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$")


def ipv4_addresses(values) -> List[str]:
    """The IPv4 addresses (with an optional /prefix) among configured values: one string, a
    list of strings, or netplan's list items `- 10.0.0.5/24: {label: ...}`; IPv6 addresses
    and anything else are left out.

    >>> ipv4_addresses(["10.0.0.5/24", {"10.0.0.6/24": {"label": "eth0:1"}}, "fe80::1/64"])
    ['10.0.0.5/24', '10.0.0.6/24']
    >>> ipv4_addresses(" 10.0.0.7 ")
    ['10.0.0.7']
    """
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    out = []
    for v in values:
        if isinstance(v, dict):        # netplan: - 10.0.0.5/24: {label: ...}
            v = next(iter(v), None)
        if isinstance(v, str) and _ADDRESS.match(v.strip()):
            out.append(v.strip())
    return out
