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
    """One mount: a line of /proc/self/mountinfo (live) or of /etc/fstab (offline)."""
    mount_point: str
    source: str
    fstype: str
    options: List[str]
    # mountinfo only
    mount_id: Optional[int] = None
    parent_id: Optional[int] = None
    major_minor: str = ""
    # The directory of the file system this mount shows (mountinfo's root field). From fstab:
    # "/" for a plain mount, the subvolume for btrfs subvol=, "" when fstab cannot tell (a
    # btrfs default subvolume, a bind mount before it is resolved).
    fs_root: str = "/"
    super_options: List[str] = dataclasses.field(default_factory=list)
    # fstab only
    line: int = 0

    @property
    def is_bind(self) -> bool:
        return "bind" in self.options or "rbind" in self.options

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
        options = (fields[3] if len(fields) > 3 else "defaults").split(",")
        mounts.append(Mount(
            mount_point=unescape(fields[1]),
            source=unescape(fields[0]),
            fstype=fields[2],
            options=options,
            fs_root=fstab_fs_root(fields[2], options),
            line=n,
        ))
    return mounts


def _normpath(path: str) -> str:
    """An absolute path with '.', '..' and repeated slashes resolved (pure string work)."""
    out: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/" + "/".join(out)


def fstab_fs_root(fstype: str, options: List[str]) -> str:
    """The file system directory an fstab entry mounts, as mountinfo would show it: the
    subvolume of a btrfs subvol= (subvolid=5 is the top level), "" where fstab cannot tell
    (btrfs without subvol=, which mounts the default subvolume; bind mounts), else "/".

    >>> fstab_fs_root("btrfs", ["subvol=@/var"]), fstab_fs_root("btrfs", ["defaults"])
    ('/@/var', '')
    >>> fstab_fs_root("btrfs", ["subvolid=5"]), fstab_fs_root("none", ["bind"]), fstab_fs_root("xfs", [])
    ('/', '', '/')
    """
    if "bind" in options or "rbind" in options:
        return ""
    if fstype != "btrfs":
        return "/"
    for opt in options:
        if opt.startswith("subvol="):
            return _normpath(opt[len("subvol="):])
    if "subvolid=5" in options:
        return "/"
    return ""


_BY_LINK = {"UUID": "/dev/disk/by-uuid/", "LABEL": "/dev/disk/by-label/",
            "PARTUUID": "/dev/disk/by-partuuid/", "PARTLABEL": "/dev/disk/by-partlabel/"}
_NOT_VG = {"disk", "mapper", "md", "loop", "block", "char", "shm", "pts", "mqueue", "hugepages",
           "cloud", "azure", "fd", "bus", "snd", "input", "net", "cpu", "dri"}


def device_key(source: str) -> str:
    """One spelling of the device an fstab source names, so that two lines naming one device
    compare equal: UUID=/LABEL=/PARTUUID=/PARTLABEL= and their /dev/disk/by-* links (UUIDs
    case-insensitive), /dev/VG/LV and /dev/mapper/VG-LV.

    >>> device_key("UUID=0B8C-11") == device_key("/dev/disk/by-uuid/0b8c-11")
    True
    >>> device_key("/dev/rootvg/home-lv"), device_key("/dev/mapper/rootvg-home--lv")
    ('/dev/mapper/rootvg-home--lv', '/dev/mapper/rootvg-home--lv')
    >>> device_key("/srv/images/../images/a.img")
    '/srv/images/a.img'
    """
    src = source.strip()
    tag, sep, value = src.partition("=")
    if sep and tag.upper() in _BY_LINK:
        tag = tag.upper()
        src = _BY_LINK[tag] + value.strip('"')
    if src.startswith("/"):
        src = _normpath(src)
    for tag, prefix in _BY_LINK.items():
        if src.startswith(prefix) and tag in ("UUID", "PARTUUID"):
            return src.lower()
    parts = src.split("/")
    if len(parts) == 4 and parts[1] == "dev" and parts[2] not in _NOT_VG and parts[3]:
        return "/dev/mapper/" + parts[2].replace("-", "--") + "-" + parts[3].replace("-", "--")
    return src
