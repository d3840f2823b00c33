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
from azbdiag.parsers.mounts import Mount
from azbdiag.parsers.vmbackup_conf import mounts_to_skip
from azbdiag.parsers.waagent_conf import resource_disk_mount_point

RESOURCE_DISK_LINK = "/dev/disk/azure/resource-part1"

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


def extension_freeze_list(ctx) -> FreezeList:
    """freeze_list() over this machine's facts."""
    table = ctx.fact(mounts)
    points = resource_points(ctx)
    skip = skip_entries(ctx)
    try:
        rows: Optional[List[Dict[str, str]]] = ctx.fact(lsblk_rows)
    except SkipRule:            # offline, or lsblk unusable: the mount table alone decides
        rows = None
    return freeze_list(table, points, skip, rows)


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
