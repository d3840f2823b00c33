"""The fleet summary as one self-contained HTML page: no script, no external resource (its
Content-Security-Policy allows inline style only), every text escaped.
(`from html import escape` below is the standard library: imports are absolute.)"""

from __future__ import annotations

from html import escape

from azbdiag.render import one_line
from azbdiag.render.summary_parts import FINDINGS, headline, rows

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right}
tr.code td{background:#f7f7fb;font-weight:bold}.fail{color:#b00}.warn{color:#a60}.error{color:#708}
small{color:#666}
"""


def _e(text) -> str:
    return escape(one_line("" if text is None else text), quote=True)


def _lines(s: dict):
    yield from ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'\">",
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                "<title>azbdiag fleet summary</title>", f"<style>{_CSS}</style></head><body>",
                "<h1>azbdiag fleet summary</h1>", f"<p>{_e(headline(s))}.</p>",
                f"<p><small>generated {_e(s['generated_at'])} by azbdiag "
                f"{_e(s['tool']['version'])}</small></p>"]
    if s["rules"]:
        yield ("<table><thead><tr><th>Error code / rule</th><th>Fix</th><th>Fail</th>"
               "<th>Warn</th><th>Error</th><th>Hosts</th></tr></thead><tbody>")
        for code, e in rows(s):
            if e is None:
                yield (f'<tr class="code"><td>{_e(code["error_code"])}</td><td></td>'
                       f'<td class="n">{code["hosts_fail"]}</td><td class="n">{code["hosts_warn"]}'
                       f'</td><td class="n">{code["hosts_error"]}</td><td></td></tr>')
                continue
            where = "<br>".join(f'<span class="{st}">{st}:</span> {_e(", ".join(e[st]))}'
                                for st in FINDINGS if e[st])
            yield (f"<tr><td>{_e(e['id'])}<br><small>{_e(e['title'])}</small></td>"
                   f"<td>{_e(e['fix'] or '-')}</td><td class=\"n\">{len(e['fail'])}</td>"
                   f"<td class=\"n\">{len(e['warn'])}</td><td class=\"n\">{len(e['error'])}</td>"
                   f"<td>{where}</td></tr>")
        yield "</tbody></table>"
    else:
        yield "<p>No host has a warn, fail or error.</p>"
    yield ("<h2>Hosts</h2><table><thead><tr><th>Host</th><th>Fail</th><th>Warn</th>"
           "<th>Error</th><th>Rules</th><th>Report</th></tr></thead><tbody>")
    for h in s["hosts"]:
        rule_ids = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
        yield (f"<tr><td>{_e(h['host'])}</td><td class=\"n\">{h['fail']}</td>"
               f"<td class=\"n\">{h['warn']}</td><td class=\"n\">{h['error']}</td>"
               f"<td>{_e(', '.join(rule_ids))}</td><td><small>{_e(h['file'])}</small></td></tr>")
    yield "</tbody></table>"
    if s["rejected"]:
        yield "<h2>Skipped files</h2><ul>"
        for r in s["rejected"]:
            yield f"<li>{_e(r['file'])}: {_e(r['reason'])}</li>"
        yield "</ul>"
    yield "</body></html>"


def summary(s: dict) -> str:
    return "".join(summary_chunks(s))


def summary_chunks(s: dict):
    """The page line by line, to be written as it comes: a fleet's page is never held whole
    (it names every host)."""
    for line in _lines(s):
        yield line + "\n"
