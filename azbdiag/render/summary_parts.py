"""What the fleet summary's text, markdown, csv and html renderings share: the headline, the
row order (an error code, then its rules) and short host lists."""

from __future__ import annotations

from typing import List

from azbdiag.summarize import FINDINGS  # noqa: F401  (re-exported to the summary renderers)

TEXT_HOSTS = 6  # hosts named per row in text and markdown; json, csv and html name them all


def headline(s: dict) -> str:
    t = s["totals"]
    text = (f"{t['reports']} report(s): {t['hosts_fail']} host(s) with a fail, "
            f"{t['hosts_warn_only']} with warnings only, {t['hosts_clean']} clean")
    if t["hosts_error"]:
        text += f", {t['hosts_error']} where a check could not run"
    if t["rejected"]:
        text += f"; {t['rejected']} file(s) skipped"
    return text


def hosts_short(names: List[str], limit: int = TEXT_HOSTS) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def rows(s: dict):
    """(error code, rule entry or None) in display order: a code line, then its rules."""
    rules = {e["id"]: e for e in s["rules"]}
    for code in s["error_codes"]:
        yield code, None
        for rule_id in code["rules"]:
            yield code, rules[rule_id]
