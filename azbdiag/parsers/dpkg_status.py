"""/var/lib/dpkg/status, Debian's package database. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, Iterable, Optional


@dataclasses.dataclass
class Package:
    """One package as the dpkg status file or an rpm query lists it."""
    name: str
    version: str
    installed: bool
    status: str = ""
    source: str = ""        # "dpkg" or "rpm"


def parse_dpkg_status(text, wanted: Optional[Iterable[str]] = None) -> Dict[str, Package]:
    """Stanzas of /var/lib/dpkg/status. A package counts as installed when its Status is
    'install ok installed' (removed packages keep a stanza with 'deinstall ok config-files').
    With `wanted`, only those names are kept (the file can be large).

    >>> pkgs = parse_dpkg_status("Package: walinuxagent\\nStatus: install ok installed\\n"
    ...                          "Version: 2.9.1.1-0ubuntu1~22.04\\n\\n"
    ...                          "Package: waagent\\nStatus: deinstall ok config-files\\n"
    ...                          "Version: 2.2.45-1\\n", wanted=["walinuxagent", "waagent"])
    >>> [(p.name, p.version, p.installed) for p in pkgs.values()]
    [('walinuxagent', '2.9.1.1-0ubuntu1~22.04', True), ('waagent', '2.2.45-1', False)]
    """
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
