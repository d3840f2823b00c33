"""The backup history document (`azbdiag history`, schema "azbdiag-history/1"): every run the
backup extension's logs and status files still hold, with its result, the mounts frozen in
order, the freeze, frozen, snapshot and thaw times against the limits of vmbackup.conf, and
the freeze.trend verdict. Rendered by azbdiag/render/history_{text,json,html}.py.
"""

from __future__ import annotations

import datetime
from typing import Optional

from azbdiag import __version__, engine
from azbdiag.facts.backup_history import (
    HISTORY_BUDGET,
    FreezeLimits,
    History,
    freeze_limits,
    read_history,
)
from azbdiag.model import SkipReason, SkipRule

SCHEMA = "azbdiag-history/1"


def _iso(when: Optional[datetime.datetime]) -> Optional[str]:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def _ratio(seconds: Optional[float], limit: Optional[int]) -> Optional[float]:
    if seconds is None or not limit:
        return None
    return round(seconds / limit, 4)


def _names(code: Optional[int]):
    from azbdiag import catalogue

    entry = catalogue.extension_status(code) if code is not None else None
    if not isinstance(entry, dict):
        return None, None
    return entry.get("name") or None, entry.get("surfaces_as") or None


def explaining_code(status: Optional[int], ext: Optional[int]) -> Optional[int]:
    """The code that says what went wrong: a specific run code first (121 with
    vmHealthStatusCode 761 is a freeze failure, reference correction 6), else the
    vmHealthStatusCode behind a generic one (2 with 121), else the run code."""
    if status not in (None, 0, 1, 2, 3, 4):
        return status
    if ext not in (None, 0, 1):
        return ext
    return status


def run_json(run, limits: FreezeLimits) -> dict:
    code = explaining_code(run.status_code, run.ext_code)
    name, azure = _names(code)
    timeout = run.timeout or limits.timeout
    return {
        "start": _iso(run.start), "end": _iso(run.end), "source": run.source or None,
        "line": run.line or None, "status_file": run.status_file or None,
        "outcome": run.outcome, "status_code": run.status_code, "ext_code": run.ext_code,
        "code": code, "name": name, "azure_error": azure if run.outcome == "failed" else None,
        "task_id": run.task_id or None, "snapshot_path": run.snapshot_kind or None,
        "freeze_skipped": run.freeze_skipped,
        "mounts_planned": run.planned, "mounts_frozen": run.frozen, "mounts_thawed": run.thawed,
        "freeze_failures": [{"mount": m, "error": e} for m, e in run.freeze_failures],
        "open_failures": [{"mount": m, "error": e} for m, e in run.open_failures],
        "thaw_failures": [{"mount": m, "error": e} for m, e in run.thaw_failures],
        "freeze_seconds": run.freeze_seconds, "freeze_limit_seconds": limits.freeze_window,
        "freeze_ratio": _ratio(run.freeze_seconds, limits.freeze_window),
        "frozen_seconds": run.frozen_seconds, "frozen_limit_seconds": timeout,
        "frozen_ratio": _ratio(run.frozen_seconds, timeout),
        "snapshot_seconds": run.snapshot_seconds, "thaw_seconds": run.thaw_seconds,
        "timed_out": run.timed_out, "freeze_error": run.freeze_error or None,
        "thaw_error": run.thaw_error or None, "errors": run.errors,
    }


def build_history(host, budget: int = HISTORY_BUDGET, last: int = 0) -> dict:
    """The history document of `host` (the live system or a --root); `last` > 0 keeps only
    the newest runs. With no log and no status file it has no runs and a `note` saying so;
    raises SkipRule when the files are there but cannot be read (not root)."""
    ctx = engine.Context(host, {})
    note = None
    try:
        history = read_history(host, budget)
    except SkipRule as exc:
        if exc.reason != SkipReason.NO_INPUT.value:
            raise
        history, note = History([], [], 0, 0, []), exc.summary
    limits = freeze_limits(ctx)
    runs = history.runs[-last:] if last > 0 else history.runs
    trend = None
    rules = engine.load_rules()
    if "freeze.trend" in rules:
        res = engine.run_one(rules["freeze.trend"], ctx)
        trend = {"status": res.status.value, "summary": res.summary, "evidence": res.evidence}
    return {
        "schema": SCHEMA,
        "tool": {"name": "azbdiag", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        .isoformat().replace("+00:00", "Z"),
        "host": host.facts().as_json(),
        "limits": {"safe_freeze_wait": limits.safe_freeze_wait,
                   "freeze_window_seconds": limits.freeze_window,
                   "timeout": limits.timeout, "source": limits.source},
        "logs": [{"name": f.name, "bytes_read": f.bytes_read, "truncated": f.truncated,
                  "error": f.error or None} for f in history.logs],
        "status_files": history.status_files,
        "malformed_lines": history.malformed,
        "malformed_where": history.malformed_where,
        "notes": history.notes,
        "runs_total": len(history.runs),
        "runs": [run_json(r, limits) for r in runs],
        "trend": trend,
        "note": note,
    }
