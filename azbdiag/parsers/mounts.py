"""Mount tables: /proc/self/mountinfo (live) and /etc/fstab (offline). Text in, data out."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple


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


# ---- the backup extension's freeze list --------------------------------------------------

FREEZABLE_TYPES = ("ext3", "ext4", "xfs", "btrfs")
NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre",
                 "fuseblk", "fuse")


def is_network_or_fuse(fstype: str) -> bool:
    """NFS, CIFS, FUSE and friends: the mounts that go stale and hang a stat."""
    return fstype in NETWORK_TYPES or fstype.startswith("fuse.")


def is_loop(m: Mount) -> bool:
    return m.source.startswith("/dev/loop")


def last_per_mount_point(mounts: List[Mount]) -> List[Mount]:
    """Keep only the last-mounted entry of each mount point (the one open() reaches), in
    mount order, as the extension does when it de-duplicates."""
    seen = set()
    kept: List[Mount] = []
    for m in reversed(mounts):
        if m.mount_point in seen:
            continue
        seen.add(m.mount_point)
        kept.append(m)
    return list(reversed(kept))


@dataclasses.dataclass
class FreezeList:
    frozen: List[Mount]                                  # in freeze order, "/" last
    skipped: List[Tuple[Mount, str]]                     # freezable-looking mounts left out


def freeze_list(mounts: List[Mount], resource_points: Sequence[str] = (),
                skip: Sequence[str] = (),
                lsblk: Optional[List[Dict[str, str]]] = None) -> FreezeList:
    """The mounts the backup extension freezes: ext3/ext4/xfs/btrfs, not loop devices, not the
    resource disk, not in MountsToSkip (exact strings; "/" cannot be skipped); "/" last.
    With `lsblk` rows (live), only mount points lsblk reports are kept, as the extension
    merges the two lists: lsblk names one mount point per device."""
    frozen: List[Mount] = []
    skipped: List[Tuple[Mount, str]] = []
    root: Optional[Mount] = None
    by_point = {r.get("MOUNTPOINT", ""): r for r in (lsblk or []) if r.get("MOUNTPOINT")}
    for m in last_per_mount_point(mounts):
        if m.fstype not in FREEZABLE_TYPES:
            if m.fstype in ("vfat", "swap") or is_network_or_fuse(m.fstype):
                skipped.append((m, f"type {m.fstype} is never frozen"))
            continue
        row = by_point.get(m.mount_point)
        if lsblk is not None and row is None:
            skipped.append((m, "lsblk does not list this mount point (the extension freezes "
                               "only the mount point lsblk names for a device)"))
        elif is_loop(m) or (row is not None and row.get("TYPE") == "loop"):
            skipped.append((m, "loop device"))
        elif row is not None and row.get("FSTYPE") and row["FSTYPE"] not in FREEZABLE_TYPES:
            skipped.append((m, f"lsblk says type {row['FSTYPE']}, which is never frozen"))
        elif m.mount_point in resource_points and m.mount_point != "/":
            skipped.append((m, "resource disk"))
        elif m.mount_point in skip and m.mount_point != "/":
            skipped.append((m, "MountsToSkip"))
        elif m.mount_point == "/":
            root = m
        else:
            frozen.append(m)
    if root is not None:
        frozen.append(root)
    return FreezeList(frozen, skipped)


def same_superblock(mounts: List[Mount]) -> List[List[Mount]]:
    """Groups of two or more mount points (distinct paths) of one freezable superblock:
    bind mounts or the same device mounted twice."""
    groups: dict = {}
    for m in last_per_mount_point(mounts):
        if m.fstype not in FREEZABLE_TYPES:
            continue
        key = m.major_minor or m.source
        if m.fstype == "btrfs":
            # Subvolumes of one btrfs (the usual SUSE layout) are not duplicates: the extension
            # lists one mount point per device. The same subvolume mounted twice is.
            key = f"{m.source}[{m.fs_root}]"
        groups.setdefault(key, []).append(m)
    return [g for g in groups.values() if len({m.mount_point for m in g}) > 1]


def stacked(mounts: List[Mount]) -> List[List[Mount]]:
    """Mount points with more than one mount on them (the last one hides the others)."""
    by_point: dict = {}
    for m in mounts:
        by_point.setdefault(m.mount_point, []).append(m)
    return [g for g in by_point.values() if len(g) > 1 and any(
        x.fstype in FREEZABLE_TYPES or is_network_or_fuse(x.fstype) for x in g)]
