"""`rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' NAME...` output. Text in, data out;
nothing here raises."""

from __future__ import annotations

import re
from typing import Dict

from azbdiag.parsers.dpkg_status import Package

RPM_QUERYFORMAT = "%{NAME}\t%{VERSION}-%{RELEASE}\n"


def parse_rpm_query(text) -> Dict[str, Package]:
    """Output of `rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' NAME...`; lines such as
    'package X is not installed' yield a not-installed entry.

    >>> pkgs = parse_rpm_query("WALinuxAgent\\t2.7.0.6-9.el9\\npackage waagent is not installed\\n")
    >>> [(p.name, p.version, p.installed) for p in pkgs.values()]
    [('WALinuxAgent', '2.7.0.6-9.el9', True), ('waagent', '', False)]
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return {}
    out: Dict[str, Package] = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^package (\S+) is not installed$", line)
        if m:
            out.setdefault(m.group(1), Package(m.group(1), "", False, "not installed", "rpm"))
            continue
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] and parts[1] and " " not in parts[0]:
            out[parts[0]] = Package(parts[0], parts[1], True, "installed", "rpm")
    return out
