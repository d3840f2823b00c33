"""An OS disk's file systems checked from a rescue VM (UserErrorFsFreezeFailed): those mounted at
--root and below (`az vm repair create` mounts the disk under /rescue), and those not mounted on
a disk given with --disk, each with the guest mount point it stands for.

What is mounted where, the block devices and the kernel log are the rescue machine's: they come
from azbdiag.facts.block_devices (a live view of this machine), never from under --root. The
guest's /etc/fstab comes from the root. Every check only reads (azbdiag.facts.fs_checks).

`fix --freeze` offline: azbdiag/fix/offline_fs.py plans the repair of what these rules find
(plan_freeze in rules/fs_errors.py hands over to it with --root or --disk).
"""

from __future__ import annotations

from typing import List, Tuple

from azbdiag.engine import rule
from azbdiag.facts import (
    GuestFs,
    Topology,
    block_devices,
    machine_kernel_log,
    machine_mounts,
    mounted_fs_state,
    real_root,
    rescue_filesystems,
    unmounted_fs_state,
)
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.mounts import parse_fstab

CODES = ("UserErrorFsFreezeFailed",)
REPAIR = ("`sudo azbdiag fix --freeze --root R` (mounted under R) or `--disk DEVICE` (not "
          "mounted) repairs ext2/3/4 and xfs and mounts back what it unmounted. By hand: "
          "repair each file system that is not clean while it is not mounted: ext2/3/4 with "
          "`e2fsck -f DEVICE`, xfs with `xfs_repair DEVICE` (mount and unmount it once first "
          "when its log is dirty), btrfs with `btrfs check --readonly` first and --repair only "
          "with a backup; then detach the disk and start the VM.")


def _entry(g: GuestFs, verdict: str, detail: str) -> dict:
    data = g.as_data()
    data.update(verdict=verdict, detail=detail)
    return data


def _judge(checked: List[Tuple[GuestFs, str, str]], notes: List[str], what: str):
    """One result over the (file system, verdict, detail) of each file system."""
    label = {"bad": "NOT CLEAN", "suspect": "not clean yet", "unknown": "unknown", "ok": "clean"}
    evidence = []
    for verdict in ("bad", "suspect", "unknown", "ok"):
        evidence += [f"{label[verdict]} {g.where()}: {d}" + (f" ({'; '.join(g.notes)})"
                                                             if g.notes else "")
                     for g, v, d in checked if v == verdict]
    evidence += notes
    data = {"filesystems": [_entry(g, v, d) for g, v, d in checked]}
    data["bad"] = [e for e in data["filesystems"] if e["verdict"] == "bad"]
    counts = {v: sum(1 for _, x, _ in checked if x == v) for v in label}
    if counts["bad"]:
        return fail(f"{counts['bad']} file system(s) of the OS disk {what} are not clean; the "
                    f"backup's freeze can fail on them", evidence, **data)
    if counts["unknown"] and not (counts["ok"] or counts["suspect"]):
        raise CheckError("; ".join(d for _, v, d in checked if v == "unknown"))
    if counts["suspect"] or counts["unknown"]:
        parts = [f"{counts['suspect']} still have a journal or log to replay"] if counts[
            "suspect"] else []
        parts += [f"{counts['unknown']} could not be checked"] if counts["unknown"] else []
        return warn(f"file systems of the OS disk {what}: " + ", ".join(parts), evidence, **data)
    return ok(f"{counts['ok']} file system(s) of the OS disk {what} are clean", evidence, **data)


@rule("freeze.rescue_fs_state", "File systems of the OS disk mounted under --root are clean",
      error_codes=CODES, needs_root=True, fix="freeze", timeout=150,
      remedy="From the rescue VM: " + REPAIR)
def rescue_fs_state(ctx):
    """Offline, on a rescue VM: the file systems mounted at --root and below (ext2/3/4 by the
    superblock, xfs by this machine's kernel log since the mount and xfs_repair -n when mounted
    read-only, btrfs by its error counters), each mapped to the guest mount point it stands for
    through the guest's fstab."""
    host = ctx.host
    if host.live:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "runs with --root on a rescue VM; on the "
                                                  "running system freeze.fs_state checks")
    root = real_root(host)
    mounts = ctx.fact(machine_mounts)
    fstab_text = host.try_read_text("/etc/fstab")
    fstab = parse_fstab(fstab_text) if fstab_text is not None else None
    if not any(m.mount_point == root or m.mount_point.startswith(root + "/") for m in mounts):
        raise SkipRule(SkipReason.NOT_APPLICABLE,
                       f"nothing is mounted at {root} or below on this machine: its files are "
                       f"not a mounted OS disk")
    topo = Topology(ctx.fact(block_devices))
    found, notes = rescue_filesystems(root, mounts, topo, fstab)
    if fstab is None:
        notes.append("the guest's /etc/fstab is missing: guest mount points are taken from "
                     "the paths under the root")
    if not found:
        raise SkipRule(SkipReason.NOT_APPLICABLE, f"no ext2/3/4, xfs or btrfs file system is "
                                                  f"mounted at {root} or below" + (
                                                      f" ({notes[0]})" if notes else ""))
    try:
        klog = ctx.fact(machine_kernel_log)
    except (CheckError, SkipRule):
        klog = None
    checked = []
    for g in found:
        if g.outside_mounts:
            g.notes.append(f"also mounted at {', '.join(g.outside_mounts[:3])} outside the root")
        verdict, detail = mounted_fs_state(host, g.device, g.kname, g.fstype, g.mounted_at[0],
                                           g.super_options, klog)
        checked.append((g, verdict, detail))
    return _judge(checked, notes, f"under {root}")


@rule("freeze.disk_fs_state", "File systems on the disks given with --disk are clean",
      error_codes=CODES, needs_root=True, fix="freeze", timeout=3600,
      remedy="On the rescue VM, with the disk attached and its file systems not mounted: "
             + REPAIR)
def disk_fs_state(ctx):
    """`check --disk DEV` on a rescue VM: each ext2/3/4, xfs and btrfs file system of the disk
    (partitions and LVM volumes) that is not mounted, by a read-only check (e2fsck -f -n with
    the superblock's state, xfs_repair -n, btrfs check --readonly), named by the guest mount
    point its fstab gives it."""
    disks = ctx.options.get("disks")
    if not disks:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "no --disk given")
    notes = list(disks.notes)
    if disks.fstab_from:
        notes.append(f"the guest's fstab: {disks.fstab_from}")
    if not disks.filesystems:
        raise SkipRule(SkipReason.NOT_APPLICABLE,
                       f"no unmounted ext2/3/4, xfs or btrfs file system on "
                       f"{', '.join(disks.disks)}" + (f" ({notes[0]})" if notes else ""))
    checked = []
    for g in disks.filesystems:
        verdict, detail = unmounted_fs_state(ctx.host, g.device, g.fstype)
        checked.append((g, verdict, detail))
    return _judge(checked, notes, f"on {', '.join(disks.disks)}")
