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


def chunks(s: dict, fmt: str):
    """The summary in format `fmt` as pieces of text to write one after the other: a format
    that lists every host yields them a few hundred at a time (summary_chunks), so that a
    fleet's text is never held whole; the others yield their text once."""
    import importlib

    from azbdiag.render import SUMMARY_FORMATS

    if fmt not in SUMMARY_FORMATS:
        raise ValueError(f"no {fmt!r} rendering of the summary")
    module = importlib.import_module(f"azbdiag.render.{fmt}")
    stream = getattr(module, "summary_chunks", None)
    return stream(s) if stream is not None else iter((module.summary(s),))


def rows(s: dict):
    """(error code, rule entry or None) in display order: a code line, then its rules."""
    rules = {e["id"]: e for e in s["rules"]}
    for code in s["error_codes"]:
        yield code, None
        for rule_id in code["rules"]:
            yield code, rules[rule_id]
