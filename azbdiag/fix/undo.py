"""`azbdiag undo`: revert a fix run's applied steps, newest first.

Only this machine's journal is read, and only the runs made for the root given (`--root`:
azbdiag/fix/journal.py); a journal found on the disk is never replayed. Each record is checked
field by field before use, every target is walked again below the root without following a
symlink (azbdiag/fix/files.py), commands are rebuilt from the step's kind, and the plan shown
is built from those checked fields. Each step's undo is journaled before and after it acts, and
is idempotent: a file already as it was before the fix counts as undone, one changed since the
fix is left alone and reported. An interrupted run is settled first (azbdiag/fix/recover.py).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from azbdiag import state
from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK
from azbdiag.fix import records, steps
from azbdiag.fix.files import PathChanged
from azbdiag.fix.journal import OPEN_STATUSES, Journal, JournalError, ask, runs_of, with_lock

UNDOABLE = ("applied", "failed", "interrupted", "undo-failed", "undo-interrupted") + OPEN_STATUSES


def _disk_note(host) -> List[str]:
    """A line about journals an older azbdiag left on the disk: they are never replayed."""
    if host.live:
        return []
    try:
        found = host.isdir(state.journal_dir_on_disk())
    except Exception:   # noqa: BLE001 - only a note
        found = False
    if not found:
        return []
    return [f"note: {host.root}{state.journal_dir_on_disk()} on the disk is not read: azbdiag keeps "
            f"the journals of --root runs on the machine that ran them and replays only those"]


def describe_runs(host) -> Tuple[List[str], int]:
    """(lines, exit code) of `undo --list`: this root's runs with their status."""
    try:
        runs = runs_of(host)
    except JournalError as exc:
        return [str(exc)], EXIT_CANNOT_RUN
    where = "this system" if host.live else host.root
    if not runs:
        return [f"no fix runs for {where} in {state.journal_dir()}"] + _disk_note(host), EXIT_OK
    lines = []
    for run_id, data, why in runs:
        if data is None:
            lines.append(f"{run_id}  (unreadable journal: {why.split(': ', 1)[-1]})")
            continue
        note = ""
        if data["status"] in OPEN_STATUSES:
            note = "  (interrupted: fix or undo finishes it)"
        lines.append(f"{run_id}  {data['status']:16} {','.join(data.get('fixes', []))}{note}")
    return lines + _disk_note(host), EXIT_OK


def _todo(data: dict) -> list:
    return [r for r in data["actions"] if r["outcome"] == "ok" and r.get("undo_state") not in
            ("ok", "skipped")]


def _pick(host, run_id: Optional[str], err) -> Optional[str]:
    runs = runs_of(host)
    if run_id is None:
        for rid, data, _why in reversed(runs):
            if data is not None and data["status"] in UNDOABLE:
                return rid
        err(f"no fix run to undo for {'this system' if host.live else host.root} in "
            f"{state.journal_dir()}")
        return None
    for rid, data, why in runs:
        if rid == run_id:
            if data is None:
                err(f"cannot undo {why}")
                return None
            return rid
    err(f"no fix run {run_id!r} for {'this system' if host.live else host.root} in "
        f"{state.journal_dir()}")
    return None


def run_undo(host, run_id: Optional[str], *, dry_run: bool = False, yes: bool = False,
             interactive: Optional[bool] = None, confirm: Optional[Callable[[str], bool]] = None,
             out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Undo the applied steps of run `run_id` (default: the newest run), newest step first.
    Returns the exit code."""
    if dry_run:
        return _undo(host, run_id, True, yes, interactive, confirm, out, err)
    return with_lock(lambda: _undo(host, run_id, False, yes, interactive, confirm, out, err), err)


def _undo(host, run_id, dry_run, yes, interactive, confirm, out, err) -> int:
    from azbdiag.fix.recover import recover_run
    from azbdiag.fix.run import _Stop, test_hook

    try:
        run_id = _pick(host, run_id, err)
        if run_id is None:
            return EXIT_CANNOT_RUN
        journal = Journal.load(run_id)
    except JournalError as exc:
        err(str(exc))
        return EXIT_CANNOT_RUN
    try:
        data = journal.data
        if data["status"] == "undone":
            err(f"run {run_id} was already undone")
            return EXIT_CANNOT_RUN
        if data["status"] in OPEN_STATUSES:
            if dry_run:
                out(f"Run {run_id} was interrupted: a real undo settles it first")
            else:
                stop = _Stop()
                with stop.deferring():      # a repair being finished is not cut in half
                    recover_run(host, journal, out, err, hook=test_hook)
                if stop.signum is not None:
                    err("stopped after finishing the interrupted run; nothing was undone")
                    return 128 + stop.signum
        todo = _todo(data)
        if not todo:
            out(f"run {run_id}: no applied step to undo")
            if not dry_run and data["status"] != "undone":
                data["status"] = "undone"
                journal.save()
            return EXIT_OK
        out(f"Undo run {run_id} ({records._shown(data.get('timestamp', '?'))}), in reverse "
            f"order:")
        for rec in reversed(todo):
            undo_line = steps.undo_describe(rec)
            mark = "" if rec["reversible"] else "   [cannot be undone: left as it is]"
            out(f"  {rec['n']}. {records.describe(rec, data['mounts'])}{mark}")
            if rec["reversible"]:
                out(f"     undo: {undo_line}")
        if dry_run:
            out("Dry run: nothing was changed.")
            return EXIT_OK
        code = ask("Undo these steps?", purpose="undo", yes=yes, interactive=interactive,
                   confirm=confirm, err=err)
        if code is not None:
            return code
        return _undo_steps(host, journal, todo, out, err)
    except OSError as exc:
        err(f"cannot write the journal {journal.dir}: {exc.strerror or exc}")
        return EXIT_CANNOT_RUN
    finally:
        journal.close()


def _undo_steps(host, journal: Journal, todo: list, out, err) -> int:
    data = journal.data
    data["status"] = "undoing"
    journal.save()
    problems = 0
    for rec in reversed(todo):
        if rec["reversible"]:
            rec["undo_state"] = "pending"
            journal.save()
        try:
            what = steps.undo(host, journal, rec)
            rec.pop("undo_error", None)
        except (PathChanged, OSError, ValueError, KeyError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, PathChanged):
                why = f"{exc.filename} {exc.strerror}"
            if rec.get("undo_state") != "changed":
                rec["undo_state"] = "failed"
            rec["undo_error"] = records._shown(why)
            what = f"FAILED ({rec['undo_error']})"
            problems += 1
        out(f"  {rec['n']}. {what}")
        journal.save()
    data["status"] = "undone" if not problems else "undo-failed"
    journal.save()
    if problems:
        err(f"{problems} step(s) could not be undone; see {journal.dir}/journal.json")
        return EXIT_FINDINGS
    return EXIT_OK
