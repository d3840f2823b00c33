"""Interrupted runs: a journal left `applying` or `undoing` while no fixer holds the lock was
stopped half-way (SIGKILL, a crash, a power cut).

`fix` and `undo` call `recover_all` under the lock before anything else: each pending step is
settled from the file itself (done, not done, or changed by something else; a leftover
temporary file is removed), a file system repair that was started is carried through (checked
and mounted again, or mounted back read-only), and the run is closed as `interrupted` (its
applied steps stay undoable). `check` only reports (`findings`, rule fix.interrupted).
"""

from __future__ import annotations

from typing import Callable, List, Tuple

from azbdiag.fix import mounts, records, steps
from azbdiag.fix.journal import OPEN_STATUSES, Journal, lock_holder, runs_of


def _no_hook(n: int, phase: str) -> None:
    return None


def open_runs(host) -> List[str]:
    """Ids of this root's runs left applying or undoing, or with a file system azbdiag could
    not mount again (JournalError when the journal cannot be read)."""
    return [r for r, data, _why in runs_of(host) if data is not None
            and (data.get("status") in OPEN_STATUSES
                 or any(m["state"] == "lost" for m in data["mounts"]))]


def _remount_lost(host, journal: Journal, out, err) -> bool:
    """Try again to mount what a run could not mount back."""
    clean = True
    for g, m in enumerate(journal.data["mounts"]):
        if m["state"] != "lost" or not (host.live or m.get("offline")):
            continue
        if mounts.mounted(mounts.here(host), m["point"]) is not None:
            m["state"] = "mounted-again"
            journal.save()
            continue
        out(f"Run {journal.run_id} could not mount {m['point']} again; trying again:")
        mounts.mount_back(host, journal, g, m.get("note") or "its repair did not complete",
                          out, err)
        clean = False
    return clean


def recover_run(host, journal: Journal, out: Callable[[str], None],
                err: Callable[[str], None], hook=_no_hook) -> bool:
    """Settle and close one interrupted run (the caller holds the lock). Returns True when
    everything it unmounted is mounted read-write again."""
    data = journal.data
    clean = True
    if data["status"] not in OPEN_STATUSES:
        return _remount_lost(host, journal, out, err)
    if data["status"] == "undoing":
        out(f"Run {journal.run_id}: an undo was interrupted; the next undo continues it")
        for rec in data["actions"]:
            if rec.get("undo_state") == "pending":
                rec["undo_state"] = None
        data["status"] = "undo-interrupted"
        journal.save()
        return True
    out(f"Run {journal.run_id} (fix --{', --'.join(data.get('fixes') or ['?'])}) was "
        f"interrupted; settling it first:")
    for rec in data["actions"]:
        if rec["outcome"] == "pending" and rec["kind"] not in records.MOUNT_KINDS:
            what = steps.settle(host, rec)
            out(f"  {rec['n']}. {records.describe(rec, data['mounts'])}: {what}")
            journal.save()
    groups = []
    for g in range(len(data["mounts"])):
        if mounts.is_open(journal, g):
            if not (host.live or data["mounts"][g].get("offline")):
                err(f"run {journal.run_id} repaired a file system of the live system; "
                    f"run fix or undo on that system")
                clean = False
                continue
            groups.append(g)
    if any(data["mounts"][g].get("offline") for g in groups):
        from azbdiag.fix.offline_fs import finish_groups

        clean = finish_groups(host, journal, groups, hook, out, err) and clean
    else:
        for g in groups:
            clean = mounts.finish(host, journal, g, hook, out, err) and clean
    for rec in data["actions"]:
        if rec["outcome"] in ("planned", "pending"):
            rec["outcome"] = "not-applied"
    data["status"] = "interrupted"
    journal.save()
    return clean


def recover_all(host, out: Callable[[str], None], err: Callable[[str], None],
                hook=_no_hook) -> bool:
    """Recover every interrupted run of this root, oldest first."""
    ok = True
    for run_id in open_runs(host):
        journal = Journal.load(run_id)
        try:
            ok = recover_run(host, journal, out, err, hook) and ok
        finally:
            journal.close()
    return ok


def _first_unfinished(data: dict):
    for rec in data["actions"]:
        if rec["outcome"] in ("pending", "planned"):
            return rec
    return None


def findings(host) -> List[Tuple[str, str]]:
    """[('fail'|'warn', text)] for `check`: interrupted runs, file systems left unmounted or
    mounted read-only by a repair. Raises JournalError when the journal cannot be read."""
    found: List[Tuple[str, str]] = []
    busy = lock_holder()
    for run_id, data, why in runs_of(host):
        if data is None:
            found.append(("warn", f"run {why}"))
            continue
        fixes = " ".join(f"--{f}" for f in data.get("fixes") or [])
        if data["status"] in OPEN_STATUSES:
            if busy:
                continue        # a fixer is running now (pid in the lock file)
            rec = _first_unfinished(data)
            where = (f" at step {rec['n']} ({records.describe(rec, data['mounts'])})"
                     if rec else " before it was closed")
            action = "fix" if data["status"] == "applying" else "undo"
            found.append(("fail", f"azbdiag {action} run {run_id} was interrupted{where}: "
                                  f"`sudo azbdiag fix {fixes}` finishes it, `sudo azbdiag undo "
                                  f"{run_id}` reverts what it did"))
        elif data["status"] == "undo-interrupted":
            found.append(("warn", f"azbdiag undo run {run_id} was interrupted: `sudo azbdiag "
                                  f"undo {run_id}` continues it"))
        for m in data["mounts"]:
            if not (host.live or m.get("offline")) or m.get("was_mounted") is False:
                continue
            now = mounts.mounted(mounts.here(host), m["point"])
            if now is None and (m["state"] in ("unmounted", "lost")
                                or (m["state"] == "mounted" and data["status"] in OPEN_STATUSES)):
                by_hand = records.shell_words(mounts.mount_argv(m, read_only=True))
                found.append(("fail", f"{m['point']} is NOT mounted: azbdiag unmounted it to "
                                      f"repair it (run {run_id}); "
                                      + (f"{m['note']}; " if m.get("note") else "")
                                      + f"`sudo azbdiag fix {fixes}` finishes the repair, or "
                                        f"mount it with `{by_hand}`"))
            elif m["state"] == "mounted-ro" and now is not None and now["read_only"]:
                found.append(("fail", f"{m['point']} is mounted read-only since azbdiag's "
                                      f"repair could not complete (run {run_id}: {m.get('note')}); "
                                      f"repair it from a rescue VM, then mount it read-write"))
    return found
