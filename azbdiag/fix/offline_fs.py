"""A rescue VM's repair of an attached OS disk (`fix --freeze --root R` / `--disk DEV`): the
order of the steps when the file systems under R are nested, and finishing such a run after it
was killed.

The planner (rules/fs_rescue.py plan_offline) decides what may be touched and gives one
RepairFilesystem per file system to unmount (offline=True, with its roles); azbdiag/fix/mounts.py
runs each step, journaled before it acts, on this machine. Under R a file system is often
mounted inside another (/rescue/var inside /rescue): the outer one can only be unmounted once
the inner ones are. So the steps run in two phases:

1. innermost first, each group's steps up to its repair: unmount (XFS: mount and unmount once
   more to replay its log), repair;
2. outermost first, each group's mount again.

Whatever fails or stops it, what was unmounted is mounted back, outer mount points first (the
run's `_mount_back_open`, and `finish_groups` after a SIGKILL).
"""

from __future__ import annotations

from typing import Callable, List

from azbdiag.fix import mounts as M
from azbdiag.fix import records


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
