"""Render check results: the JSON document (schema_version 1), a text table, and --brief."""

from __future__ import annotations

import datetime
import json
import os
import sys
import textwrap
import time
from typing import List, Optional, Sequence

from azbdiag import __version__
from azbdiag.engine import summarize
from azbdiag.model import Result, Status

SCHEMA_VERSION = 1
BRIEF_LIMIT = 4000  # Azure Run Command keeps only the last 4,096 bytes of output.
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "data", "report.schema.json")

_COLOURS = {"ok": "32", "warn": "33", "fail": "31", "skipped": "90", "error": "35"}


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
        "summary": summarize(results),
        "results": [result_json(r) for r in results],
    }


def run_check(host, only=(), skip=(), options=None):
    """Run the rules on `host`; returns (context, results, document)."""
    from azbdiag import engine

    ctx = engine.Context(host, options or {})
    started = time.monotonic()
    results = engine.run_rules(ctx, only=only, skip=skip,
                               deadline=(options or {}).get("deadline", engine.DEFAULT_DEADLINE))
    doc = build_document(host.facts(), results,
                         duration_ms=int((time.monotonic() - started) * 1000))
    return ctx, results, doc


def render_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ \
        and os.environ.get("TERM") != "dumb"


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


def _wrap(text: str, indent: str, width: int = 100) -> List[str]:
    out: List[str] = []
    for para in text.splitlines() or [""]:
        out.extend(textwrap.wrap(para, width=width, initial_indent=indent,
                                 subsequent_indent=indent + "  ") or [indent])
    return out


def render_text(doc: dict, colour: bool = False) -> str:
    host = doc["host"]
    lines = []
    distro = host["distro"]
    where = "live system" if host["live"] else f"offline root {host['root']}"
    azure = {True: "Azure VM", False: "not an Azure VM", None: "Azure: unknown"}[host["azure"]]
    lines.append(
        f"azbdiag {doc['tool']['version']} - {where} - {distro.get('name') or distro['id']} "
        f"{distro['version']} - kernel {host['kernel'] or '?'} - {azure}"
    )
    lines.append("")
    results = doc["results"]
    idw = max([len(r["id"]) for r in results] + [2])
    lines.append(f"{'STATUS':8} {'ID':{idw}}  SUMMARY")
    for r in results:
        status = r["status"]
        tag = _paint(f"{status.upper():8}", status, colour)
        summary = r["summary"].splitlines()[0] if r["summary"] else ""
        lines.append(f"{tag} {r['id']:{idw}}  {summary}")
    details = [r for r in results if r["status"] in ("warn", "fail", "error")]
    for r in details:
        lines.append("")
        head = f"[{r['status'].upper()}] {r['id']}: {r['title']}"
        lines.append(_paint(head, r["status"], colour))
        lines.extend(_wrap(r["summary"], "  "))
        if r["error_codes"]:
            lines.append("  explains: " + ", ".join(r["error_codes"]))
        if r["evidence"]:
            lines.append("  evidence:")
            for e in r["evidence"]:
                lines.extend(_wrap(e, "    "))
        if r["remedy"]:
            lines.append("  remedy:")
            lines.extend(_wrap(r["remedy"], "    "))
        if r["fix"]:
            lines.append(f"  fix: sudo azbdiag fix --{r['fix']}")
    s = doc["summary"]
    lines.append("")
    lines.append(
        f"{s['ok']} ok, {s['warn']} warn, {s['fail']} fail, {s['skipped']} skipped, "
        f"{s['error']} error"
    )
    not_root = [r for r in results if r.get("skip_reason") == "not root"]
    if not_root:
        lines.append(f"{len(not_root)} checks need root: re-run with sudo for a full report.")
    return "\n".join(lines) + "\n"


def render_brief(doc: dict, limit: int = BRIEF_LIMIT) -> str:
    """One line per non-ok result; the whole output stays under `limit` bytes."""
    s = doc["summary"]
    head = (f"azbdiag {doc['tool']['version']}: {s['fail']} fail, {s['warn']} warn, "
            f"{s['error']} error, {s['ok']} ok, {s['skipped']} skipped")
    order = {"fail": 0, "error": 1, "warn": 2}
    rows = sorted((r for r in doc["results"] if r["status"] in order),
                  key=lambda r: order[r["status"]])
    lines = [head]
    used = len(head.encode()) + 1
    for i, r in enumerate(rows):
        codes = f" [{','.join(r['error_codes'][:2])}]" if r["error_codes"] else ""
        fix = f" fix:--{r['fix']}" if r["fix"] else ""
        summary = r["summary"].splitlines()[0] if r["summary"] else ""
        line = f"{r['status'].upper()} {r['id']}{codes}{fix}: {summary}"
        if len(line) > 240:
            line = line[:237] + "..."
        more = f"... and {len(rows) - i} more (use --format json)"
        if used + len(line.encode()) + 1 + len(more) + 1 > limit:
            lines.append(more)
            break
        lines.append(line)
        used += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def worst_reaches(results: Sequence[Result], fail_on: str) -> bool:
    levels = {Status.FAIL} if fail_on == "fail" else {Status.FAIL, Status.WARN}
    return any(r.status in levels for r in results)


def write_output(text: str, path: Optional[str]) -> None:
    if not path or path == "-":
        sys.stdout.write(text)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
