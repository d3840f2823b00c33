"""The check report in a few lines for Azure Run Command, which keeps only the last 4,096
bytes of output: a header with the counts, then one line per finding, worst first."""

from __future__ import annotations

BRIEF_LIMIT = 4000


def report(doc: dict, limit: int = BRIEF_LIMIT) -> str:
    """One line per non-ok result; the whole output stays under `limit` bytes."""
    s = doc["summary"]
    head = (f"azbdiag {doc['tool']['version']}: {s['fail']} fail, {s['warn']} warn, "
            f"{s['error']} error, {s['ok']} ok, {s['skipped']} skipped")
    order = {"fail": 0, "error": 1, "warn": 2}
    found = sorted((r for r in doc["results"] if r["status"] in order),
                   key=lambda r: order[r["status"]])
    lines = [head]
    used = len(head.encode()) + 1
    for i, r in enumerate(found):
        codes = f" [{','.join(r['error_codes'][:2])}]" if r["error_codes"] else ""
        fix = f" fix:--{r['fix']}" if r["fix"] else ""
        summary = r["summary"].splitlines()[0] if r["summary"] else ""
        line = f"{r['status'].upper()} {r['id']}{codes}{fix}: {summary}"
        if len(line) > 240:
            line = line[:237] + "..."
        more = f"... and {len(found) - i} more (use --format json)"
        if used + len(line.encode()) + 1 + len(more) + 1 > limit:
            lines.append(more)
            break
        lines.append(line)
        used += len(line.encode()) + 1
    return "\n".join(lines) + "\n"
