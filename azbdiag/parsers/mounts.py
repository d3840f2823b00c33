"""Mount tables: /proc/self/mountinfo (live) and /etc/fstab (offline). Text in, data out."""

from __future__ import annotations

import dataclasses
from typing import List, Optional


def unescape(field: str) -> str:
    """Undo the octal escapes (\\040 for a space) the kernel and fstab use in paths.

    >>> unescape("/mnt/my\\\\040disk")
    '/mnt/my disk'
    """
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 0 and field[i + 1:i + 4].isdigit():
            try:
                code = int(field[i + 1:i + 4], 8)
            except ValueError:
                code = 0
            if 0 < code < 256:      # never make a NUL (no path can hold one)
                out.append(chr(code))
                i += 4
                continue
        out.append(field[i])
        i += 1
    return "".join(out)


@dataclasses.dataclass
class Mount:
    mount_point: str
    source: str
    fstype: str
    options: List[str]
    # mountinfo only
    mount_id: Optional[int] = None
    parent_id: Optional[int] = None
    major_minor: str = ""
    fs_root: str = "/"
    super_options: List[str] = dataclasses.field(default_factory=list)
    # fstab only
    line: int = 0

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def parse_mountinfo(text: str) -> List[Mount]:
    """Parse /proc/<pid>/mountinfo; malformed lines are skipped.

    >>> m = parse_mountinfo("29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,discard\\n")[0]
    >>> m.mount_point, m.source, m.fstype, m.options, m.major_minor, m.super_options
    ('/', '/dev/sda1', 'ext4', ['rw', 'relatime'], '8:1', ['rw', 'discard'])
    """
    mounts: List[Mount] = []
    for line in (text or "").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 6 or len(fields) < sep + 3:
            continue
        try:
            mount_id, parent_id = int(fields[0]), int(fields[1])
        except ValueError:
            continue
        post = fields[sep + 1:]
        mounts.append(Mount(
            mount_point=unescape(fields[4]),
            source=unescape(post[1]),
            fstype=post[0],
            options=fields[5].split(","),
            mount_id=mount_id,
            parent_id=parent_id,
            major_minor=fields[2],
            fs_root=unescape(fields[3]),
            super_options=post[2].split(",") if len(post) > 2 else [],
        ))
    return mounts


def parse_fstab(text: str) -> List[Mount]:
    """Parse /etc/fstab; comments, blank and malformed lines are skipped.

    >>> [(m.mount_point, m.fstype, m.options, m.line) for m in parse_fstab(
    ...     "# <file system> <mount point> <type> <options>\\n"
    ...     "UUID=0a3407de / ext4 defaults,discard 0 1\\n/dev/sdb1 /data xfs\\n")]
    [('/', 'ext4', ['defaults', 'discard'], 2), ('/data', 'xfs', ['defaults'], 3)]
    """
    mounts: List[Mount] = []
    for n, line in enumerate((text or "").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 3:
            continue
        mounts.append(Mount(
            mount_point=unescape(fields[1]),
            source=unescape(fields[0]),
            fstype=fields[2],
            options=(fields[3] if len(fields) > 3 else "defaults").split(","),
            line=n,
        ))
    return mounts
