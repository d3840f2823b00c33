"""The fleet summary as CSV: one row per rule under each error code, with every host named.
(`import csv` below is the standard library: imports are absolute.)"""

from __future__ import annotations

import csv
import io

from azbdiag.render import one_line
from azbdiag.render.summary_parts import FINDINGS, rows


def _cell(value) -> str:
    text = one_line("" if value is None else value)
    # A spreadsheet would run a cell that starts like a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def summary(s: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["error_code", "rule_id", "title", "fix", "fail_count", "warn_count",
                     "error_count", "fail_hosts", "warn_hosts", "error_hosts"])
    for code, e in rows(s):
        if e is not None:
            writer.writerow([_cell(code["error_code"]), _cell(e["id"]), _cell(e["title"]),
                             _cell(e["fix"]), len(e["fail"]), len(e["warn"]), len(e["error"])]
                            + [_cell("; ".join(e[st])) for st in FINDINGS])
    return buf.getvalue()
