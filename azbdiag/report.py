"""The report of a check run: run the rules and build the JSON document (schema_version 1)
that every output format renders (azbdiag/render/) and `summarize` reads back."""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Optional, Sequence

from azbdiag import __version__, engine
from azbdiag.model import Result, Status

SCHEMA_VERSION = 1
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "data", "report.schema.json")


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def result_json(r: Result) -> dict:
    return {
        "id": r.id,
        "title": r.title,
        "status": r.status.value,
        "skip_reason": r.skip_reason,
        "error_codes": list(r.error_codes),
        "summary": r.summary,
        "evidence": list(r.evidence),
        "remedy": r.remedy,
        "fix": r.fix,
        "duration_ms": int(r.duration_ms),
    }


def _utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(microsecond=0) \
        .isoformat().replace("+00:00", "Z")


def last_backup(results: Sequence[Result], now: Optional[float] = None) -> Optional[dict]:
    """The backup extension's last run as extension.last_status decoded it (its data
    `last_backup`), with the newest measured freeze from freeze.trend; None when unknown.
    The verdict at the top of the text report and the metrics show it."""
    by_id = {r.id: r for r in results}
    status = by_id.get("extension.last_status")
    data = status.data.get("last_backup") if status is not None else None
    if not isinstance(data, dict):
        return None
    out = {k: v for k, v in data.items() if k != "time"}
    when = data.get("time")
    out["time"] = _utc(when) if isinstance(when, (int, float)) else None
    out["age_seconds"] = max(0, int((time.time() if now is None else now) - when)) \
        if isinstance(when, (int, float)) else None
    trend = by_id.get("freeze.trend")
    for key in ("freeze", "frozen"):
        out[key] = trend.data.get(key) if trend is not None else None
    return out


def build_document(host_facts, results: Sequence[Result], duration_ms: int = 0) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "azbdiag", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "duration_ms": int(duration_ms),
        "host": host_facts.as_json(),
        "summary": engine.summarize(results),
        "results": [result_json(r) for r in results],
        "last_backup": last_backup(results),
    }


def run_check(host, only=(), skip=(), options=None):
    """Run the rules on `host`; returns (context, results, document)."""
    ctx = engine.Context(host, options or {})
    started = time.monotonic()
    results = engine.run_rules(ctx, only=only, skip=skip,
                               deadline=(options or {}).get("deadline", engine.DEFAULT_DEADLINE))
    doc = build_document(host.facts(), results,
                         duration_ms=int((time.monotonic() - started) * 1000))
    return ctx, results, doc


def worst_reaches(results: Sequence[Result], fail_on: str) -> bool:
    """Whether a result reaches `fail_on` ("fail", or "warn" for warn and fail)."""
    levels = {Status.FAIL} if fail_on == "fail" else {Status.FAIL, Status.WARN}
    return any(r.status in levels for r in results)
