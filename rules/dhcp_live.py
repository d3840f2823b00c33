"""Whether the primary NIC holds a DHCP lease now (live only). Leases on Azure are infinite, so
`ip addr` shows no `dynamic` flag even for a DHCP address: the check looks at `proto dhcp`
routes and the network stack's own status instead. The configuration is rules/dhcp.py."""

from __future__ import annotations

from typing import List

from azbdiag.engine import rule
from azbdiag.facts import TAKES_EFFECT, WHY_DHCP, ip_routes, nic_configs, primary_nic
from azbdiag.model import CheckError, SkipRule, fail, ok, warn
from azbdiag.parsers import ip_addr, networkctl, nmcli, wicked


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
