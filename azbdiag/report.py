"""The report of a check run: run the rules and build the JSON document (schema_version 1)
that every output format renders (azbdiag/render/) and `summarize` reads back."""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Sequence

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
