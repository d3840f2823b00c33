"""File systems the backup cannot freeze because they are not clean (UserErrorFsFreezeFailed):
the superblock's state, a remount read-only after errors, errors in the kernel log; and
`azbdiag fix --freeze`, which unmounts, checks, repairs and mounts them again.

The mounts checked are those freeze.mount_list names, or exactly the ones given with --mount.
"""

from __future__ import annotations

from typing import Tuple

from azbdiag.engine import rule
from azbdiag.facts import (
    freeze_targets,
    kernel_name,
    machine_kernel_log,
    mount_holders,
    mounted_fs_state,
    mounts,
    uses_grubby,
)
from azbdiag.fix import RefuseFix, RepairFilesystem, fix
from azbdiag.fix.boot_check import plan_boot_check
from azbdiag.fix.mounts import remount_options
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.kernel_log import errors_since_mount
from azbdiag.parsers.mounts import Mount, parse_fstab, parse_mountinfo

CODES = ("UserErrorFsFreezeFailed",)
RESCUE = ("or repair it from a rescue VM (for example `az vm repair create`), where the disk is "
          "attached but not mounted and can be checked and repaired safely")


# ---- facts -------------------------------------------------------------------------------

def device_of(host, m: Mount) -> str:
    name = kernel_name(host, m)
    return f"/dev/{name}" if name and host.live else m.source


# The kernel log of the machine azbdiag runs on (live, this VM's).
kernel_log = machine_kernel_log


# ---- freeze.fs_state and freeze.read_only ------------------------------------------------

def _state(ctx, m: Mount, klog) -> Tuple[str, str]:
    """('bad'|'ok'|'unknown'|'absent', detail) for one mount; absent: no device node here."""
    host = ctx.host
    dev = device_of(host, m)
    verdict, detail = mounted_fs_state(host, dev, kernel_name(host, m), m.fstype,
                                       m.mount_point, m.super_options, klog)
    if verdict == "unknown" and m.fstype in ("ext2", "ext3", "ext4") and host.live \
            and not host.exists(dev):
        # A container sees the host's mounts but not its block devices (tune2fs then says
        # "Couldn't find valid filesystem superblock"): nothing to read, not a fault.
        return "absent", f"{dev} is not in /dev"
    return verdict, detail


def _bad_entry(ctx, m: Mount, detail: str) -> dict:
    return {"mount_point": m.mount_point, "device": device_of(ctx.host, m), "source": m.source,
            "fstype": m.fstype,
            "options": m.options, "super_options": m.super_options, "detail": detail}


@rule("freeze.fs_state", "File systems to be frozen are clean", error_codes=CODES,
      needs_root=True, live_only=True, fix="freeze", timeout=150,
      remedy="Unmount the file system, check and repair it (e2fsck -f / xfs_repair), and mount "
             "it again: `sudo azbdiag fix --freeze`. For / or a busy mount, schedule a check at "
             "the next boot or " + RESCUE + ".")
def fs_state(ctx):
    """ext2/3/4: superblock state and error counters (tune2fs -l); xfs: kernel errors since
    the mount (xfs_repair -n when mounted read-only); btrfs: device error counters."""
    targets, notes = freeze_targets(ctx)
    if not targets:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "no mount to check" + (
            f" ({notes[0]})" if notes else ""))
    try:
        klog = ctx.fact(kernel_log)
    except (CheckError, SkipRule):
        klog = None
    bad, good, unknown, absent = [], [], [], []
    for m in targets:
        verdict, detail = _state(ctx, m, klog)
        {"bad": bad, "ok": good, "unknown": unknown, "absent": absent}[verdict].append((m, detail))
    if absent and not (bad or good or unknown):
        raise SkipRule(SkipReason.NO_INPUT, "no device node to read: " + "; ".join(
            f"{m.mount_point}: {d}" for m, d in absent) + " (in a container the host's block "
            "devices are not visible: run azbdiag on the VM itself)")
    evidence = [f"NOT CLEAN {m.mount_point}: {d}" for m, d in bad]
    evidence += [f"unknown {m.mount_point}: {d}" for m, d in unknown]
    evidence += [f"clean {m.mount_point}: {d}" for m, d in good]
    evidence += [f"not checked {m.mount_point}: {d}" for m, d in absent] + notes
    if bad:
        return fail(f"{len(bad)} file system(s) are not clean; the backup's freeze can fail on "
                    f"them", evidence, bad=[_bad_entry(ctx, m, d) for m, d in bad])
    if unknown and not good:
        raise CheckError("; ".join(d for _, d in unknown))
    if unknown:
        return warn(f"{len(unknown)} file system(s) could not be checked", evidence)
    return ok(f"{len(good)} file system(s) are clean", evidence)


@rule("freeze.read_only", "No file system was remounted read-only after errors",
      error_codes=CODES, needs_root=True, live_only=True, fix="freeze", timeout=30,
      remedy="A file system the kernel switched to read-only after errors needs an offline "
             "check: `sudo azbdiag fix --freeze`, or " + RESCUE + ".")
def read_only(ctx):
    """A superblock that is read-only while fstab mounts it read-write, or a kernel
    'Remounting filesystem read-only' line for its device."""
    targets, _ = freeze_targets(ctx)
    try:
        klog = ctx.fact(kernel_log)
    except (CheckError, SkipRule):
        klog = []
    fstab = {m.mount_point: m for m in parse_fstab(ctx.host.try_read_text("/etc/fstab") or "")}
    bad = []
    for m in targets:
        current, _ = errors_since_mount(klog, kernel_name(ctx.host, m))
        remount = [x for x in current if "read-only" in x]
        wanted_ro = m.mount_point in fstab and fstab[m.mount_point].read_only
        if remount or ("ro" in m.super_options and m.mount_point in fstab and not wanted_ro):
            why = remount[0] if remount else "read-only now, but fstab mounts it read-write"
            bad.append((m, why))
    if bad:
        return fail(f"{len(bad)} file system(s) went read-only, most likely after errors",
                    [f"{m.mount_point}: {why}" for m, why in bad],
                    bad=[_bad_entry(ctx, m, why) for m, why in bad])
    return ok("no file system to be frozen went read-only after errors")


# ---- fix --freeze: repairs what freeze.fs_state and freeze.read_only find ---------------

# Processes that keep a mount point busy (azbdiag.facts.process_table).
holders = mount_holders


def boot_check_advice(host, fstype: str, device: str) -> str:
    """How this distro can be told to check / at the next boot, and how to undo it."""
    args = "fsck.mode=force fsck.repair=yes"
    if fstype in ("ext2", "ext3", "ext4"):
        return (f"schedule a check at the next boot with `tune2fs -C 2 -c 1 {device}` "
                f"(mount count above the maximum; undo: `tune2fs -c -1 {device}`) or the kernel "
                f"arguments {args}")
    if uses_grubby(host):
        how = (f"`grubby --update-kernel=DEFAULT --args='{args}'` (undo: `grubby "
               f"--update-kernel=DEFAULT --remove-args='{args}'`)")
    else:
        how = (f"adding {args} to GRUB_CMDLINE_LINUX in /etc/default/grub and running "
               f"update-grub (undo: remove them and run update-grub again)")
    return f"schedule a forced check at the next boot by {how}"


@fix("freeze", title="Check and repair file systems the backup cannot freeze",
     rules=("freeze.fs_state", "freeze.read_only", "freeze.rescue_fs_state",
            "freeze.disk_fs_state"), order=90)
def plan_freeze(ctx, findings):
    """For each file system that is not clean: unmount, check and repair, mount again
    (azbdiag/fix/mounts.py runs the steps and mounts it back if one fails)."""
    host = ctx.host
    if not host.live or ctx.options.get("disks"):      # a rescue VM: rules/fs_rescue.py
        from azbdiag.fix.offline_fs import plan_offline

        return plan_offline(ctx, findings)
    seen, entries = set(), []
    for res in findings:
        for entry in res.data.get("bad", []):
            if entry["mount_point"] not in seen:
                seen.add(entry["mount_point"])
                entries.append(entry)
    table = parse_mountinfo(host.try_read_text("/proc/self/mountinfo") or "")
    fstab = {m.mount_point for m in parse_fstab(host.try_read_text("/etc/fstab") or "")
             if "noauto" not in m.options}
    refusals, actions, boot_steps = [], [], []
    for e in entries:
        point, dev, fstype = e["mount_point"], e["device"], e["fstype"]
        if point == "/":      # checked at the next boot instead (azbdiag/fix/boot_check.py)
            try:
                boot_steps = plan_boot_check(host, e)
            except RefuseFix as exc:
                by_hand = "" if "rescue VM" in str(exc) else (
                    f"; by hand: {boot_check_advice(host, fstype, dev)}, {RESCUE}")
                refusals.append(f"/ cannot be unmounted on the running system, and no check at "
                                f"the next boot was planned: {exc}{by_hand}")
            continue
        if fstype not in ("ext2", "ext3", "ext4", "xfs"):
            how = (f"run `btrfs check --readonly {dev}` unmounted; --repair only with a backup"
                   if fstype == "btrfs" else "check it with its own tools while unmounted")
            refusals.append(f"{point}: no automatic repair for {fstype} ({how}), {RESCUE}")
            continue
        children = sorted({m.mount_point for m in table if m.mount_point.startswith(
            point.rstrip("/") + "/")})
        others = sorted({m.mount_point for m in table if m.major_minor and any(
            m.major_minor == t.major_minor for t in table if t.mount_point == point)
            and m.mount_point != point})
        busy = holders(host, point)
        if children or others or busy:
            what = "; ".join(x for x in (
                ("held by " + ", ".join(busy[:8])) if busy else "",
                ("has mounts under it: " + ", ".join(children[:5])) if children else "",
                ("also mounted at " + ", ".join(others[:5])) if others else "") if x)
            refusals.append(f"{point} is busy ({what}): stop those and re-run, or schedule "
                            f"its check at the next boot, {RESCUE}")
            continue
        actions.append(RepairFilesystem(
            point, fstype, dev, e.get("source") or "", remount_options(e),
            fstab=point in fstab, why=f"{point} is not clean: {e['detail']}"))
    if refusals:
        hint = (f" | nothing was changed; `--mount {actions[0].point}` repairs the mounts that "
                f"can be repaired now") if actions else " | nothing was changed"
        raise RefuseFix(" | ".join(refusals) + hint)
    return boot_steps + actions


# ---- freeze.kernel_errors ----------------------------------------------------------------

@rule("freeze.kernel_errors", "The kernel logged no file system errors", error_codes=CODES,
      needs_root=True, live_only=True, timeout=20,
      remedy="Errors on a mounted file system need an offline check (`sudo azbdiag fix "
             "--freeze`); I/O errors may also mean a failing disk.")
def kernel_errors(ctx):
    """EXT4/XFS/btrfs error lines, journal aborts and I/O errors in this boot's kernel log."""
    klog = ctx.fact(kernel_log)
    targets, _ = freeze_targets(ctx)
    names = {kernel_name(ctx.host, m): m.mount_point for m in targets}
    current, other = [], []
    for name, point in names.items():
        cur, earlier = errors_since_mount(klog, name)
        current += [f"{point}: {x}" for x in cur[:5]]
        other += [f"{point} (before its last mount): {x}" for x in earlier[:3]]
    mounted = {kernel_name(ctx.host, m) for m in ctx.fact(mounts)}
    other += [f"{ln.device}: {ln.text}" for ln in klog
              if ln.is_error and ln.device not in names and ln.device in mounted][:10]
    if current:
        return fail(f"the kernel logged errors on {len(current)} line(s) for file systems the "
                    f"backup freezes", current + other)
    if other:
        return warn("the kernel logged file system errors elsewhere or before the last mount",
                    other)
    return ok("no file system errors in this boot's kernel log")
