"""Package databases: Debian's dpkg status file and `rpm -q` output. Text in, data out;
nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, Iterable, Optional


@dataclasses.dataclass
class Package:
    name: str
    version: str
    installed: bool
    status: str = ""
    source: str = ""        # "dpkg" or "rpm"


def parse_dpkg_status(text, wanted: Optional[Iterable[str]] = None) -> Dict[str, Package]:
    """Stanzas of /var/lib/dpkg/status. A package counts as installed when its Status is
    'install ok installed' (removed packages keep a stanza with 'deinstall ok config-files').
    With `wanted`, only those names are kept (the file can be large)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return {}
    names = set(wanted) if wanted is not None else None
    out: Dict[str, Package] = {}
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: Dict[str, str] = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t":
                continue
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
        name = fields.get("package")
        if not name or (names is not None and name not in names):
            continue
        status = fields.get("status", "")
        words = status.split()
        installed = len(words) == 3 and words[2] == "installed"
        pkg = Package(name, fields.get("version", ""), installed, status, "dpkg")
        # Multi-arch packages can appear more than once; an installed stanza wins.
        if name not in out or (installed and not out[name].installed):
            out[name] = pkg
    return out


RPM_QUERYFORMAT = "%{NAME}\t%{VERSION}-%{RELEASE}\n"


def parse_rpm_query(text) -> Dict[str, Package]:
    """Output of `rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' NAME...`; lines such as
    'package X is not installed' yield a not-installed entry."""
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
