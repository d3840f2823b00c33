"""The network configuration of the primary NIC, as every network stack's own files say it
(netplan, ifcfg on RHEL and SUSE, NetworkManager keyfiles, systemd-networkd, ifupdown,
cloud-init), and the routing table. Shared by rules/dhcp.py (the configuration and its fix)
and rules/dhcp_live.py (the lease now)."""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers import (
    cloud_init,
    ifcfg,
    interfaces,
    ip_route,
    netplan,
    networkd,
    nmconnection,
    yamldoc,
)

WHY_DHCP = ("backup needs DHCP: the agent learns the WireServer address 168.63.129.16 from "
            "option 245 of the DHCP lease, and Azure assigns the NIC's IP by DHCP anyway")
TAKES_EFFECT = ("takes effect at the next reboot or network restart; azbdiag does not restart "
                "networking, so an SSH session stays up")
NETPLAN_DIRS = ("/lib/netplan", "/etc/netplan", "/run/netplan")   # lowest precedence first
NM_DIRS = ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections",
           "/usr/lib/NetworkManager/system-connections")
NETWORKD_DIRS = ("/etc/systemd/network", "/run/systemd/network", "/lib/systemd/network",
                 "/usr/lib/systemd/network")                      # highest precedence first
RHEL_IFCFG = "/etc/sysconfig/network-scripts"
SUSE_IFCFG = "/etc/sysconfig/network"
# Which service applies each stack's files.
MANAGERS = {"netplan": ("NetworkManager", "systemd-networkd"),
            "ifcfg": ("NetworkManager", "network"),
            "ifcfg-suse": ("wicked", "NetworkManager"),
            "nm-keyfile": ("NetworkManager",),
            "networkd": ("systemd-networkd",),
            "ifupdown": ("networking",),
            "cloud-init": ()}
SERVICES = ("NetworkManager", "systemd-networkd", "wicked", "network", "networking")


@dataclasses.dataclass
class NicConfig:
    """What one network stack's configuration says about one interface."""
    stack: str                   # netplan, ifcfg, ifcfg-suse, nm-keyfile, networkd, ifupdown, cloud-init
    file: str                    # guest path of the file that decides
    name: str                    # interface name (or netplan id / NM profile) as configured
    method: str                  # dhcp, static, disabled, unknown
    addresses: List[str] = dataclasses.field(default_factory=list)
    detail: str = ""             # what in the file says so
    line: Optional[int] = None   # 1-based
    key: str = ""                # netplan id / NM profile id, for the fix


@dataclasses.dataclass
class Nic:
    """The primary network interface: its name and MAC address, and how it was chosen."""
    name: Optional[str]          # None offline until a configuration names one
    mac: Optional[str]
    how: str


def ip_routes(host) -> List[ip_route.Route]:
    """The IPv4 routing table: `ip -4 route`, else /proc/net/route."""
    res = host.run(["ip", "-4", "route", "show"], timeout=10)
    if res.ok:
        return ip_route.parse_ip_route(res.stdout)
    text = host.try_read_text("/proc/net/route")
    if text is None:
        raise SkipRule(SkipReason.NO_INPUT, "neither `ip -4 route` nor /proc/net/route could be read")
    return ip_route.parse_proc_net_route(text)


def primary_nic(ctx) -> Nic:
    """Live: the default route's device (eth0 without one) and its MAC address."""
    host = ctx.host
    if not host.live:
        return Nic(None, None, "offline: eth0, or the first configured ethernet")
    try:
        routes = ctx.fact(ip_routes)
    except SkipRule:
        routes = []
    dev = ip_route.default_route_dev(routes)
    how = "the default route's device" if dev else "no default route: assuming eth0"
    name = dev or "eth0"
    mac = (host.try_read_text(f"/sys/class/net/{name}/address") or "").strip() or None
    return Nic(name, mac, how)


def read_network_file(host, path) -> Optional[str]:
    """A network configuration file's text (None when it cannot be read), at most 1 MiB."""
    return host.try_read_text(path, limit=1024 * 1024)


def _netplan(host, nic, mac) -> Tuple[List[NicConfig], List[str]]:
    """(configs for nic, every ethernet id seen)."""
    chosen: Dict[str, str] = {}
    for d in NETPLAN_DIRS:                      # same basename: /run > /etc > /lib
        for path in host.glob(d, "*.yaml"):
            chosen[os.path.basename(path)] = path
    merged, docs, out = None, [], []
    for base in sorted(chosen):
        path = chosen[base]
        doc = yamldoc.parse_yaml(read_network_file(host, path) or "")
        if not doc.ok:
            line = f" line {doc.error_line}" if doc.error_line else ""
            out.append(NicConfig("netplan", path, nic or "?", "unknown",
                                    detail=f"does not parse{line}: {doc.error}"))
            continue
        docs.append((path, doc))
        merged = yamldoc.deep_merge(merged, doc.data) if merged is not None else doc.data
    ethernets = netplan.netplan_ethernets(merged)
    names = [str(cfg.get("set-name") or nid) for nid, cfg in ethernets.items()]
    if nic is None:
        return out, names
    for nid, cfg in ethernets.items():
        if not netplan.netplan_matches(nid, cfg, nic, mac):
            continue
        method, addrs, detail = netplan.netplan_method(cfg)
        path, line = None, None
        for p, doc in docs:                     # the file that last set dhcp4, else defined the id
            key = ("network", "ethernets", nid, "dhcp4")
            if key in doc.keys or (path is None and ("network", "ethernets", nid) in doc.keys):
                path = p
                line = (doc.keys.get(key) or doc.keys[("network", "ethernets", nid)])[0] + 1
        if path is None:
            path = next((p for p, _ in docs), "netplan")
        out.append(NicConfig("netplan", path, nid, method, addrs, detail, line, key=nid))
    return out, names


def _ifcfg(host, nic, mac) -> Tuple[List[NicConfig], List[str]]:
    out, names = [], []
    for directory, stack in ((RHEL_IFCFG, "ifcfg"), (SUSE_IFCFG, "ifcfg-suse")):
        for path in host.glob(directory, "ifcfg-*"):
            base = os.path.basename(path)
            if base == "ifcfg-lo" or base.endswith((".bak", "~", ".orig", ".rpmnew", ".rpmsave")):
                continue
            vars_ = ifcfg.parse_shell_vars(read_network_file(host, path) or "")
            device = vars_.get("DEVICE", (base[len("ifcfg-"):], 0))[0]
            hwaddr = vars_.get("HWADDR", ("", 0))[0].lower()
            names.append(device)
            if nic is None or not (device == nic or (mac and hwaddr == mac.lower())):
                continue
            method, addrs, detail, line = ifcfg.ifcfg_method(vars_, suse=stack == "ifcfg-suse")
            out.append(NicConfig(stack, path, device, method, addrs, detail, line))
    return out, names


def _keyfiles(host, nic, mac, skip_netplan) -> Tuple[List[NicConfig], List[str]]:
    bound, unbound, by_mac, names = [], [], [], []
    for d in NM_DIRS:
        for path in host.glob(d, "*"):
            base = os.path.basename(path)
            if base.startswith(".") or base.endswith(("~", ".swp", ".bak", ".tmp")):
                continue
            if skip_netplan and base.startswith("netplan-"):
                continue
            if not host.isfile(path):
                continue
            kf = nmconnection.parse_keyfile(read_network_file(host, path) or "")
            if kf.type not in ("ethernet", "802-3-ethernet", ""):
                continue
            if kf.interface_name:
                names.append(kf.interface_name)
            if nic is None:
                continue
            method, addrs, detail = nmconnection.keyfile_method(kf)
            conf = NicConfig("nm-keyfile", path, kf.id or base, method, addrs, detail,
                                kf.method_line, key=kf.id)
            if kf.interface_name == nic or (mac and kf.mac.lower() == mac.lower()):
                bound.append(conf)
            elif not kf.interface_name and not kf.mac and kf.type:
                unbound.append(conf)
            elif not kf.interface_name and kf.mac and not host.live:
                by_mac.append((conf, kf.mac))
    if not (bound or unbound) and len(by_mac) == 1:
        # Offline the NIC's MAC is unknown: cloud-init writes one ethernet profile bound by
        # MAC (RHEL 9's cloud-init-eth0.nmconnection); the only one is the primary NIC's.
        conf, address = by_mac[0]
        conf.detail = ((conf.detail + "; ") if conf.detail else "") + (
            f"bound by MAC {address}, which an offline root cannot check: the only ethernet "
            f"profile, taken as {nic}'s")
        return [conf], names
    return (bound or unbound), names


def _networkd(host, nic, mac, skip_netplan) -> Tuple[List[NicConfig], List[str]]:
    chosen: Dict[str, str] = {}
    for d in reversed(NETWORKD_DIRS):             # same basename: /etc > /run > /lib
        for path in host.glob(d, "*.network"):
            chosen[os.path.basename(path)] = path
    names = []
    for base in sorted(chosen):
        if skip_netplan and base.startswith("10-netplan-"):
            continue
        nf = networkd.parse_networkd(read_network_file(host, chosen[base]) or "")
        names += [n for n in nf.match_names if not any(c in n for c in "*?[!")]
        if nic is not None and networkd.networkd_matches(nf, nic, mac):
            method, addrs, detail = networkd.networkd_method(nf)
            return [NicConfig("networkd", chosen[base], nic, method, addrs, detail,
                                 nf.dhcp_line)], names   # the first matching file applies
    return [], names


def _interfaces_files(host) -> List[str]:
    files, queue, seen = [], ["/etc/network/interfaces"], set()
    while queue and len(files) < 200:
        path = queue.pop(0)
        if path in seen or not host.isfile(path):
            continue
        seen.add(path)
        files.append(path)
        parsed = interfaces.parse_interfaces(read_network_file(host, path) or "")
        for pattern in parsed.sources:
            pattern = pattern if pattern.startswith("/") else "/etc/network/" + pattern
            d, pat = os.path.split(pattern)
            queue += host.glob(d, pat)
        for d in parsed.source_dirs:
            d = d if d.startswith("/") else "/etc/network/" + d
            queue += [p for p in host.glob(d, "*")
                      if all(c.isalnum() or c in "_-" for c in os.path.basename(p))]
    return files


def _ifupdown(host, nic, mac) -> Tuple[List[NicConfig], List[str]]:
    out, names = [], []
    for path in _interfaces_files(host):
        for iface in interfaces.parse_interfaces(read_network_file(host, path) or "").ifaces:
            if iface.family != "inet" or iface.name == "lo":
                continue
            names.append(iface.name)
            if iface.name == nic:
                method, addrs, detail = interfaces.ifupdown_method(iface)
                out.append(NicConfig("ifupdown", path, nic, method, addrs, detail, iface.line))
    return out, names


def cloud_init_config(host):
    """(disabled?, network config, file that holds it) from cloud.cfg and cloud.cfg.d."""
    merged, holder = None, None
    for path in ["/etc/cloud/cloud.cfg"] + host.glob("/etc/cloud/cloud.cfg.d", "*.cfg"):
        text = read_network_file(host, path)
        if text is None:
            continue
        doc = yamldoc.parse_yaml(text)
        if doc.ok and isinstance(doc.data, dict):
            if "network" in doc.data:
                holder = path
            merged = yamldoc.deep_merge(merged, doc.data) if merged is not None else doc.data
    disabled, net = cloud_init.cloud_init_network(merged)
    return disabled, net, holder


def _cloud_init(ctx, nic, mac) -> Tuple[List[NicConfig], List[str]]:
    _disabled, net, holder = ctx.fact(cloud_init_config)
    if not net or nic is None:
        return [], []
    found = cloud_init.cloud_init_nic(net, nic, mac)
    if not found:
        return [], []
    name, method, addrs, detail = found
    return [NicConfig("cloud-init", holder or "/etc/cloud/cloud.cfg", name, method, addrs,
                         detail)], []


def active_services(host) -> Dict[str, bool]:
    """Live: which network services run now (systemctl is-active)."""
    if not host.live:
        raise SkipRule(SkipReason.OFFLINE_ROOT, "no service runs on an offline root")
    res = host.run(["systemctl", "is-active", *SERVICES], timeout=10)
    states = res.stdout.split()
    if res.not_found or res.timed_out or len(states) != len(SERVICES):
        raise SkipRule(SkipReason.NO_INPUT, f"systemctl is-active gave no answer ({res.describe()})")
    return {svc: state == "active" for svc, state in zip(SERVICES, states)}


@dataclasses.dataclass
class NicConfigs:
    """What the network stacks' configurations say about the primary interface, split into the
    stacks that apply and those whose service is not running."""
    nic: str
    how: str
    configs: List[NicConfig]        # the stacks that apply
    ignored: List[NicConfig]        # configs of stacks whose service is not running
    active: Optional[Dict[str, bool]]


def _collect(ctx, nic, mac):
    host = ctx.host
    skip_netplan = any(host.glob(d, "*.yaml") for d in NETPLAN_DIRS)
    found, names = [], []
    for fn in (_netplan, _ifcfg, _ifupdown):
        c, n = fn(host, nic, mac)
        found += c
        names += n
    c, _ = _cloud_init(ctx, nic, mac)
    found += c
    for fn in (_keyfiles, _networkd):
        c, n = fn(host, nic, mac, skip_netplan)
        found += c
        names += n
    return found, names


def nic_configs(ctx) -> NicConfigs:
    """What every network stack's configuration says about the primary NIC, and which stacks
    apply (live, those whose service runs). Combines facts; not cached."""
    nic = primary_nic(ctx)
    name, how = nic.name, nic.how
    if name is None:
        name = "eth0"
        found, names = _collect(ctx, name, None)
        if not [c for c in found if c.method != "unknown"]:
            others = [n for n in names if n not in ("lo", "eth0")]
            if others:
                name, how = others[0], f"offline: {others[0]} is the first configured ethernet"
                found, _ = _collect(ctx, name, None)
        else:
            how = "offline: eth0 is configured"
    else:
        found, _ = _collect(ctx, name, nic.mac)
    try:
        active: Optional[Dict[str, bool]] = ctx.fact(active_services)
    except SkipRule:
        active = None
    if active is None or not any(active.values()):
        return NicConfigs(name, how, found, [], active)
    applies = [c for c in found if not MANAGERS[c.stack] or any(active.get(s) for s in MANAGERS[c.stack])]
    ignored = [c for c in found if c not in applies]
    return NicConfigs(name, how, applies or found, ignored if applies else [], active)
