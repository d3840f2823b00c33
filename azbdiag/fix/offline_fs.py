"""A rescue VM's repair of an attached OS disk (`fix --freeze --root R` / `--disk DEV`): what
may be repaired and how, the order of the steps when the file systems under R are nested, and
finishing such a run after it was killed.

plan_offline (called by plan_freeze in rules/fs_errors.py offline, over the findings of the
rules in rules/fs_rescue.py) decides what may be touched and gives one RepairFilesystem per
file system to unmount (offline=True, with its roles); azbdiag/fix/mounts.py runs each step,
journaled before it acts, on this machine. Under R a file system is often
mounted inside another (/rescue/var inside /rescue): the outer one can only be unmounted once
the inner ones are. So the steps run in two phases:

1. innermost first, each group's steps up to its repair: unmount (XFS: mount and unmount once
   more to replay its log), repair;
2. outermost first, each group's mount again.

Whatever fails or stops it, what was unmounted is mounted back, outer mount points first (the
run's `_mount_back_open`, and `finish_groups` after a SIGKILL).
"""

from __future__ import annotations

from typing import Callable, List, Tuple

from azbdiag.fix import RefuseFix, RepairFilesystem, records
from azbdiag.fix import mounts as M

OFFLINE_RULES = ("freeze.rescue_fs_state", "freeze.disk_fs_state")
REPAIRABLE = ("ext2", "ext3", "ext4", "xfs")
BTRFS_ADVICE = ("`btrfs check --repair` can make a damaged btrfs worse: run `btrfs check "
                "--readonly {dev}` unmounted, copy what matters off it, then repair it by hand")


def _roles(fstype: str) -> Tuple[str, ...]:
    if fstype == "xfs":         # mount and unmount once more: XFS replays its log
        return ("umount", "replay-mount", "replay-umount", "repair", "mount")
    return ("umount", "repair", "mount")


def plan_offline(ctx, findings) -> list:
    """The repair, from a rescue VM, of each file system of the OS disk that is not clean:
    RepairFilesystem actions for azbdiag/fix/mounts.py (offline=True), ordered by
    order_steps once expanded. Refuses (RefuseFix, nothing done) when any of them
    must not be touched: a disk with a partition or volume in use outside the root (the
    rescue machine's own disk among them), a file system busy or mounted twice, mounts under
    it azbdiag does not unmount, btrfs."""
    from azbdiag.disks import in_use
    from azbdiag.facts import (
        Topology,
        active_swaps,
        block_devices,
        machine,
        machine_mounts,
        mount_holders,
        real_root,
    )

    host = ctx.host
    here = machine(host)
    root = None if host.live else real_root(host)
    if root == "/":
        raise RefuseFix("--root / is this machine: nothing of an attached OS disk to repair")
    mounts = ctx.fact(machine_mounts)
    topo = Topology(ctx.fact(block_devices))
    swaps = active_swaps(here)
    activated = list(getattr(ctx.options.get("disks"), "activated", None) or [])
    entries = [e for res in findings if res.id in OFFLINE_RULES for e in res.data.get("bad", [])]
    wanted = [p.rstrip("/") or "/" for p in ctx.options.get("mounts") or []]
    if wanted:      # --mount: this machine's mount point under R, or the guest's
        entries = [e for e in entries if e.get("guest_point") in wanted
                   or any(p in wanted for p in e.get("mounted_at") or [])]
    refusals: List[str] = []
    actions: list = []
    bad_points = {e["mounted_at"][0]: e for e in entries if e.get("mounted_at")}
    for e in entries:
        dev, fstype = e["device"], e["fstype"]
        where = f"{e.get('guest_point') or '(guest mount point unknown)'} = {dev}"
        if fstype not in REPAIRABLE:
            how = BTRFS_ADVICE.format(dev=dev) if fstype == "btrfs" else \
                "repair it with its own tools while unmounted"
            refusals.append(f"{where}: no automatic repair for {fstype} ({how})")
            continue
        why = _disk_in_use(e, topo, mounts, root, swaps, in_use)
        if why:
            refusals.append(f"{where}: never while its disk is in use here: {why}")
            continue
        if not e.get("mounted_at"):                                    # --disk, not mounted
            if e.get("vg") and e["vg"] in activated:
                refusals.append(f"{where}: its volume group {e['vg']} was activated read-only "
                                f"for the check; activate it yourself (`vgchange -ay {e['vg']}`) "
                                f"or mount it under --root, and re-run")
                continue
            actions.append(RepairFilesystem(
                dev, fstype, dev, dev, "defaults", why=f"{where} is not clean: {e['detail']}",
                offline=True, roles=("repair",), was_mounted=False))
            continue
        if len(e["mounted_at"]) > 1:
            refusals.append(f"{where}: mounted more than once under {root} "
                            f"({', '.join(e['mounted_at'][:3])}); unmount the others first")
            continue
        point = e["mounted_at"][0]
        busy = mount_holders(here, point)
        if busy:
            refusals.append(f"{point} ({where}) is busy: held by {', '.join(busy[:8])}; stop "
                            f"those and re-run")
            continue
        held, problem = _inner_mounts(point, mounts, topo, bad_points)
        if problem:
            refusals.append(f"{point} ({where}) {problem}")
            continue
        actions.append(RepairFilesystem(
            point, fstype, dev, dev, M.remount_options(e),
            why=f"{point} (the guest's {e.get('guest_point') or '?'}) is not clean: "
                f"{e['detail']}", offline=True, roles=_roles(fstype)))
        for m, mdev in held:
            if any(a.point == m.mount_point for a in actions):
                continue
            actions.append(RepairFilesystem(
                m.mount_point, m.fstype, mdev, mdev,
                M.remount_options({"options": m.options, "super_options": m.super_options}),
                why=f"{m.mount_point} is mounted inside {point}: unmounted for its repair and "
                    f"mounted again", offline=True, roles=("umount", "mount")))
    if refusals:
        raise RefuseFix(" | ".join(refusals) + " | nothing was changed")
    # a file system held for an outer one's repair and not clean itself is repaired once
    repaired = {a.point for a in actions if "repair" in a.roles}
    return [a for a in actions if "repair" in a.roles or a.point not in repaired]


def _disk_in_use(e: dict, topo, mounts, root, swaps, in_use) -> str:
    """Why the disk(s) of bad entry `e` must not be touched ('' when they may)."""
    knames = []
    for path in e.get("disks") or []:
        d = topo.find(path)
        if d is None:
            return f"lsblk does not list {path}"
        knames.append(d.kname)
    if not knames:
        return f"the disk of {e['device']} is unknown"
    why, _ = in_use(knames, topo, mounts, root, swaps)
    return why or ""


def _inner_mounts(point: str, mounts, topo, bad_points):
    """([(mount, device)] of the file systems mounted inside `point`, to unmount first and
    mount again after, innermost first), or a refusal when one is not a file system azbdiag
    unmounts (a bind of /proc, a network mount)."""
    inside = [m for m in mounts if m.mount_point != point
              and m.mount_point.startswith(point.rstrip("/") + "/")]
    held = []
    for m in sorted(inside, key=lambda m: -m.mount_point.count("/")):
        d = topo.of_mount(m)
        if m.fstype not in REPAIRABLE or d is None:
            return [], (f"has {m.mount_point} ({m.fstype}) mounted inside it, which azbdiag "
                        f"does not unmount: unmount it first")
        if m.mount_point not in bad_points:
            held.append((m, d.path))
    return held, ""


# ---- the order of the steps, and finishing them -------------------------------------------

def depth(point: str) -> int:
    return point.rstrip("/").count("/")


def order_steps(steps: list, new_mounts: List[dict], group_base: int, first_n: int) -> list:
    """`steps` (steps.Step of the groups group_base.. in `new_mounts`) in the two phases,
    renumbered from `first_n`."""
    by_group = {}
    for step in steps:
        by_group.setdefault(step.rec["group"], []).append(step)
    groups = sorted(by_group, key=lambda g: (-depth(new_mounts[g - group_base]["point"]), g))
    down = [s for g in groups for s in by_group[g] if s.rec["role"] != "mount"]
    up = [s for g in reversed(groups) for s in by_group[g] if s.rec["role"] == "mount"]
    ordered = down + up
    for i, step in enumerate(ordered):
        step.rec["n"] = first_n + i
    return ordered


def left_unmounted_at(data: dict, host) -> bool:
    """Whether journal `data` is a rescue VM's repair that unmounted the file system at
    --root itself and was killed: the root is an empty folder of this machine now, with
    another identity, and the run is still this path's, to finish."""
    root = data.get("root")
    return (not host.live and isinstance(root, dict) and root.get("path") == host.root
            and any(m.get("offline") and m.get("state") in ("unmounted", "lost")
                    for m in data.get("mounts") or []))


def finish_groups(host, journal, groups: List[int], hook, out: Callable[[str], None],
                  err: Callable[[str], None]) -> bool:
    """Carry the interrupted offline groups `groups` through, their steps in the run's order
    (each checks the live state first); on a failure mount back what is unmounted, outer mount
    points first. True when each ended mounted read-write again (or, never mounted, repaired)."""
    mounts = journal.data["mounts"]
    todo = sorted((r for g in groups for r in M.group_steps(journal, g) if r["outcome"] != "ok"),
                  key=lambda r: r["n"])
    for rec in todo:
        out(f"  {rec['n']}. {records.describe(rec, mounts)}")
        M.run_step(host, journal, rec, hook, out)
        if rec["outcome"] != "ok":
            reason = f"step {rec['n']} failed ({rec.get('error', '')})"
            err(reason)
            for g in sorted(groups, key=lambda g: depth(mounts[g]["point"])):
                if mounts[g]["state"] == "unmounted" or g == rec["group"]:
                    M.mount_back(host, journal, g, reason, out, err)
            return False
    return all(mounts[g]["state"] == "mounted-again"
               or (mounts[g].get("was_mounted") is False and M.repaired(journal, g))
               for g in groups)
