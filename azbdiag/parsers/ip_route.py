"""The IPv4 routing table: `ip -4 route show` output, or /proc/net/route where `ip` is
missing. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional


@dataclasses.dataclass
class Route:
    """One IPv4 route, from `ip -4 route show` or /proc/net/route."""
    dest: str
    dev: Optional[str]
    proto: Optional[str]
    via: Optional[str]
    metric: int
    line: str


def parse_ip_route(text: str) -> List[Route]:
    """The routes in `ip -4 route show` output (local, broadcast and other special routes are
    left out).

    >>> [(r.dest, r.dev, r.proto, r.metric) for r in parse_ip_route(
    ...     "default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100\\n"
    ...     "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.4 metric 100\\n")]
    [('default', 'eth0', 'dhcp', 100), ('10.0.0.0/24', 'eth0', 'kernel', 100)]
    """
    out: List[Route] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit",
                        "multicast", "throw", "anycast", "nat"):
            if words[0] != "unicast":
                continue
            words = words[1:]
            if not words:
                continue
        fields: Dict[str, str] = {}
        i = 1
        while i < len(words) - 1:
            if words[i] in ("dev", "proto", "via", "metric", "src", "scope", "table"):
                fields[words[i]] = words[i + 1]
                i += 2
            else:
                i += 1
        metric = fields.get("metric", "0")
        out.append(Route(words[0], fields.get("dev"), fields.get("proto"), fields.get("via"),
                         int(metric) if metric.isascii() and metric.isdigit() else 0, line.strip()))
    return out


def parse_proc_net_route(text: str) -> List[Route]:
    """The routes in /proc/net/route (destinations in hex, the default route as "default").

    >>> [(r.dest, r.dev, r.metric) for r in parse_proc_net_route(
    ...     "Iface\\tDestination\\tGateway \\tFlags\\tRefCnt\\tUse\\tMetric\\tMask\\n"
    ...     "eth0\\t00000000\\t0100000A\\t0003\\t0\\t0\\t100\\t00000000\\n")]
    [('default', 'eth0', 100)]
    """
    out: List[Route] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        dest = "default" if parts[1] == "00000000" else parts[1]
        metric = parts[6] if parts[6].isascii() and parts[6].isdigit() else "0"
        out.append(Route(dest, parts[0], None, None, int(metric), line.strip()))
    return out


def default_route_dev(routes: List[Route]) -> Optional[str]:
    """The device of the default route with the lowest metric, or None.

    >>> default_route_dev(parse_ip_route("default via 10.1.0.1 dev eth1 metric 200\\n"
    ...                                  "default via 10.0.0.1 dev eth0 metric 100\\n"))
    'eth0'
    """
    defaults = [r for r in routes if r.dest in ("default", "0.0.0.0/0") and r.dev]
    if not defaults:
        return None
    return min(defaults, key=lambda r: r.metric).dev
