"""The verdict at the top of the check report: the backup extension's last result, and the
findings ranked by how likely they explain it. Shared by the text report and the metrics.

Everything comes from the report document: `last_backup` (extension.last_status's decoding,
azbdiag/report.py) and the results. Nothing here reads the machine.
"""

from __future__ import annotations

import datetime
from typing import List, Optional, Tuple

FINDING_ORDER = {"fail": 0, "error": 1, "warn": 2}
VERDICT_RULE = "extension.last_status"


def failed(last: Optional[dict]) -> bool:
    """Whether the last run failed (or hangs), so that its code can explain findings."""
    return bool(last) and last.get("outcome") in ("failed", "stuck")


def _cause_match(rule_id: str, patterns) -> bool:
    for pat in patterns or ():
        if pat.endswith(".*") and rule_id.startswith(pat[:-1]):
            return True
        if rule_id == pat:
            return True
    return False


def why_first(r: dict, last: Optional[dict]) -> str:
    """Why a finding relates to the last failed run: '' when it does not."""
    if not failed(last):
        return ""
    azure = last.get("azure_error")
    if azure and azure in (r.get("error_codes") or ()):
        return f"names {azure}, the error of the last backup"
    if _cause_match(r.get("id", ""), last.get("cause_rules")):
        return f"a known cause of extension code {last.get('code')}"
    return ""


def ranked_findings(doc: dict) -> List[Tuple[dict, str]]:
    """The warn, fail and error results, most likely explanation of the last backup first:
    those naming its Azure error, then those its extension code points at (both before
    anything else), then fail, error, warn; the report's order within each. The verdict's
    own rule is left out. Each comes with why it is ranked first ('' for the others)."""
    last = doc.get("last_backup")
    found = []
    for n, r in enumerate(doc.get("results") or []):
        if r.get("status") not in FINDING_ORDER or r.get("id") == VERDICT_RULE:
            continue
        why = why_first(r, last)
        names = bool(why) and why.startswith("names ")
        key = (not names, not why, FINDING_ORDER[r["status"]], n)
        found.append((key, r, why))
    return [(r, why) for _, r, why in sorted(found, key=lambda f: f[0])]


def ago(seconds: Optional[int]) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def when(last: dict) -> str:
    """'2026-11-20 02:14 UTC (9 days ago)', or '' when the time is unknown."""
    stamp = last.get("time")
    if not stamp:
        return ""
    try:
        t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return str(stamp)
    age = ago(last.get("age_seconds"))
    return f"{t:%Y-%m-%d %H:%M} UTC" + (f" ({age})" if age else "")


def code_text(last: dict) -> str:
    """'extension code 121 (FailedRetryableFsFreezeFailed), shown in Azure as
    UserErrorFsFreezeFailed' for the code that explains the run."""
    code = last.get("code")
    if code is None:
        return "no result code"
    text = f"extension code {code}" + (f" ({last['name']})" if last.get("name") else "")
    if last.get("azure_error"):
        text += f", shown in Azure as {last['azure_error']}"
    others = [f"{label} {value}" for label, value in (("status code", last.get("status_code")),
                                                       ("vmHealthStatusCode", last.get("ext_code")))
              if value is not None and value != code]
    if others:
        text += " (" + ", ".join(others) + ")"
    return text


def headline(doc: dict) -> Optional[Tuple[str, str]]:
    """(status for colour, one line) about the last backup; None when the report has no
    extension.last_status result (for example with --only)."""
    result = next((r for r in doc.get("results") or [] if r.get("id") == VERDICT_RULE), None)
    if result is None:
        return None
    last = doc.get("last_backup")
    status = result.get("status", "")
    if status == "skipped":
        return "skipped", f"Last backup: none on record ({result.get('summary', '')})"
    if status == "error" or not last:
        return status, f"Last backup: {status.upper()}: {result.get('summary', '')}"
    at = when(last)
    at = f" {at}" if at else ""
    outcome = last.get("outcome")
    if outcome == "success":
        extra = f" but hit {code_text(last)}" if status == "warn" else ""
        return status, f"Last backup: succeeded{at}{extra}"
    if outcome == "in progress":
        return status, f"Last backup: in progress (started{at})"
    if outcome == "stuck":
        return status, f"Last backup: STUCK in progress since{at}: the extension's daemon died or hangs"
    return status, f"Last backup: FAILED{at} with {code_text(last)}"
