"""netplan's YAML files (/lib, /etc and /run/netplan/*.yaml): the ethernets section, how an
interface gets its IPv4 address, and the line edit `fix --dhcp` makes. The files are read
with yamldoc.parse_yaml and merged with yamldoc.deep_merge. Nothing here raises."""

from __future__ import annotations

import fnmatch
from typing import Dict, List, Optional, Tuple

from azbdiag.parsers.ipv4 import ipv4_addresses
from azbdiag.parsers.yamldoc import dig, parse_yaml, strip_comment, yaml_bool

# The sample file the examples in the docstrings read.
_EXAMPLE = """\
network:
    ethernets:
        eth0:
            dhcp4: true
            match:
                macaddress: 00:0d:3a:12:34:56
            set-name: eth0
    version: 2
"""


def netplan_ethernets(merged) -> Dict[str, dict]:
    """network.ethernets of merged netplan data: id -> its settings ({} when not a mapping).

    >>> netplan_ethernets(parse_yaml(_EXAMPLE).data)["eth0"]["dhcp4"]
    'true'
    >>> netplan_ethernets({"network": {"ethernets": {"eth1": None}}})
    {'eth1': {}}
    """
    eth = dig(merged, "network", "ethernets")
    if not isinstance(eth, dict):
        return {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in eth.items()}


def netplan_matches(nid: str, cfg: dict, nic: str, mac: Optional[str] = None) -> bool:
    """Whether the ethernets entry `nid` applies to interface `nic`: by set-name, by its
    match: (name glob or MAC address), or, without match:, by its id.

    >>> cfg = netplan_ethernets(parse_yaml(_EXAMPLE).data)["eth0"]
    >>> netplan_matches("eth0", cfg, "eth0"), netplan_matches("lan", {"match": {"name": "en*"}}, "ens3")
    (True, True)
    >>> netplan_matches("lan", {"match": {"macaddress": "00:0D:3A:00:00:01"}}, "eth0", None)
    False
    """
    match = cfg.get("match") if isinstance(cfg.get("match"), dict) else None
    if isinstance(cfg.get("set-name"), str) and cfg["set-name"] == nic:
        return True
    if match is None:
        return nid == nic
    name = match.get("name")
    if isinstance(name, str) and fnmatch.fnmatchcase(nic, name):
        return True
    macm = match.get("macaddress")
    if mac and isinstance(macm, str) and macm.lower() == mac.lower():
        return True
    return False


def netplan_method(cfg: dict) -> Tuple[str, List[str], str]:
    """(dhcp | static | disabled, IPv4 addresses, what in the file says so) for one entry;
    dhcp4 defaults to off.

    >>> netplan_method({"dhcp4": "no", "addresses": ["10.0.0.5/24"]})
    ('static', ['10.0.0.5/24'], 'dhcp4: no, addresses: 10.0.0.5/24')
    >>> netplan_method({"dhcp4": "true"})
    ('dhcp', [], 'dhcp4: true')
    >>> netplan_method({})
    ('disabled', [], 'no dhcp4 key (default: off) and no IPv4 address')
    """
    dhcp = yaml_bool(cfg.get("dhcp4"))
    addresses = ipv4_addresses(cfg.get("addresses"))
    if dhcp:
        return "dhcp", addresses, f"dhcp4: {cfg.get('dhcp4')}"
    detail = f"dhcp4: {cfg.get('dhcp4')}" if "dhcp4" in cfg else "no dhcp4 key (default: off)"
    if addresses:
        return "static", addresses, f"{detail}, addresses: {', '.join(addresses)}"
    return "disabled", [], f"{detail} and no IPv4 address"


def netplan_set_dhcp4(text: str, nid: str) -> Tuple[Optional[str], Optional[str]]:
    """Set network.ethernets.<nid>.dhcp4 to true, keeping every other line and comment.
    Returns (new text, None) or (None, why it cannot be done by a line edit).

    >>> new, why = netplan_set_dhcp4(_EXAMPLE.replace("dhcp4: true", "dhcp4: no  # pinned"), "eth0")
    >>> new.splitlines()[3]
    '            dhcp4: true  # pinned'
    >>> netplan_set_dhcp4("network: {ethernets: {eth0: {dhcp4: no}}}\\n", "eth0")[1]
    "'eth0' is not written as a block mapping under network.ethernets (flow style); edit it by hand"
    """
    doc = parse_yaml(text)
    if not doc.ok:
        return None, f"the file does not parse: {doc.error}"
    base = ("network", "ethernets", nid)
    if base not in doc.keys:
        if ("network", "ethernets") in doc.keys and base[:2] not in doc.flow:
            return None, f"no block entry for {nid!r} under network.ethernets; edit it by hand"
        return None, (f"{nid!r} is not written as a block mapping under network.ethernets "
                      f"(flow style); edit it by hand")
    if base in doc.flow:
        return None, f"network.ethernets.{nid} is written in flow style; edit it by hand"
    if not isinstance(dig(doc.data, *base), (dict, type(None))):
        return None, f"network.ethernets.{nid} is not a mapping; edit it by hand"
    lines = text.splitlines(keepends=True)
    key = base + ("dhcp4",)
    if key in doc.keys:
        idx, ind = doc.keys[key]
        raw = lines[idx]
        body = raw[ind:]
        colon = body.find(":")
        rest = body[colon + 1:].rstrip("\r\n")
        comment = rest[len(strip_comment(rest)):]
        ending = raw[len(raw.rstrip("\r\n")):] or "\n"
        lines[idx] = f"{raw[:ind]}{body[:colon]}: true{comment}{ending}"
        return "".join(lines), None
    # insert dhcp4: true as the first child of the entry, at its children's indentation
    idx, ind = doc.keys[base]
    child = [v for k, v in doc.keys.items() if len(k) == len(base) + 1 and k[:len(base)] == base]
    child_indent = min((c[1] for c in child), default=ind + 2)
    if child_indent <= ind:
        child_indent = ind + 2
    ending = "\r\n" if lines[idx].endswith("\r\n") else "\n"
    if not lines[idx].endswith(("\n", "\r")):
        lines[idx] += ending
    head = lines[idx].rstrip("\r\n")
    if strip_comment(head.strip()).endswith(":") is False:
        return None, f"network.ethernets.{nid} has an inline value; edit it by hand"
    lines.insert(idx + 1, " " * child_indent + "dhcp4: true" + ending)
    return "".join(lines), None

