"""The backup history (azbdiag/history.py) as one self-contained HTML page: an inline SVG
chart of freeze and snapshot time per run with the limits drawn and failures marked, and
the table of runs. No script, no external resource (its Content-Security-Policy allows
inline style only), every text from the disk escaped.
(`from html import escape` below is the standard library: imports are absolute.)"""

from __future__ import annotations

from html import escape
from typing import List

from azbdiag.render import one_line
from azbdiag.render.history_text import code, mounts, percent, result, seconds, what_failed, when

CHART_RUNS = 90          # the chart shows the newest runs; the table all of them
W, H = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 64
FREEZE, SNAPSHOT, FAILED, UNFINISHED = "#2f6db5", "#e08a1e", "#c62828", "#9e9e9e"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;
padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.n,td.t{text-align:right;white-space:nowrap}td.t{text-align:left}
tr.run-failed td{background:#fdecea}tr.run-unfinished td{background:#f3f3f3}
.failed{color:#b00;font-weight:bold}
.warn{color:#a60;font-weight:bold}.ok{color:#2a7d2a;font-weight:bold}small{color:#666}
svg text{font-family:system-ui,sans-serif}
"""


def _e(text) -> str:
    return escape(one_line("" if text is None else text), quote=True)


def _y(value: float, top: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - min(value, top) / top)


def _axis(highest: float):
    """A round top for the y axis and its tick step (1, 2 or 5 times a power of ten)."""
    rough = max(highest, 1.0) / 5
    power = 10 ** len(str(int(rough))) / 10
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return step * int(highest / step + 0.999), step


def chart(doc: dict) -> str:
    """The SVG: two bars per run (freeze, snapshot), the two limits as dashed lines, failed
    runs on a red band with a cross, unfinished ones on a grey band."""
    runs = doc["runs"][-CHART_RUNS:]
    lim = doc["limits"]
    window, timeout = lim["freeze_window_seconds"], lim["timeout"]
    values = [v for r in runs for v in (r["freeze_seconds"], r["snapshot_seconds"]) if v]
    top, step = _axis(max([window, timeout] + [v for v in values
                                               if v <= 1.5 * max(window, timeout)]) * 1.08)
    plot_w = W - LEFT - RIGHT
    slot = plot_w / max(len(runs), 1)
    bar = max(min(slot * 0.36, 18), 1.5)
    out = [f'<svg id="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'aria-label="Freeze and snapshot time per backup run">',
           "<title>Freeze and snapshot time per backup run</title>",
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>']
    for i, run in enumerate(runs):
        if run["outcome"] != "success":
            colour = FAILED if run["outcome"] == "failed" else UNFINISHED
            out.append(f'<rect class="band-{run["outcome"]}" x="{LEFT + i * slot:.1f}" y="{TOP}" '
                       f'width="{slot:.1f}" height="{H - TOP - BOTTOM}" fill="{colour}" '
                       f'fill-opacity="0.12"/>')
    for k in range(int(round(top / step)) + 1):
        v = k * step
        y = _y(v, top)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                   f"{v:.0f} s</text>")
    label_every = max(1, int(len(runs) / 16 + 0.999))
    for i, run in enumerate(runs):
        x0 = LEFT + i * slot + slot / 2
        for value, colour, dx, kind in ((run["freeze_seconds"], FREEZE, -bar, "freeze"),
                                        (run["snapshot_seconds"], SNAPSHOT, 0, "snapshot")):
            if value is None:
                continue
            y = _y(value, top)
            out.append(f'<rect class="bar {kind}" x="{x0 + dx:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                       f'height="{H - BOTTOM - y:.1f}" fill="{colour}">'
                       f"<title>{_e(when(run))} {kind} {_e(seconds(value))}</title></rect>")
            if value > top:
                out.append(f'<text x="{x0 + dx + bar / 2:.1f}" y="{TOP - 4}" font-size="10" '
                           f'text-anchor="middle" fill="{colour}">{value:.0f}</text>')
        if run["outcome"] == "failed":
            out.append(f'<text class="failed-marker" x="{x0:.1f}" y="{H - BOTTOM - 4:.1f}" '
                       f'font-size="15" font-weight="bold" text-anchor="middle" fill="{FAILED}">'
                       f"\u2715<title>{_e(when(run))} failed: code {_e(run['code'])}</title></text>")
        if i % label_every == 0:
            label = (run.get("start") or run.get("end") or "?")[5:10]
            out.append(f'<text x="{x0:.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                       f'text-anchor="middle">{_e(label)}</text>')
    for value, colour, text in ((window, FREEZE, f"freeze window {window} s "
                                 f"(SafeFreezeWaitInSeconds {lim['safe_freeze_wait']})"),
                                (timeout, SNAPSHOT, f"timeout {timeout} s (longest freeze hold)")):
        y = _y(value, top)
        out.append(f'<line class="limit" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        anchor_y = y - 4 if colour == FREEZE else y + 13
        out.append(f'<text x="{W - RIGHT - 4}" y="{anchor_y:.1f}" font-size="11" '
                   f'text-anchor="end" fill="{colour}">{_e(text)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#555"/>')
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" '
               f'stroke="#555"/>')
    legend = ((FREEZE, "freeze (until every mount is frozen)"),
              (SNAPSHOT, "snapshot"), (FAILED, "failed run"))
    x = LEFT
    for colour, text in legend:
        out.append(f'<rect x="{x}" y="12" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{x + 16}" y="22" font-size="12">{_e(text)}</text>')
        x += 24 + 7 * len(text)
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{H - 14}" font-size="12" '
               f'text-anchor="middle">run start (UTC, month-day)</text>')
    out.append("</svg>")
    return "\n".join(out)


def _table(doc: dict) -> List[str]:
    out = ["<table><thead><tr><th>Start (UTC)</th><th>Result</th><th>Code</th><th>Freeze</th>"
           "<th>Frozen</th><th>Snapshot</th><th>Thaw</th><th>Mounts frozen, in order</th>"
           "<th>What went wrong</th><th>Source</th></tr></thead><tbody>"]
    for run in reversed(doc["runs"]):
        cls = run["outcome"]
        out.append(
            f'<tr class="run-{cls}"><td class="t">{_e(when(run))}</td>'
            f'<td class="{"failed" if cls == "failed" else ""}">{_e(result(run))}</td>'
            f'<td class="n">{_e(code(run))}</td>'
            f'<td class="n">{_e(seconds(run["freeze_seconds"]))} '
            f'<small>{_e(percent(run["freeze_ratio"]))}</small></td>'
            f'<td class="n">{_e(seconds(run["frozen_seconds"]))} '
            f'<small>{_e(percent(run["frozen_ratio"]))}</small></td>'
            f'<td class="n">{_e(seconds(run["snapshot_seconds"]))}</td>'
            f'<td class="n">{_e(seconds(run["thaw_seconds"]))}</td>'
            f"<td>{_e(mounts(run))}</td>"
            f"<td>{'<br>'.join(_e(x) for x in what_failed(run, doc['limits']))}</td>"
            f"<td><small>{_e(run['source'] or run['status_file'] or '')}</small></td></tr>")
    out.append("</tbody></table>")
    return out


def history(doc: dict) -> str:
    host = doc["host"]
    name = host.get("hostname") or ("live system" if host["live"] else host["root"])
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\">",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>azbdiag backup history: {_e(name)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Backup history of {_e(name)}</h1>"]
    lim = doc["limits"]
    failed = sum(1 for r in doc["runs"] if r["outcome"] == "failed")
    out.append(f"<p>{doc['runs_total']} run(s) in the backup extension's logs and status files"
               f"{f', {failed} failed' if failed else ''}. Limits ({_e(lim['source'])}): "
               f"SafeFreezeWaitInSeconds {lim['safe_freeze_wait']} (every mount frozen within "
               f"{lim['freeze_window_seconds']} s), timeout {lim['timeout']} (frozen at most "
               f"{lim['timeout']} s).</p>")
    trend = doc.get("trend")
    if trend:
        cls = {"ok": "ok", "warn": "warn"}.get(trend["status"], "")
        out.append(f'<p>freeze.trend: <span class="{cls}">{_e(trend["status"].upper())}</span> '
                   f"{_e(trend['summary'])}</p>")
    if doc.get("note"):
        out.append(f"<p>No backup run on record: {_e(doc['note'])}.</p>")
    elif doc["runs"]:
        out.append(chart(doc))
        if len(doc["runs"]) > CHART_RUNS:
            out.append(f"<p><small>The chart shows the newest {CHART_RUNS} runs.</small></p>")
        out.extend(_table(doc))
    out += [f"<p><small>{_e(n)}</small></p>" for n in doc.get("notes") or []]
    if doc["malformed_lines"]:
        out.append(f"<p><small>{doc['malformed_lines']} malformed log line(s) skipped: "
                   f"{_e(', '.join(doc['malformed_where']))}</small></p>")
    out.append(f"<p><small>generated {_e(doc['generated_at'])} by azbdiag "
               f"{_e(doc['tool']['version'])}</small></p></body></html>")
    return "\n".join(out) + "\n"
