"""ifcfg files: /etc/sysconfig/network-scripts/ifcfg-* (RHEL family) and
/etc/sysconfig/network/ifcfg-* (SUSE): shell variable assignments, how an interface gets its
IPv4 address, and the edit `fix --dhcp` makes. Text in, data out; nothing here raises."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from azbdiag import lazyre
from azbdiag.parsers.ipv4 import ipv4_addresses

_VAR_RE = lazyre.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _shell_value(raw: str) -> str:
    raw = raw.strip()
    if raw and raw[0] in "\"'":
        q = raw[0]
        end = raw.find(q, 1)
        return raw[1:end] if end != -1 else raw[1:]
    return raw.split("#", 1)[0].strip() if " #" in raw or raw.startswith("#") else raw


def parse_shell_vars(text: str) -> Dict[str, Tuple[str, int]]:
    """KEY=value lines (quoted or not) -> {KEY: (value, 1-based line)}; the last one wins.

    >>> parse_shell_vars('DEVICE=eth0\\n# BOOTPROTO=dhcp\\nBOOTPROTO="none"\\nIPADDR=10.0.0.5\\n')
    {'DEVICE': ('eth0', 1), 'BOOTPROTO': ('none', 3), 'IPADDR': ('10.0.0.5', 4)}
    """
    out: Dict[str, Tuple[str, int]] = {}
    if not isinstance(text, str):
        return out
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        m = _VAR_RE.match(line)
        if m:
            out[m.group(1)] = (_shell_value(m.group(2)), number)
    return out


def ifcfg_method(vars_: Dict[str, Tuple[str, int]],
                 suse: bool = False) -> Tuple[str, List[str], str, Optional[int]]:
    """(dhcp | static | disabled, IPv4 addresses, detail, line of BOOTPROTO) of parsed ifcfg
    variables; SUSE spells DHCP as dhcp, dhcp4 or dhcp+autoip and so on.

    >>> ifcfg_method(parse_shell_vars("BOOTPROTO=none\\nIPADDR=10.0.0.5\\nPREFIX=24\\n"))
    ('static', ['10.0.0.5'], 'BOOTPROTO=none, IPADDR=10.0.0.5', 1)
    >>> ifcfg_method(parse_shell_vars("BOOTPROTO='dhcp4+autoip'\\n"), suse=True)[0]
    'dhcp'
    """
    boot, line = vars_.get("BOOTPROTO", ("", None))
    value = boot.strip().lower()
    addresses = []
    for key in sorted(vars_):
        if re.match(r"^IPADDR(_?\w*)?$", key):
            addresses += ipv4_addresses([vars_[key][0].strip()])
    shown = f"BOOTPROTO={boot}" if line else "no BOOTPROTO"
    if suse:
        words = set(value.split("+"))
        if "dhcp" in words or "dhcp4" in words:
            return "dhcp", addresses, shown, line
        if addresses:
            return "static", addresses, f"{shown}, IPADDR={', '.join(addresses)}", line
        return "disabled", [], f"{shown} and no IPADDR", line
    if value in ("dhcp", "bootp"):
        return "dhcp", addresses, shown, line
    if addresses:
        return "static", addresses, f"{shown}, IPADDR={', '.join(addresses)}", line
    return "disabled", [], f"{shown} and no IPADDR (IPv4 off)", line


def ifcfg_set_dhcp(text: str, suse: bool = False) -> str:
    """Set BOOTPROTO to dhcp, keeping the quoting style and every other line (appends the
    variable when it is missing).

    >>> ifcfg_set_dhcp('DEVICE=eth0\\nBOOTPROTO="static"\\nIPADDR=10.0.0.5\\n')
    'DEVICE=eth0\\nBOOTPROTO="dhcp"\\nIPADDR=10.0.0.5\\n'
    >>> ifcfg_set_dhcp("IPADDR='10.0.0.5/24'", suse=True)
    "IPADDR='10.0.0.5/24'\\nBOOTPROTO='dhcp'\\n"
    """
    lines = text.splitlines(keepends=True)
    value = "dhcp"
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if line.lstrip().startswith("#"):
            continue
        m = _VAR_RE.match(line.rstrip("\r\n"))
        if m and m.group(1) == "BOOTPROTO":
            raw = m.group(2).strip()
            quote = raw[0] if raw and raw[0] in "\"'" else ""
            ending = line[len(line.rstrip("\r\n")):] or "\n"
            prefix = line[:line.index("BOOTPROTO")]
            lines[i] = f"{prefix}BOOTPROTO={quote}{value}{quote}{ending}"
            return "".join(lines)
    quote = "'" if suse else ""
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    lines.append(f"BOOTPROTO={quote}{value}{quote}\n")
    return "".join(lines)

