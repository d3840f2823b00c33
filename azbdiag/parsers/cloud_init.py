"""cloud-init's network configuration in /etc/cloud/cloud.cfg and cloud.cfg.d/*.cfg (read with
yamldoc.parse_yaml and merged with yamldoc.deep_merge): version 1 and version 2 (netplan
style). Nothing here raises."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from azbdiag.parsers.ipv4 import ipv4_addresses
from azbdiag.parsers.netplan import netplan_ethernets, netplan_matches, netplan_method
from azbdiag.parsers.yamldoc import dig


def cloud_init_network(merged) -> Tuple[Optional[bool], Any]:
    """(disabled?, the network config mapping or None) from merged cloud.cfg(.d) data; the
    first is None when the files have no network key at all.

    >>> cloud_init_network({"network": {"config": "disabled"}})
    (True, None)
    >>> cloud_init_network({"network": {"version": "2", "ethernets": {}}})
    (False, {'version': '2', 'ethernets': {}})
    >>> cloud_init_network({"datasource_list": ["Azure"]})
    (None, None)
    """
    net = dig(merged, "network")
    if not isinstance(net, dict):
        return None, None
    config = net.get("config")
    if isinstance(config, str) and config.strip().lower() == "disabled":
        return True, None
    if "version" in net:
        return False, net
    return False, None


def cloud_init_nic(net: dict, nic: str, mac: Optional[str] = None):
    """(name, method, addresses, detail) for `nic` in a v1 or v2 cloud-init network config,
    or None when the config does not mention it.

    >>> v1 = {"version": "1", "config": [{"type": "physical", "name": "eth0",
    ...       "subnets": [{"type": "static", "address": "10.0.0.5/24"}]}]}
    >>> cloud_init_nic(v1, "eth0")
    ('eth0', 'static', ['10.0.0.5/24'], 'subnets type: static')
    >>> cloud_init_nic({"version": "2", "ethernets": {"eth0": {"dhcp4": "true"}}}, "eth0")
    ('eth0', 'dhcp', [], 'dhcp4: true')
    """
    version = str(net.get("version", "")).strip()
    if version == "2":
        for nid, cfg in netplan_ethernets({"network": net}).items():
            if netplan_matches(nid, cfg, nic, mac):
                method, addrs, detail = netplan_method(cfg)
                return nid, method, addrs, detail
        return None
    if version == "1":
        for entry in net.get("config") or []:
            if not isinstance(entry, dict) or entry.get("type") != "physical":
                continue
            if entry.get("name") != nic and not (mac and str(entry.get("mac_address", "")).lower()
                                                  == mac.lower()):
                continue
            subnets = [s for s in entry.get("subnets") or [] if isinstance(s, dict)]
            types = [str(s.get("type", "")) for s in subnets]
            if any(t in ("dhcp", "dhcp4") for t in types):
                return nic, "dhcp", [], "subnets type: dhcp"
            addrs = ipv4_addresses([s.get("address") for s in subnets if s.get("type") == "static"])
            if addrs:
                return nic, "static", addrs, "subnets type: static"
            return nic, "disabled", [], "no IPv4 subnet"
    return None
