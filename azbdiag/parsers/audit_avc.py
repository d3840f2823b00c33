"""Audit AVC records: raw /var/log/audit/audit.log lines, the kernel log's `audit:
type=1400` lines and `ausearch -i` output. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from azbdiag import lazyre


@dataclasses.dataclass
class Avc:
    """One SELinux AVC record: the line, its permissions and key=value fields, the time
    (seconds since the epoch) and the audit serial from msg=audit(TIME:SERIAL)."""
    line: str
    denied: bool = True
    perms: List[str] = dataclasses.field(default_factory=list)
    fields: Dict[str, str] = dataclasses.field(default_factory=dict)
    timestamp: Optional[float] = None
    serial: Optional[str] = None

    def get(self, key: str) -> Optional[str]:
        """A field of the record (the first one when repeated), or None."""
        return self.fields.get(key)

    @property
    def comm(self) -> Optional[str]:
        return self.fields.get("comm")

    @property
    def target(self) -> Optional[str]:
        return self.fields.get("path") or self.fields.get("name")

    @property
    def scontext(self) -> Optional[str]:
        return self.fields.get("scontext")

    @property
    def permissive(self) -> Optional[bool]:
        value = self.fields.get("permissive")
        return None if value is None else value.strip() == "1"


_AVC_RE = lazyre.compile(r"avc:\s+(?P<verdict>denied|granted)\s+\{(?P<perms>[^}]*)\}\s+for\s+(?P<rest>.*)$")
_STAMP_RE = lazyre.compile(r"audit\((?P<stamp>[^)]*?):(?P<serial>\d+)\)")
_FIELD_RE = lazyre.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)")


def _stamp(raw: str) -> Optional[float]:
    try:
        value = float(raw)
    except ValueError:
        return None  # ausearch -i prints a local date here; keep the line, drop the time
    return value if value == value and 0 <= value < 1e11 else None


def parse_avc_line(line: str) -> Optional[Avc]:
    """One AVC record: raw audit.log, the kernel log (`audit: type=1400 ...`), or
    `ausearch -i` output. Enriched fields after the 0x1d separator are dropped.

    >>> avc = parse_avc_line('type=AVC msg=audit(1700000000.123:4567): avc:  denied  { ioctl } '
    ...     'for  pid=1234 comm="safefreeze" path="/data" dev="sdc1" ino=2 ioctlcmd=0x5877 '
    ...     'scontext=system_u:system_r:backup_t:s0 tcontext=system_u:object_r:default_t:s0 '
    ...     'tclass=dir permissive=0')
    >>> avc.perms, avc.comm, avc.target, avc.permissive, avc.serial, ioctl_name(avc)
    (['ioctl'], 'safefreeze', '/data', False, '4567', 'FIFREEZE')
    """
    if not isinstance(line, str) or "avc:" not in line:
        return None
    line = line.split("\x1d", 1)[0].rstrip("\r\n")
    m = _AVC_RE.search(line)
    if not m:
        return None
    avc = Avc(line=line.strip(), denied=m.group("verdict") == "denied",
              perms=m.group("perms").split())
    for key, value in _FIELD_RE.findall(m.group("rest")):
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        avc.fields.setdefault(key, value)
    s = _STAMP_RE.search(line[:m.start()])
    if s:
        avc.timestamp = _stamp(s.group("stamp"))
        avc.serial = s.group("serial")
    return avc


def parse_avcs(text: str) -> List[Avc]:
    """Every AVC denial in a log text.

    >>> [a.comm for a in parse_avcs(
    ...     "type=SYSCALL msg=audit(1.0:1): arch=c000003e\\n"
    ...     "[  12.3] audit: type=1400 audit(1700000002.5:99): avc:  denied  { search } for  pid=77 "
    ...     'comm="python3" name="waagent" scontext=system_u:system_r:init_t:s0 tclass=dir\\n')]
    ['python3']
    """
    out: List[Avc] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        avc = parse_avc_line(line)
        if avc is not None and avc.denied:
            out.append(avc)
    return out


FIFREEZE_CMD = "0x5877"   # _IOWR('X', 119, int): the AVC shows the low 16 bits
FITHAW_CMD = "0x5878"


def ioctl_name(avc: Avc) -> Optional[str]:
    """FIFREEZE or FITHAW when the denial is for that ioctl, else None.

    >>> ioctl_name(Avc("", fields={"ioctlcmd": "0x5878"}))
    'FITHAW'
    """
    cmd = (avc.get("ioctlcmd") or "").lower()
    if cmd in (FIFREEZE_CMD, "0xc0045877"):
        return "FIFREEZE"
    if cmd in (FITHAW_CMD, "0xc0045878"):
        return "FITHAW"
    return None
