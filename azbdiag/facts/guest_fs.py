"""The OS disk's file systems seen from a rescue VM, and the guest mount point each stands for.

Two ways in: mounted at --root and below on this machine (`az vm repair create` mounts the disk
under /rescue), or not mounted at all on a disk given with --disk. Either way the guest's own
/etc/fstab says which file system is which where it can be read (UUID=, LABEL=, PARTUUID=,
/dev/mapper names), resolved among the devices of the guest's disk only: a VM made from the
same image as the rescue VM carries the same UUIDs and labels as the rescue VM's own disk.
Pure functions over facts (block_devices); nothing here runs a command.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from azbdiag.facts.block_devices import BlockDevice, Topology, guest_path, resolve_source, under
from azbdiag.facts.frozen_mounts import FREEZABLE_TYPES, is_network_or_fuse
from azbdiag.parsers.mounts import Mount

CHECKED_TYPES = ("ext2",) + FREEZABLE_TYPES          # ext2 ext3 ext4 xfs btrfs
# What a chroot on the rescue VM binds under the root: not the OS disk's, never a finding.
PSEUDO_TYPES = ("proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "securityfs", "cgroup",
                "cgroup2", "pstore", "efivarfs", "bpf", "tracefs", "debugfs", "mqueue",
                "hugetlbfs", "configfs", "fusectl", "binfmt_misc", "autofs", "rpc_pipefs",
                "selinuxfs", "nsfs", "ramfs", "overlay", "squashfs")


@dataclasses.dataclass
class GuestFs:
    """One file system of the OS disk."""
    device: str                         # /dev/sdc2, /dev/mapper/rootvg-varlv
    kname: str
    fstype: str
    disks: List[str]                    # /dev/sdc: the whole disk(s) it lives on
    guest_point: str = ""               # where the guest mounts it ("" when unknown)
    guest_points: List[str] = dataclasses.field(default_factory=list)
    mounted_at: List[str] = dataclasses.field(default_factory=list)   # this machine, under R
    outside_mounts: List[str] = dataclasses.field(default_factory=list)
    fstab_line: int = 0
    fstab_source: str = ""
    options: List[str] = dataclasses.field(default_factory=list)      # the rescue mount's
    super_options: List[str] = dataclasses.field(default_factory=list)
    uuid: str = ""
    label: str = ""
    vg: str = ""
    lv: str = ""
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def under_root(self) -> bool:
        return bool(self.mounted_at)

    def where(self) -> str:
        """How a reader finds it: the guest mount point, then the device."""
        point = self.guest_point or "(guest mount point unknown)"
        at = f" at {self.mounted_at[0]}" if self.mounted_at else ""
        return f"{point} = {self.device} ({self.fstype}){at}"

    def as_data(self) -> dict:
        """What a fix planner needs (the device, where it is mounted and how, and where the
        guest mounts it)."""
        data = dataclasses.asdict(self)
        data["under_root"] = self.under_root
        return data


def _lvm_names(dev: BlockDevice) -> Tuple[str, str]:
    """(VG, LV) from a device-mapper name (rootvg-var--lv -> rootvg, var-lv)."""
    if dev.type != "lvm":
        return "", ""
    name, i, parts, cur = dev.name, 0, [], ""
    while i < len(name):
        if name[i] == "-":
            if name[i:i + 2] == "--":
                cur += "-"
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += name[i]
        i += 1
    parts.append(cur)
    return (parts[0], "-".join(parts[1:])) if len(parts) >= 2 else ("", "")


def _new(dev: BlockDevice, topo: Topology, fstype: str = "") -> GuestFs:
    vg, lv = _lvm_names(dev)
    return GuestFs(device=dev.path, kname=dev.kname, fstype=fstype or dev.fstype,
                   disks=sorted(f"/dev/{k}" for k in topo.disks_of(dev.kname)),
                   uuid=dev.uuid, label=dev.label, vg=vg, lv=lv)


def _kernel_name(source: str) -> bool:
    return source.startswith("/dev/") and not source.startswith(("/dev/disk/", "/dev/mapper/")) \
        and source.count("/") == 2


def map_fstab(found: List[GuestFs], fstab: Sequence[Mount], candidates: List[BlockDevice],
              by_path: bool) -> List[str]:
    """Fill each file system's guest mount point from the guest's fstab; returns notes.

    `by_path`: the file systems are mounted under the root, whose paths say the guest mount
    points already; fstab confirms them, or says otherwise (a note), and names the lines."""
    notes: List[str] = []
    by_kname: Dict[str, GuestFs] = {g.kname: g for g in found}
    named: Dict[str, List[Mount]] = {}
    for entry in fstab:
        if entry.fstype not in CHECKED_TYPES and entry.fstype != "auto":
            continue
        hits = resolve_source(entry.source, candidates)
        if len(hits) == 1 and hits[0].kname in by_kname:
            named.setdefault(hits[0].kname, []).append(entry)
            continue
        if len(hits) > 1:
            notes.append(f"fstab line {entry.line}: {entry.source} names "
                         f"{len(hits)} devices on the disk ({', '.join(h.path for h in hits)})")
            continue
        if entry.fstype not in CHECKED_TYPES or "noauto" in entry.options or any(
                entry.mount_point in g.guest_points for g in found) or (hits and not by_path):
            continue
        what = f"the guest's {entry.mount_point} (fstab line {entry.line}: {entry.source})"
        if hits:
            notes.append(f"{what} is {hits[0].path}, not mounted under the root: not checked "
                         f"(mount it there, or check its disk with --disk)")
        elif _kernel_name(entry.source):
            notes.append(f"{what} names a kernel device, which the rescue VM names "
                         f"differently: not matched")
        else:
            notes.append(f"{what} is not " + ("mounted under the root" if by_path else
                                              "on the disk(s) given") + ": not checked")
    for kname, entries in named.items():
        g = by_kname[kname]
        points = [e.mount_point for e in entries]
        if by_path and g.guest_points and not set(points) & set(g.guest_points):
            g.notes.append(f"mounted at {g.mounted_at[0]}, but the guest's fstab mounts "
                           f"{g.device} at {', '.join(points)} (line {entries[0].line})")
        chosen = next((e for e in entries if e.mount_point == g.guest_point), None) or next(
            (e for e in entries if e.mount_point in g.guest_points), entries[0])
        # The guest's fstab, resolved on the guest's disk, is what the guest mounts where.
        g.fstab_line, g.fstab_source, g.guest_point = chosen.line, chosen.source, chosen.mount_point
        g.guest_points += [p for p in points if p not in g.guest_points]
    return notes


def rescue_filesystems(root: str, mounts: List[Mount], topo: Topology,
                       fstab: Optional[Sequence[Mount]]) -> Tuple[List[GuestFs], List[str]]:
    """The OS disk's file systems mounted at `root` (real path) and below on this machine, with
    notes on what is left out (network and FUSE mounts are named, never touched)."""
    notes: List[str] = []
    found: Dict[str, GuestFs] = {}
    order: List[str] = []
    tops: Dict[str, Mount] = {}
    for m in mounts:                          # the last mount on a path is the one seen
        if under(m.mount_point, root):
            tops[m.mount_point] = m
    for point, m in tops.items():
        gpoint = guest_path(point, root)
        if is_network_or_fuse(m.fstype):
            notes.append(f"{gpoint}: {m.fstype} mount at {point} is not checked (network and "
                         f"FUSE mounts are never touched)")
            continue
        if m.fstype in PSEUDO_TYPES or m.fstype not in CHECKED_TYPES:
            if m.fstype not in PSEUDO_TYPES:
                notes.append(f"{gpoint}: {m.fstype} is never frozen by the backup; not checked")
            continue
        dev = topo.of_mount(m)
        if dev is None:
            notes.append(f"{gpoint}: {m.source} at {point} is not a block device this machine "
                         f"lists; not checked")
            continue
        g = found.get(dev.kname)
        if g is None:
            g = found[dev.kname] = _new(dev, topo, m.fstype)
            order.append(dev.kname)
            g.options, g.super_options = list(m.options), list(m.super_options)
        g.mounted_at.append(point)
        g.guest_points.append(gpoint)
        if m.fs_root in ("/", "") and not g.guest_point:   # the file system's top, not a
            g.guest_point = gpoint                         # subvolume or bind of a directory
    for g in found.values():
        g.guest_point = g.guest_point or g.guest_points[0]
        dev = topo.by_kname.get(g.kname)
        g.outside_mounts = sorted({m.mount_point for m in mounts if not under(m.mount_point, root)
                                   and dev is not None and topo.of_mount(m) is dev})
    gfs = [found[k] for k in order]
    if fstab is not None:
        disks = {d for g in gfs for d in topo.disks_of(g.kname)}
        candidates = [d for k in sorted(disks) for d in topo.descendants(k)]
        notes += map_fstab(gfs, fstab, candidates, by_path=True)
    return gfs, notes


def disk_filesystems(disk_knames: Sequence[str], topo: Topology, mounted: Dict[str, List[str]],
                     fstab: Optional[Sequence[Mount]]) -> Tuple[List[GuestFs], List[str]]:
    """The file systems on the disks `disk_knames` that are not mounted (`mounted`: kname ->
    this machine's mount points), with notes on the rest of what is on them."""
    notes: List[str] = []
    gfs: List[GuestFs] = []
    candidates: List[BlockDevice] = []
    for disk in disk_knames:
        for dev in topo.descendants(disk):
            if dev in candidates:
                continue
            candidates.append(dev)
            if dev.kname in mounted:
                if dev.fstype in CHECKED_TYPES:
                    notes.append(f"{dev.path} is mounted at {mounted[dev.kname][0]}: checked by "
                                 f"freeze.rescue_fs_state, not here")
                continue
            if dev.fstype in CHECKED_TYPES:
                gfs.append(_new(dev, topo))
            elif dev.fstype == "crypto_LUKS":
                notes.append(f"{dev.path} is encrypted (crypto_LUKS): azbdiag does not unlock "
                             f"disks; unlock it (for Azure Disk Encryption, as the rescue "
                             f"documentation says) and give the opened device's disk")
            elif dev.fstype in ("vfat", "swap"):
                notes.append(f"{dev.path}: {dev.fstype}, never frozen by the backup; not checked")
            elif dev.fstype == "LVM2_member" and not topo.children(dev.kname):
                notes.append(f"{dev.path}: an LVM physical volume whose logical volumes are "
                             f"not active")
    if fstab is not None:
        notes += map_fstab(gfs, fstab, candidates, by_path=False)
    return gfs, notes


@dataclasses.dataclass
class DiskSet:
    """The disks given with --disk, prepared by azbdiag/disks.py before the rules run: what to
    check on them, and what was done to read them (handed to freeze.disk_fs_state in the run's
    options)."""
    disks: List[str]                                   # /dev/sdc, as given
    filesystems: List[GuestFs] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)
    fstab_from: str = ""                               # where the guest's fstab was read
    activated: List[str] = dataclasses.field(default_factory=list)   # VGs azbdiag activated
