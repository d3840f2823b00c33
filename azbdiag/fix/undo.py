"""`azbdiag undo`: replay a fix run's journal in reverse, through the same confirm-and-lock gate
as the fix; only what this machine (or this --root disk) journaled is undone."""

from __future__ import annotations

from typing import Callable, List, Optional

from azbdiag import state
from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK
from azbdiag.fix import steps
from azbdiag.fix.journal import Journal, confirm_and_lock, list_runs, now

UNDOABLE = ("applied", "failed", "applying", "undo-failed")


def describe_runs(host) -> List[str]:
    """One line per run in the journal: run id, status and fixes (`undo --list`)."""
    runs = list_runs(host)
    if not runs:
        return [f"no fix runs in {state.journal_dir(host)}"]
    lines = []
    for r in runs:
        try:
            data = Journal.load(host, r).data
        except (OSError, ValueError):
            lines.append(f"{r}  (unreadable journal)")
            continue
        lines.append(f"{r}  {data.get('status', '?'):12} {','.join(data.get('fixes', []))}")
    return lines


def _newest_undoable(host, runs: List[str]) -> Optional[str]:
    """The newest run that has steps left to undo (undone and unreadable runs are passed over)."""
    for r in reversed(runs):
        try:
            if Journal.load(host, r).data.get("status") in UNDOABLE:
                return r
        except (OSError, ValueError):
            continue
    return None


def run_undo(host, run_id: Optional[str], *, dry_run: bool = False, yes: bool = False,
             interactive: Optional[bool] = None, confirm: Optional[Callable[[str], bool]] = None,
             out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Undo the applied steps of run `run_id` (default: the newest run), newest step first.
    Returns the exit code."""
    runs = list_runs(host)
    if run_id is None:
        run_id = _newest_undoable(host, runs)
        if run_id is None:
            err(f"no fix run to undo in {state.journal_dir(host)}")
            return EXIT_CANNOT_RUN
    if "/" in run_id or run_id.startswith(".") or run_id not in runs:
        err(f"no fix run {run_id!r} in {state.journal_dir(host)}")
        return EXIT_CANNOT_RUN
    try:
        journal = Journal.load(host, run_id)
    except (OSError, ValueError) as exc:
        err(f"cannot read the journal of {run_id}: {exc}")
        return EXIT_CANNOT_RUN
    if journal.data.get("status") == "undone":
        err(f"run {run_id} was already undone")
        return EXIT_CANNOT_RUN
    earlier = journal.data.get("undo") if isinstance(journal.data.get("undo"), list) else []
    reverted = {e.get("n") for e in earlier if isinstance(e, dict) and e.get("outcome") == "ok"}
    done = [r for r in journal.data["actions"] if isinstance(r, dict) and r.get("outcome") == "ok"
            and r.get("n") not in reverted]
    if not done:
        out(f"run {run_id}: no applied step to undo")
        return EXIT_OK
    out(f"Undo run {run_id} ({journal.data.get('timestamp', '?')}), in reverse order:")
    for rec in reversed(done):
        mark = "" if rec.get("reversible") else "   [cannot be undone: left as it is]"
        out(f"  {rec['n']}. {rec.get('describe', rec['kind'])}{mark}")
    if dry_run:
        out("Dry run: nothing was changed.")
        return EXIT_OK
    return confirm_and_lock(
        host, lambda: _undo_steps(journal, done, earlier, host, out, err),
        question="Undo these steps?", purpose="undo", yes=yes, interactive=interactive,
        confirm=confirm, err=err)


def _undo_steps(journal: Journal, done: list, earlier: list, host, out, err) -> int:
    problems = 0
    log = []
    for rec in reversed(done):
        try:
            what = steps.undo_record(host, rec, journal.backups)
            outcome = "ok"
        except (OSError, KeyError, TypeError, ValueError) as exc:
            what = f"FAILED ({getattr(exc, 'strerror', None) or exc})"
            outcome = "failed"
            problems += 1
        log.append({"n": rec["n"], "outcome": outcome, "what": what, "at": now()})
        out(f"  {rec['n']}. {what}")
    journal.data["undo"] = earlier + log
    journal.data["status"] = "undone" if not problems else "undo-failed"
    journal.save()
    if problems:
        err(f"{problems} step(s) could not be undone; see {journal.dir}/journal.json")
        return EXIT_FINDINGS
    return EXIT_OK
