"""DHCP on the primary NIC (the Networking section of the snapshot-timeout article).

The agent finds the WireServer (168.63.129.16) through a route or the DHCP lease's option 245;
with a static address in the guest that discovery fails and the backup extension's status never
reaches the platform. Azure hands out the NIC's private IP by DHCP anyway, so the guest must not
pin it. Leases on Azure are infinite, so `ip addr` shows no `dynamic` flag even for a DHCP
address: the live check looks at `proto dhcp` routes and the network stack's own status instead.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from azbdiag.engine import rule
from azbdiag.fixer import RefuseFix, WriteFile, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers import (
    cloud_init,
    ifcfg,
    interfaces,
    ip_addr,
    ip_route,
    netplan,
    networkctl,
    networkd,
    nmcli,
    nmconnection,
    wicked,
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


# ---- facts -------------------------------------------------------------------------------
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


def _read(host, path) -> Optional[str]:
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
        doc = yamldoc.parse_yaml(_read(host, path) or "")
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
            vars_ = ifcfg.parse_shell_vars(_read(host, path) or "")
            device = vars_.get("DEVICE", (base[len("ifcfg-"):], 0))[0]
            hwaddr = vars_.get("HWADDR", ("", 0))[0].lower()
            names.append(device)
            if nic is None or not (device == nic or (mac and hwaddr == mac.lower())):
                continue
            method, addrs, detail, line = ifcfg.ifcfg_method(vars_, suse=stack == "ifcfg-suse")
            out.append(NicConfig(stack, path, device, method, addrs, detail, line))
    return out, names


def _keyfiles(host, nic, mac, skip_netplan) -> Tuple[List[NicConfig], List[str]]:
    bound, unbound, names = [], [], []
    for d in NM_DIRS:
        for path in host.glob(d, "*"):
            base = os.path.basename(path)
            if base.startswith(".") or base.endswith(("~", ".swp", ".bak", ".tmp")):
                continue
            if skip_netplan and base.startswith("netplan-"):
                continue
            if not host.isfile(path):
                continue
            kf = nmconnection.parse_keyfile(_read(host, path) or "")
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
        nf = networkd.parse_networkd(_read(host, chosen[base]) or "")
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
        parsed = interfaces.parse_interfaces(_read(host, path) or "")
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
        for iface in interfaces.parse_interfaces(_read(host, path) or "").ifaces:
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
        text = _read(host, path)
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


def _show(c: NicConfig) -> str:
    where = f"{c.file} line {c.line}" if c.line else c.file
    return f"{c.stack}: {where}: {c.detail}"


def _nm_auto_default(host) -> bool:
    """True when NetworkManager would create its automatic DHCP 'Wired connection'."""
    files = ["/etc/NetworkManager/NetworkManager.conf"] + host.glob("/etc/NetworkManager/conf.d", "*.conf") \
        + host.glob("/usr/lib/NetworkManager/conf.d", "*.conf")
    for path in files:
        for line in (_read(host, path) or "").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "no-auto-default" and value.strip():
                return False
    return True


def _cloud_init_note(ctx, bad: List[NicConfig]) -> List[str]:
    if not ctx.host.isdir("/etc/cloud"):
        return []
    disabled, _net, holder = ctx.fact(cloud_init_config)
    if disabled:
        return [f"cloud-init: network configuration disabled ({holder}); it leaves these files alone"]
    generated = [c.file for c in bad if "cloud-init" in c.file
                 or "cloud-init" in (_read(ctx.host, c.file) or "")[:400]]
    if generated:
        return [f"cloud-init wrote {generated[0]}; it may write it again from the Azure metadata "
                f"(which asks for DHCP)"]
    return []


@rule("dhcp.config", "The primary NIC is configured to get its IPv4 address by DHCP",
      error_codes=("GuestAgentSnapshotTaskStatusError", "ExtensionSnapshotFailedNoNetwork",
                   "ExtensionOperationFailedForManagedDisks", "BackUpOperationFailed"),
      fix="dhcp", timeout=30,
      remedy="Configure the primary NIC for DHCP and set any fixed private IP on the Azure NIC "
             "instead (`sudo azbdiag fix --dhcp` for netplan, ifcfg and NetworkManager keyfiles; "
             "it takes effect at the next reboot or network restart). Use the serial console if "
             "you restart networking yourself. Agents 2.14+ can also be told "
             "Protocol.EndpointDiscovery=static in /etc/waagent.conf.")
def config(ctx):
    """Reads netplan, ifcfg (RHEL, SUSE), NetworkManager keyfiles, systemd-networkd, ifupdown
    and cloud-init's network config for the primary NIC; live, only the stacks whose service
    is running count."""
    nc = nic_configs(ctx)
    bad = [c for c in nc.configs if c.method in ("static", "disabled")]
    good = [c for c in nc.configs if c.method == "dhcp"]
    unknown = [c for c in nc.configs if c.method == "unknown"]
    evidence = [f"primary NIC {nc.nic} ({nc.how})"] + [_show(c) for c in nc.configs]
    evidence += [f"not applied ({'/'.join(MANAGERS[c.stack])} not running): {_show(c)}"
                 for c in nc.ignored]
    evidence += _cloud_init_note(ctx, bad)
    if bad:
        first = bad[0]
        kind = ("a static IPv4 address" if first.method == "static" else "no IPv4 DHCP")
        return fail(f"{nc.nic} gets {kind} from {first.stack} ({first.file}): {WHY_DHCP}",
                    evidence, nic=nc.nic, configs=[dataclasses.asdict(c) for c in bad])
    if unknown and not good:
        return warn(f"cannot tell whether {nc.nic} uses DHCP: {unknown[0].stack} "
                    f"{unknown[0].file} {unknown[0].detail}", evidence)
    if good:
        extra = sorted({a for c in good for a in c.addresses})
        note = f" (static {', '.join(extra)} beside it is fine)" if extra else ""
        return ok(f"{nc.nic} uses DHCP ({', '.join(sorted({c.stack for c in good}))}){note}",
                  evidence)
    nm = (nc.active or {}).get("NetworkManager") if nc.active else ctx.host.which("NetworkManager")
    if nm and _nm_auto_default(ctx.host):
        return ok(f"no profile names {nc.nic}: NetworkManager brings it up with its automatic "
                  f"DHCP 'Wired connection'", evidence)
    return warn(f"found no network configuration for {nc.nic} in any known stack", evidence)


@fix("dhcp", title="Switch the primary NIC's configuration to DHCP", rules=("dhcp.config",),
     order=60, live_only=False)
def plan_dhcp(ctx, findings):
    """Edit the file that pins the address (netplan, ifcfg, NetworkManager keyfile) in place,
    keeping every other line. Nothing is restarted."""
    host = ctx.host
    actions = []
    for finding in findings:
        for c in finding.data.get("configs", []):
            path, stack = c["file"], c["stack"]
            if path.startswith("/run/"):
                raise RefuseFix(f"{path} is generated at run time; change its source instead")
            text = _read(host, path)
            if text is None:
                raise RefuseFix(f"cannot read {path}")
            target, mode = path, None
            if stack == "netplan":
                new, why_not = netplan.netplan_set_dhcp4(text, c["key"])
                if new is None:
                    raise RefuseFix(f"{path}: {why_not}")
                if not path.startswith("/etc/"):      # a packaged file: override it from /etc
                    target, mode = "/etc/netplan/" + os.path.basename(path), 0o600
                what = f"set dhcp4: true for {c['key']} (static addresses stay as secondary ones)"
            elif stack in ("ifcfg", "ifcfg-suse"):
                new = ifcfg.ifcfg_set_dhcp(text, suse=stack == "ifcfg-suse")
                what = "set BOOTPROTO to dhcp (IPADDR lines stay as secondary addresses)"
            elif stack == "nm-keyfile":
                if path.startswith("/usr/"):
                    raise RefuseFix(f"{path} belongs to a package; copy it to "
                                    f"/etc/NetworkManager/system-connections and edit it there")
                new = nmconnection.keyfile_set_auto(text)
                what = "set [ipv4] method=auto (address lines stay as secondary addresses)"
            else:
                hint = {"networkd": "set DHCP=ipv4 in [Network]",
                        "ifupdown": f"change it to `iface {c['name']} inet dhcp`",
                        "cloud-init": "remove the static network config or switch it to dhcp"}
                raise RefuseFix(f"{stack} ({path}) is not changed automatically: "
                                f"{hint.get(stack, 'switch it to DHCP by hand')}")
            data = new.encode("utf-8")
            if target == path and data == text.encode("utf-8"):
                continue
            actions.append(WriteFile(target, data, mode=mode,
                                     why=f"{what}; this {TAKES_EFFECT}"))
    return actions


# ---- live state --------------------------------------------------------------------------
def _dhcp_evidence(host, nic: str, routes) -> List[str]:
    found = [f"route: {r.line}" for r in routes or [] if r.dev == nic and r.proto == "dhcp"]
    if found:
        return found
    if host.which("nmcli"):
        res = host.run(["nmcli", "-t", "-f", "GENERAL.CONNECTION,DHCP4", "device", "show", nic])
        fields = nmcli.parse_nmcli_terse(res.stdout) if res.ok else {}
        if nmcli.nmcli_has_dhcp4(fields):
            return [f"NetworkManager: {nic} holds a DHCPv4 lease (connection "
                    f"{fields.get('GENERAL.CONNECTION', '?')})"]
    if host.which("networkctl"):
        res = host.run(["networkctl", "status", "--no-pager", nic])
        if res.ok and networkctl.networkctl_dhcp4(res.stdout):
            return [f"systemd-networkd: {line.strip()}" for line in res.stdout.splitlines()
                    if networkctl.networkctl_dhcp4(line)][:3]
    if host.which("wicked"):
        res = host.run(["wicked", "ifstatus", nic])
        if res.ok and wicked.wicked_dhcp4(res.stdout):
            return [f"wicked: {nic} ipv4 dhcp lease granted"]
    res = host.run(["pgrep", "-a", "dhclient|dhcpcd"])
    if res.ok:
        lines = [ln.strip() for ln in res.stdout.splitlines()
                 if nic in ln.split() and "-6" not in ln.split()]
        if lines:
            return [f"DHCP client running: {lines[0]}"]
    return []


@rule("dhcp.live", "The primary NIC holds a DHCP lease now",
      error_codes=("GuestAgentSnapshotTaskStatusError", "ExtensionSnapshotFailedNoNetwork"),
      live_only=True, timeout=30,
      remedy="Let the primary NIC take its address by DHCP (see dhcp.config). If the "
             "configuration already says DHCP, it takes effect at the next reboot or network "
             "restart: do that from the serial console, not over SSH.")
def live(ctx):
    """`proto dhcp` routes on the NIC, else the stack's own status (nmcli, networkctl, wicked,
    a running dhclient/dhcpcd); never the `dynamic` flag, which Azure's infinite leases lack."""
    host = ctx.host
    nic = primary_nic(ctx).name or "eth0"
    try:
        routes = ctx.fact(ip_routes)
    except SkipRule as exc:     # the routing table is this rule's main evidence
        raise CheckError(exc.summary) from None
    addrs = host.run(["ip", "-4", "-o", "addr", "show", "dev", nic], timeout=10)
    shown = [f"address: {a.line}" for a in ip_addr.parse_ip_addr(addrs.stdout if addrs.ok else "")]
    found = _dhcp_evidence(host, nic, routes)
    if found:
        return ok(f"{nic} got its address by DHCP", found + shown)
    if addrs.ok and not shown:
        return fail(f"{nic} has no IPv4 address at all", [f"primary NIC {nic}"])
    try:
        configured = [c.method for c in nic_configs(ctx).configs]
    except SkipRule:
        configured = []
    if configured and all(m == "dhcp" for m in configured):
        return warn(f"{nic} is configured for DHCP but holds no DHCP lease now: the configuration "
                    f"{TAKES_EFFECT.split(';')[0]}", shown)
    return fail(f"{nic} holds no DHCP lease (its address looks static): {WHY_DHCP}", shown)
