"""The backup history (azbdiag/history.py) as text: one line per run, then what went wrong
in the failed runs, then the freeze.trend verdict."""

from __future__ import annotations

from typing import List, Optional

from azbdiag.render import one_line


def seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def percent(ratio: Optional[float]) -> str:
    return "" if ratio is None else f"{ratio:.0%}"


def when(run: dict) -> str:
    stamp = run.get("start") or run.get("end")
    text = stamp.replace("T", " ")[:16] if stamp else "?"
    return text if run.get("start") else f"{text}*"


def mounts(run: dict) -> str:
    if run.get("freeze_skipped"):
        return "(nothing to freeze)"
    failed = {f["mount"]: f["error"] for f in run["freeze_failures"] + run["open_failures"]}
    shown = run["mounts_frozen"] or run["mounts_planned"]
    parts = [f"{m} (FAILED: {failed[m]})" if m in failed else m for m in shown]
    parts += [f"{m} (FAILED: {e})" for m, e in failed.items() if m not in shown]
    text = ", ".join(parts) if parts else "-"
    if parts and not run["mounts_frozen"]:
        text = f"planned: {text}"       # safefreeze's own output never made it to the log
    return one_line(text)


def result(run: dict) -> str:
    return {"success": "success", "failed": "FAILED", "unfinished": "unfinished"}.get(
        run["outcome"], run["outcome"])


def code(run: dict) -> str:
    if run["status_code"] is None:
        return "-"
    text = str(run["status_code"])
    if run["ext_code"] not in (None, 0, 1, run["status_code"]):
        text += f"/{run['ext_code']}"
    return text


def what_failed(run: dict, limits: dict) -> List[str]:
    """Why a run failed, as far as the logs say."""
    out = []
    name = f" {run['name']}" if run.get("name") else ""
    azure = f" ({run['azure_error']})" if run.get("azure_error") else ""
    if run["outcome"] == "failed":
        out.append(f"code {run['code']}{name}{azure}")
    for f in run["freeze_failures"]:
        out.append(f"FIFREEZE failed on {f['mount']}: {f['error'] or 'no reason logged'}")
    for f in run["open_failures"]:
        out.append(f"could not open {f['mount']}: {f['error'] or 'no reason logged'}")
    if run["timed_out"]:
        out.append(f"the freeze did not finish within {limits['freeze_window_seconds']} s "
                   f"(SafeFreezeWaitInSeconds {limits['safe_freeze_wait']})")
    elif run.get("freeze_error") and not run["freeze_failures"]:
        out.append(run["freeze_error"])
    if run.get("thaw_error"):
        out.append(f"thaw: {run['thaw_error']}")
    if run["thaw_failures"] and run["freeze_failures"]:
        out.append(f"{len(run['thaw_failures'])} FITHAW error(s) after it: only its consequence")
    if run["outcome"] == "unfinished":
        out.append("no final status: a backup is running, or the extension's daemon died or "
                   "hangs")
    return [one_line(x) for x in out]


def history(doc: dict) -> str:
    host = doc["host"]
    where = "live system" if host["live"] else f"offline root {host['root']}"
    runs = doc["runs"]
    logs = [f["name"] for f in doc["logs"] if not f["error"]]
    lines = [f"azbdiag history - {where} - {doc['runs_total']} run(s) from "
             f"{', '.join(logs) or 'no log'} and {doc['status_files']} status file(s)"]
    if doc.get("note"):
        lines += ["", f"No backup run on record: {doc['note']}."]
        return "\n".join(lines) + "\n"
    lim = doc["limits"]
    lines.append(f"Limits ({lim['source']}): SafeFreezeWaitInSeconds {lim['safe_freeze_wait']} "
                 f"(every mount frozen within {lim['freeze_window_seconds']} s), timeout "
                 f"{lim['timeout']} (frozen at most {lim['timeout']} s)")
    for f in doc["logs"]:
        if f["error"]:
            lines.append(f"{f['name']}: not read: {f['error']}")
        elif f["truncated"]:
            lines.append(f"{f['name']}: only its last {f['bytes_read'] // 1024} KiB were read")
    lines += [one_line(n) for n in doc.get("notes") or []]
    if doc["malformed_lines"]:
        lines.append(f"{doc['malformed_lines']} malformed log line(s) skipped "
                     f"({', '.join(doc['malformed_where'])})")
    lines.append("")
    lines.append(f"{'START (UTC)':17} {'RESULT':10} {'CODE':8} {'FREEZE':14} {'FROZEN':14} "
                 f"{'SNAPSHOT':9} {'THAW':7} MOUNTS FROZEN, IN ORDER")
    for run in runs:
        freeze = f"{seconds(run['freeze_seconds']):8} {percent(run['freeze_ratio']):>5}"
        frozen = f"{seconds(run['frozen_seconds']):8} {percent(run['frozen_ratio']):>5}"
        lines.append(f"{when(run):17} {result(run):10} {code(run):8} {freeze:14} {frozen:14} "
                     f"{seconds(run['snapshot_seconds']):9} {seconds(run['thaw_seconds']):7} "
                     f"{mounts(run)}".rstrip())
    if any(not r.get("start") for r in runs):
        lines.append("* known from a status file only (the logs no longer hold the run): "
                     "the time its status was written")
    bad = [r for r in runs if r["outcome"] != "success"]
    if bad:
        lines += ["", "What went wrong:"]
        for run in bad:
            lines.append(f"  {when(run)}  " + "; ".join(what_failed(run, lim)))
    trend = doc.get("trend")
    if trend:
        lines += ["", f"Trend (freeze.trend): {trend['status'].upper()} {one_line(trend['summary'])}"]
    lines += ["", "FREEZE: until every mount was frozen (freezeTimeTaken), against "
                  "SafeFreezeWaitInSeconds; FROZEN: how long the file systems stayed frozen, "
                  "against timeout."]
    return "\n".join(lines) + "\n"
