"""DHCP on the primary NIC (the Networking section of the snapshot-timeout article): the
configuration every network stack has for it, and `fix --dhcp`, which switches it to DHCP.

The agent finds the WireServer (168.63.129.16) through a route or the DHCP lease's option 245;
with a static address in the guest that discovery fails and the backup extension's status never
reaches the platform. Azure hands out the NIC's private IP by DHCP anyway, so the guest must not
pin it. Whether the NIC holds a lease now is rules/dhcp_live.py.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List

from azbdiag.engine import rule
from azbdiag.facts import (
    MANAGERS,
    TAKES_EFFECT,
    WHY_DHCP,
    NicConfig,
    cloud_init_config,
    nic_configs,
    read_network_file,
)
from azbdiag.fix import RefuseFix, WriteFile, fix
from azbdiag.model import fail, ok, warn
from azbdiag.parsers import ifcfg, netplan, nmconnection


def _show(c: NicConfig) -> str:
    where = f"{c.file} line {c.line}" if c.line else c.file
    return f"{c.stack}: {where}: {c.detail}"


def _nm_auto_default(host) -> bool:
    """True when NetworkManager would create its automatic DHCP 'Wired connection'."""
    files = ["/etc/NetworkManager/NetworkManager.conf"] + host.glob("/etc/NetworkManager/conf.d", "*.conf") \
        + host.glob("/usr/lib/NetworkManager/conf.d", "*.conf")
    for path in files:
        for line in (read_network_file(host, path) or "").splitlines():
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
                 or "cloud-init" in (read_network_file(ctx.host, c.file) or "")[:400]]
    if generated:
        return [f"cloud-init wrote {generated[0]}; it may write it again from the Azure metadata "
                f"(which asks for DHCP)"]
    return []


# What to do by hand where `fix --dhcp` does not edit the file (networkd, ifupdown, cloud-init).
BY_HAND = {"networkd": "set DHCP=ipv4 in [Network]",
           "ifupdown": "change it to `iface {name} inet dhcp`",
           "cloud-init": "cloud-init writes the network configuration from it; change the "
                         "cloud-init network config (remove the static one or switch it to dhcp)"}


def _not_fixable(configs: List[NicConfig]):
    """Why `fix --dhcp` cannot change any of `configs` (None when it can edit one)."""
    reasons = []
    for c in configs:
        if c.file.startswith("/run/"):
            reasons.append(f"{c.file} is generated at run time; change its source instead")
        elif c.stack in BY_HAND:
            reasons.append(f"{c.stack} ({c.file}) is not changed automatically: "
                           + BY_HAND[c.stack].format(name=c.name))
        else:
            return None
    return "; ".join(reasons) or None


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
                    evidence, nic=nc.nic, configs=[dataclasses.asdict(c) for c in bad],
                    not_fixable=_not_fixable(bad))
    if unknown and not good:
        return warn(f"cannot tell whether {nc.nic} uses DHCP: {unknown[0].stack} "
                    f"{unknown[0].file} {unknown[0].detail}", evidence,
                    not_fixable=f"azbdiag cannot tell what {unknown[0].file} configures, so "
                                f"it changes nothing; check it by hand")
    if good:
        extra = sorted({a for c in good for a in c.addresses})
        note = f" (static {', '.join(extra)} beside it is fine)" if extra else ""
        return ok(f"{nc.nic} uses DHCP ({', '.join(sorted({c.stack for c in good}))}){note}",
                  evidence)
    nm = (nc.active or {}).get("NetworkManager") if nc.active else ctx.host.which("NetworkManager")
    if nm and _nm_auto_default(ctx.host):
        return ok(f"no profile names {nc.nic}: NetworkManager brings it up with its automatic "
                  f"DHCP 'Wired connection'", evidence)
    return warn(f"found no network configuration for {nc.nic} in any known stack", evidence,
                not_fixable=f"no configuration file names {nc.nic}, so there is nothing to "
                            f"switch to DHCP; configure it with the distribution's network "
                            f"tool")


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
            text = read_network_file(host, path)
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
                hint = BY_HAND.get(stack, "switch it to DHCP by hand").format(name=c["name"])
                raise RefuseFix(f"{stack} ({path}) is not changed automatically: {hint}")
            data = new.encode("utf-8")
            if target == path and data == text.encode("utf-8"):
                continue
            actions.append(WriteFile(target, data, mode=mode,
                                     why=f"{what}; this {TAKES_EFFECT}"))
    return actions
