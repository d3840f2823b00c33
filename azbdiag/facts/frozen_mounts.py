"""The mounts the backup extension freezes, decided the way the extension decides them, and
the mounts a freeze check looks at (those, or exactly the ones given with --mount)."""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence, Tuple

from azbdiag.facts.agent import waagent_conf
from azbdiag.facts.mount_table import mounts, mounts_source
from azbdiag.facts.vmbackup import vmbackup_conf
from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.lsblk import parse_lsblk_pairs
from azbdiag.parsers.mounts import Mount, device_key
from azbdiag.parsers.vmbackup_conf import mounts_to_skip
from azbdiag.parsers.waagent_conf import resource_disk_mount_point

RESOURCE_DISK_LINK = "/dev/disk/azure/resource-part1"

FREEZABLE_TYPES = ("ext3", "ext4", "xfs", "btrfs")
NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre",
                 "fuseblk", "fuse")


def is_network_or_fuse(fstype: str) -> bool:
    """NFS, CIFS, FUSE and friends: the mounts that go stale and hang a stat."""
    return fstype in NETWORK_TYPES or fstype.startswith("fuse.")


def is_loop(m: Mount, lsblk_row: Optional[Dict[str, str]] = None, image: bool = False) -> bool:
    """A loop device, tested by device type as the extension does (fsfreezer.py should_skip:
    lsblk TYPE loop): the lsblk row says loop, the kernel's major number is 7, the source is
    /dev/loopN, or (fstab) the entry mounts an image file, with or without the loop option."""
    if lsblk_row is not None and lsblk_row.get("TYPE") == "loop":
        return True
    return (m.major_minor.startswith("7:") or m.source.startswith("/dev/loop") or image
            or "loop" in m.options or any(o.startswith("loop=") for o in m.options))


def last_per_mount_point(mounts: List[Mount]) -> List[Mount]:
    """Keep only the last-mounted entry of each mount point (the one open() reaches), in
    mount order, as the extension does (Utils/DiskUtil.py get_mount_points)."""
    seen = set()
    kept: List[Mount] = []
    for m in reversed(mounts):
        if m.mount_point in seen:
            continue
        seen.add(m.mount_point)
        kept.append(m)
    return list(reversed(kept))


def _covering(path: str, table: List[Mount], exclude: Mount) -> Optional[Mount]:
    """The mount whose mount point holds `path` (the longest prefix), or None."""
    best = None
    for m in table:
        if m is exclude or m.is_bind:
            continue
        point = m.mount_point.rstrip("/") or "/"
        if path == point or path.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) > len(best.mount_point):
                best = m
    return best


def resolve_binds(table: List[Mount]) -> List[Mount]:
    """fstab only: a bind mount shows the device and type of the mount that holds its
    source, as mount(8) lists it. Other entries are returned unchanged."""
    out = []
    for m in table:
        cover = _covering(m.source, table, m) if m.is_bind and not m.major_minor else None
        if cover is None:
            out.append(m)
            continue
        rel = m.source[len(cover.mount_point.rstrip("/")):] or "/"
        root = (cover.fs_root.rstrip("/") + rel) if cover.fs_root else ""
        out.append(dataclasses.replace(m, source=cover.source, fstype=cover.fstype,
                                       fs_root=root))
    return out


def device_of(m: Mount) -> str:
    """What tells one device from another: major:minor live, offline the fstab source
    spelled one way."""
    return m.major_minor or device_key(m.source)


def named_mount_points(mounts: List[Mount]) -> Dict[str, Mount]:
    """device -> the one mount point lsblk names for it (util-linux lsblk-mnt.c
    lsblk_device_get_mountpoint: the last mount of the device whose file system root is
    "/", else the last mount)."""
    last: Dict[str, Mount] = {}
    last_root: Dict[str, Mount] = {}
    for m in mounts:
        key = device_of(m)
        last[key] = m
        if m.fs_root == "/":
            last_root[key] = m
    return {key: last_root.get(key, m) for key, m in last.items()}


@dataclasses.dataclass
class FreezeList:
    """The mounts the backup extension freezes, in its order, and the ones it leaves out."""
    frozen: List[Mount]                                  # in freeze order, "/" last
    skipped: List[Tuple[Mount, str]]                     # freezable-looking mounts left out
    # Mount points of a file system that is frozen once, through another mount point.
    covered: List[Tuple[Mount, Mount]] = dataclasses.field(default_factory=list)


def freeze_list(mounts: List[Mount], resource_points: Sequence[str] = (),
                skip: Sequence[str] = (),
                lsblk: Optional[List[Dict[str, str]]] = None,
                images: Sequence[str] = ()) -> FreezeList:
    """The mounts the backup extension freezes, in its order.

    main/mounts.py Mounts: the mount table (one entry per mount point, the last mounted),
    only ext3/ext4/xfs/btrfs, only the mount point lsblk names for each device (one per
    device: bind mounts, btrfs subvolumes and a device mounted twice are frozen once), then
    the list reversed. main/fsfreezer.py freeze_safe: "/" held back and frozen last whatever
    MountsToSkip says; the resource disk, loop devices (by type) and MountsToSkip (exact
    strings) left out. `lsblk`: the rows of `lsblk -P` (live); without them the mount point
    lsblk would name is worked out from the table. `images`: fstab sources that are image
    files (loop devices once mounted)."""
    mounts = resolve_binds(mounts)
    table = last_per_mount_point(mounts)
    skip = frozenset(skip)                 # membership tests: linear in the mounts
    resource_points = frozenset(resource_points)
    images = frozenset(images)
    rows = {r.get("MOUNTPOINT", ""): r for r in (lsblk or []) if r.get("MOUNTPOINT")}
    named = named_mount_points([m for m in mounts if m.fstype in FREEZABLE_TYPES])
    skipped: List[Tuple[Mount, str]] = []
    lsblk_named: List[Mount] = []          # the mount points lsblk names, in mount order
    others: List[Mount] = []               # further mount points of those devices
    for m in table:
        if m.fstype not in FREEZABLE_TYPES:
            if m.fstype in ("vfat", "swap") or is_network_or_fuse(m.fstype):
                skipped.append((m, f"type {m.fstype} is never frozen"))
            continue
        if m.line and "noauto" in m.options:
            skipped.append((m, "noauto: not mounted at boot, so not in the list the extension "
                               "reads"))
            continue
        is_named = (m.mount_point in rows) if lsblk is not None else named.get(device_of(m)) is m
        (lsblk_named if is_named else others).append(m)
    frozen: List[Mount] = []
    root: Optional[Mount] = None
    for m in reversed(lsblk_named):
        row = rows.get(m.mount_point)
        fstype = (row or {}).get("FSTYPE") or m.fstype
        if m.mount_point in resource_points and m.mount_point != "/":
            skipped.append((m, "resource disk"))
        elif is_loop(m, row, m.source in images):
            skipped.append((m, "loop device"))
        elif fstype not in FREEZABLE_TYPES:
            skipped.append((m, f"lsblk says type {fstype}, which is never frozen"))
        elif m.mount_point == "/":
            root = m
        elif m.mount_point in skip:
            skipped.append((m, "MountsToSkip"))
        else:
            frozen.append(m)
    if root is not None:
        frozen.append(root)
    by_device = {device_of(m): m for m in lsblk_named}
    frozen_ids = {id(f) for f in frozen}
    covered: List[Tuple[Mount, Mount]] = []
    for m in others:
        through = by_device.get(device_of(m))
        if through is None:
            skipped.append((m, "lsblk does not list this mount point (the extension freezes "
                               "only the mount point lsblk names for a device)"))
        elif id(through) in frozen_ids:
            covered.append((m, through))
        else:
            skipped.append((m, f"the same file system as {through.mount_point}, which is "
                               f"not frozen"))
    return FreezeList(frozen, skipped, covered)


def same_superblock(mounts: List[Mount]) -> List[List[Mount]]:
    """Groups of two or more mount points (distinct paths) of one freezable device: bind
    mounts, btrfs subvolumes, a device mounted twice. The lsblk-named mount point first."""
    groups: Dict[str, List[Mount]] = {}
    table = [m for m in last_per_mount_point(resolve_binds(mounts)) if m.fstype in FREEZABLE_TYPES]
    named = named_mount_points(table)
    for m in table:
        groups.setdefault(device_of(m), []).append(m)
    out = []
    for key, group in groups.items():
        if len({m.mount_point for m in group}) > 1:
            first = named[key]
            out.append([first] + [m for m in group if m is not first])
    return out


def stacked(mounts: List[Mount]) -> List[List[Mount]]:
    """Mount points with more than one mount on them (the last one hides the others)."""
    by_point: dict = {}
    for m in mounts:
        by_point.setdefault(m.mount_point, []).append(m)
    return [g for g in by_point.values() if len(g) > 1 and any(
        x.fstype in FREEZABLE_TYPES or is_network_or_fuse(x.fstype) for x in g)]


# ---- facts -------------------------------------------------------------------------------
def lsblk_rows(host) -> List[Dict[str, str]]:
    """`lsblk -P` rows (live), which the extension crosses with `mount`."""
    if not host.live:
        raise SkipRule(SkipReason.OFFLINE_ROOT, "lsblk describes the running system")
    res = host.run(["lsblk", "-b", "-n", "-P", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"], timeout=15)
    rows = parse_lsblk_pairs(res.stdout) if res.ok else []
    if not any(r.get("MOUNTPOINT") for r in rows):
        raise SkipRule(SkipReason.NO_INPUT, "lsblk lists no mount point")
    return rows


def resource_disk_device(host) -> str:
    """Live: the kernel name of the device /dev/disk/azure/resource-part1 points to ("" when
    there is no such link, or offline)."""
    if not (host.live and host.islink(RESOURCE_DISK_LINK)):
        return ""
    try:
        return os.path.basename(host.readlink(RESOURCE_DISK_LINK))
    except OSError:
        return ""


# ---- derived from facts: functions of ctx, cheap, not cached -----------------------------
def resource_points(ctx) -> List[str]:
    """Mount points of the resource disk: waagent.conf's ResourceDisk.MountPoint, and live the
    mount of the device /dev/disk/azure/resource-part1 points to."""
    try:
        conf = ctx.fact(waagent_conf)[1]
    except SkipRule:            # no or unreadable waagent.conf: the agent's default
        conf = None
    points = [resource_disk_mount_point(conf)]
    name = ctx.fact(resource_disk_device)
    if name:
        points += [m.mount_point for m in ctx.fact(mounts) if os.path.basename(m.source) == name]
    return points


def skip_entries(ctx) -> List[str]:
    """MountsToSkip as the extension splits it ([] when vmbackup.conf is absent or broken)."""
    try:
        conf = ctx.fact(vmbackup_conf)
    except SkipRule:
        return []
    return mounts_to_skip(conf.value("mountstoskip")) if conf.parses else []


def image_sources(host, table: List[Mount]) -> List[str]:
    """Offline: fstab sources that are regular files in the root (mount sets up a loop
    device for them, with or without the loop option)."""
    if host.live:
        return []
    return [m.source for m in table if m.source.startswith("/") and
            not m.source.startswith("/dev/") and host.isfile(m.source)]


def extension_freeze_list(ctx) -> FreezeList:
    """freeze_list() over this machine's facts."""
    table = ctx.fact(mounts)
    points = resource_points(ctx)
    skip = skip_entries(ctx)
    try:
        rows: Optional[List[Dict[str, str]]] = ctx.fact(lsblk_rows)
    except SkipRule:            # offline, or lsblk unusable: the mount table alone decides
        rows = None
    return freeze_list(table, points, skip, rows, image_sources(ctx.host, table))


def freeze_targets(ctx) -> Tuple[List[Mount], List[str]]:
    """The mounts to look at, and notes (for --mount paths that are not mount points)."""
    table = ctx.fact(mounts)
    wanted = [p.rstrip("/") or "/" for p in (ctx.options.get("mounts") or [])]
    if not wanted:
        return extension_freeze_list(ctx).frozen, []
    last = {m.mount_point: m for m in last_per_mount_point(table)}
    found, notes = [], []
    for p in wanted:
        if p in last:
            found.append(last[p])
        else:
            notes.append(f"{p} is not a mount point in the {mounts_source(ctx.host)}")
    return found, notes
