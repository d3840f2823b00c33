"""`ip -4 -o addr show` output: the IPv4 addresses of the interfaces with their flags. Text
in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import List


@dataclasses.dataclass
class Addr:
    """One IPv4 address of an interface, from a line of `ip -4 -o addr show`."""
    ifname: str
    address: str
    flags: List[str]
    line: str


def parse_ip_addr(text: str) -> List[Addr]:
    """One Addr per inet line of `ip -4 -o addr show` (one line per address, fields of the
    continuation joined with a backslash).

    >>> a = parse_ip_addr("2: eth0    inet 10.0.0.9/24 brd 10.0.0.255 scope global secondary "
    ...                   "noprefixroute eth0\\\\       valid_lft forever preferred_lft forever\\n")[0]
    >>> a.ifname, a.address, a.flags
    ('eth0', '10.0.0.9/24', ['secondary', 'noprefixroute'])
    """
    out: List[Addr] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        words = line.replace("\\", " ").split()
        if len(words) < 4 or "inet" not in words:
            continue
        i = words.index("inet")
        if i + 1 >= len(words) or i < 1:
            continue
        ifname = words[i - 1].split("@")[0]
        rest = words[i + 2:]
        flags = [w for w in rest if w in ("dynamic", "noprefixroute", "secondary", "permanent",
                                          "deprecated", "tentative")]
        out.append(Addr(ifname, words[i + 1], flags, line.strip()))
    return out
