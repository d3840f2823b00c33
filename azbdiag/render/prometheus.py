"""The check report as Prometheus metrics in the text exposition format (version 0.0.4), for
node_exporter's textfile collector: `check --format prometheus`, or the file the systemd timer
writes into AZBDIAG_TEXTFILE_DIR (azbdiag/textfile.py).

Every family has HELP and TYPE lines; all are gauges. Label values are escaped (backslash,
double quote, newline); metric and label names are fixed here and valid. Families whose value
is unknown (no backup on record, no freeze measured) are left out rather than given a fake 0.
"""

from __future__ import annotations

import datetime
from typing import List, Optional

STATUSES = ("ok", "warn", "fail", "skipped", "error")
OUTCOMES = ("success", "failed", "stuck", "in progress")


def label_value(value) -> str:
    """A label value escaped as the exposition format wants it."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items()) + "}"


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Families:
    def __init__(self):
        self.lines: List[str] = []

    def family(self, name: str, help_text: str, samples) -> None:
        samples = [(labels, value) for labels, value in samples if value is not None]
        if not samples:
            return
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")


def _epoch(iso: Optional[str]) -> Optional[float]:
    try:
        return datetime.datetime.strptime(iso or "", "%Y-%m-%dT%H:%M:%SZ") \
            .replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return None


def report(doc: dict) -> str:
    out = _Families()
    results = doc.get("results") or []
    out.family("azbdiag_rule_status",
               "Result of each azbdiag check in the last run: 1 for the status it has, 0 for "
               "the others.",
               [({"rule": r["id"], "status": s}, int(r["status"] == s))
                for r in results for s in STATUSES])
    summary = doc.get("summary") or {}
    out.family("azbdiag_rules", "Number of azbdiag checks per status in the last run.",
               [({"status": s}, int(summary.get(s, 0))) for s in STATUSES])
    out.family("azbdiag_info", "The azbdiag version that wrote these metrics; always 1.",
               [({"version": (doc.get("tool") or {}).get("version", "")}, 1)])
    out.family("azbdiag_check_timestamp_seconds", "When the last azbdiag check ran (Unix time).",
               [({}, _epoch(doc.get("generated_at")))])
    out.family("azbdiag_check_duration_seconds", "How long the last azbdiag check took.",
               [({}, (doc.get("duration_ms") or 0) / 1000)])
    last = doc.get("last_backup") or {}
    outcome = last.get("outcome")
    out.family("azbdiag_backup_last_success",
               "1 when the backup extension's last run succeeded, 0 when it failed or hangs.",
               [({}, None if outcome not in ("success", "failed", "stuck")
                 else int(outcome == "success"))])
    out.family("azbdiag_backup_last_outcome",
               "The backup extension's last run: 1 for its outcome, 0 for the others.",
               [({"outcome": o}, int(o == outcome)) for o in OUTCOMES] if outcome else [])
    out.family("azbdiag_backup_last_status_code",
               "Result code of the backup extension's last run (status file `code`).",
               [({}, last.get("status_code"))])
    out.family("azbdiag_backup_last_extension_code",
               "The extension error code that explains the last run (vmHealthStatusCode or "
               "code), with the Azure error it shows up as.",
               [({"name": last.get("name") or "", "azure_error": last.get("azure_error") or ""},
                 last.get("code"))])
    out.family("azbdiag_backup_last_timestamp_seconds",
               "When the backup extension wrote its last status (Unix time).",
               [({}, _epoch(last.get("time")))])
    out.family("azbdiag_backup_last_age_seconds",
               "Age of the backup extension's last status when the check ran.",
               [({}, last.get("age_seconds"))])
    for key, help_text, limit_help in (
            ("freeze", "Time the newest measured freeze took to freeze every mount "
                       "(freezeTimeTaken).",
             "The time the extension waits for the freeze (from SafeFreezeWaitInSeconds)."),
            ("frozen", "Time the file systems stayed frozen in the newest measured run.",
             "How long safefreeze keeps file systems frozen at most (timeout).")):
        info = last.get(key) or {}
        out.family(f"azbdiag_backup_{key}_duration_seconds", help_text, [({}, info.get("seconds"))])
        out.family(f"azbdiag_backup_{key}_limit_seconds", limit_help,
                   [({}, info.get("limit_seconds"))])
    return "\n".join(out.lines) + "\n"
