"""The fleet summary as Markdown (for a ticket or a wiki page); every cell escaped."""

from __future__ import annotations

import itertools
import re

from azbdiag.render import one_line
from azbdiag.render.summary_parts import FINDINGS, headline, hosts_short, rows


def _md(text) -> str:
    return re.sub(r"([\\`*_\[\]{}<>|#!~&])", r"\\\1", one_line(text))


def summary(s: dict) -> str:
    out = ["# azbdiag fleet summary", "", _md(headline(s)) + ".", ""]
    if s["rules"]:
        out += ["| Error code / rule | Fix | Fail | Warn | Error | Hosts |",
                "|---|---|--:|--:|--:|---|"]
        for code, e in rows(s):
            if e is None:
                out.append(f"| **{_md(code['error_code'])}** | | {code['hosts_fail']} | "
                           f"{code['hosts_warn']} | {code['hosts_error']} | |")
                continue
            where = "; ".join(f"{st}: {_md(hosts_short(e[st]))}" for st in FINDINGS if e[st])
            out.append(f"| {_md(e['id'])}<br>{_md(e['title'])} | {_md(e['fix'] or '-')} | "
                       f"{len(e['fail'])} | {len(e['warn'])} | {len(e['error'])} | {where} |")
    else:
        out.append("No host has a warn, fail or error.")
    found = (h for h in s["hosts"] if h["fail"] or h["warn"] or h["error"])  # none held
    first = next(found, None)
    if first is not None:
        out += ["", "## Hosts with findings", "", "| Host | Fail | Warn | Error | Rules |",
                "|---|--:|--:|--:|---|"]
        for h in itertools.chain((first,), found):
            rule_ids = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
            out.append(f"| {_md(h['host'])} | {h['fail']} | {h['warn']} | {h['error']} | "
                       f"{_md(', '.join(rule_ids))} |")
    if s["rejected"]:
        out += ["", "## Skipped files", ""]
        out += [f"- {_md(r['file'])}: {_md(r['reason'])}" for r in s["rejected"]]
    return "\n".join(out) + "\n"
