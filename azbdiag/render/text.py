"""Text for people: the check report, the fleet summary, error codes and the rule list."""

from __future__ import annotations

import os
import sys
import textwrap
from typing import List, Optional

from azbdiag.render import one_line, verdict
from azbdiag.render.summary_parts import FINDINGS, headline, hosts_short, rows

_COLOURS = {"ok": "32", "warn": "33", "fail": "31", "skipped": "90", "error": "35"}
RELEVANCE_TEXT = {
    "yes": "yes: the cause is usually inside the Linux guest",
    "partly": "partly: some causes are inside the Linux guest, or it is only a hint",
    "windows-only": "no: Windows guests only",
    "platform": "no: a platform, policy or restore-side error with no cause in the guest",
}


def use_colour(stream=None) -> bool:
    """Colour only on a terminal, and not with TERM=dumb or a non-empty NO_COLOR (no-color.org:
    an empty NO_COLOR does not count)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR") \
        and os.environ.get("TERM") != "dumb"


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


def _wrap_paragraphs(text: str, indent: str, width: int = 100) -> List[str]:
    out: List[str] = []
    for para in text.splitlines() or [""]:
        out.extend(textwrap.wrap(para, width=width, initial_indent=indent,
                                 subsequent_indent=indent + "  ") or [indent])
    return out


def _wrap_item(text: str, indent: str = "  ", first: Optional[str] = None) -> List[str]:
    return textwrap.wrap(text, width=88, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]


# ---- the check report --------------------------------------------------------------------

def report(doc: dict, colour: bool = False, full: bool = False) -> str:
    """Verdict first: the last backup decoded, then the findings that explain it ranked
    (azbdiag/render/verdict.py), then one count line for ok and one for skipped. A run with
    no finding says so in one line. `full` (check --all) also lists every rule as a table."""
    results = doc["results"]
    lines = [_header(doc), ""]
    head = verdict.headline(doc)
    findings = verdict.ranked_findings(doc)
    s = doc["summary"]
    if not findings and not full and (head is None or head[0] in ("ok", "skipped")):
        lines.append(_healthy_line(doc, head))
        return "\n".join(lines) + "\n"
    if head is not None:
        wrapped = textwrap.wrap(head[1], width=100, subsequent_indent="  ") or [head[1]]
        lines.append(_paint(wrapped[0], head[0], colour) if head[0] in _COLOURS else wrapped[0])
        lines.extend(wrapped[1:])
        last_status = next(r for r in results if r["id"] == verdict.VERDICT_RULE)
        if last_status["status"] in ("warn", "fail", "error"):
            # what the extension wrote; the findings below say what to do about it
            for e in last_status["evidence"]:
                lines.extend(_wrap_paragraphs(e, "  "))
            code = (doc.get("last_backup") or {}).get("code")
            lines.append(f"  (rule {verdict.VERDICT_RULE}"
                         + (f"; what the code means: azbdiag explain {code})" if code is not None
                            else ")"))
        lines.append("")
    if full:
        lines.extend(_table(results, colour))
        lines.append("")
    if findings:
        explained = any(why for _, why in findings)
        lines.append(f"{len(findings)} finding(s), " + ("the likely cause of the last backup's "
                     "failure first:" if explained else "the worst first:"))
        for r, why in findings:
            lines.append("")
            lines.extend(_details(r, why, colour))
        lines.append("")
    if full:
        lines.append(f"{s['ok']} ok, {s['warn']} warn, {s['fail']} fail, {s['skipped']} skipped, "
                     f"{s['error']} error")
    else:
        lines.extend(_count_lines(results))
    not_root = [r for r in results if r.get("skip_reason") == "not root"]
    if not_root:
        lines.append(f"{len(not_root)} checks need root: re-run with sudo for a full report.")
    return "\n".join(lines) + "\n"


def _header(doc: dict) -> str:
    host = doc["host"]
    distro = host["distro"]
    where = "live system" if host["live"] else f"offline root {host['root']}"
    azure = {True: "Azure VM", False: "not an Azure VM", None: "Azure: unknown"}[host["azure"]]
    return (f"azbdiag {doc['tool']['version']} - {where} - {distro.get('name') or distro['id']} "
            f"{distro['version']} - kernel {host['kernel'] or '?'} - {azure}")


def _healthy_line(doc: dict, head) -> str:
    s = doc["summary"]
    if s["ok"]:
        line = f"Healthy: no check found a problem ({s['ok']} ok, {s['skipped']} skipped)"
    else:
        line = f"No finding, but no check could run ({_skipped(doc['results'])})"
    if head is not None and head[0] == "ok":
        line += "; " + head[1][0].lower() + head[1][1:]
    not_root = sum(1 for r in doc["results"] if r.get("skip_reason") == "not root")
    if not_root:
        line += f"; {not_root} checks need root: re-run with sudo for a full report"
    return line + "."


def _table(results: list, colour: bool) -> List[str]:
    idw = max([len(r["id"]) for r in results] + [2])
    lines = [f"{'STATUS':8} {'ID':{idw}}  SUMMARY"]
    for r in results:
        status = r["status"]
        tag = _paint(f"{status.upper():8}", status, colour)
        summary = r["summary"].splitlines()[0] if r["summary"] else ""
        lines.append(f"{tag} {r['id']:{idw}}  {summary}")
    return lines


def _details(r: dict, why: str, colour: bool) -> List[str]:
    head = f"[{r['status'].upper()}] {r['id']}: {r['title']}"
    lines = [_paint(head, r["status"], colour)]
    if why:
        lines.append(f"  ({why})")
    lines.extend(_wrap_paragraphs(r["summary"], "  "))
    if r["error_codes"]:
        lines.append("  explains: " + ", ".join(r["error_codes"]))
    if r["evidence"]:
        lines.append("  evidence:")
        for e in r["evidence"]:
            lines.extend(_wrap_paragraphs(e, "    "))
    if r["remedy"]:
        lines.append("  remedy:")
        lines.extend(_wrap_paragraphs(r["remedy"], "    "))
    if r["fix"]:
        lines.append(f"  fix: sudo azbdiag fix --{r['fix']}")
    return lines


def _count_lines(results: list) -> List[str]:
    """One line for ok, one for skipped (with the reasons), each only when there are any."""
    lines = []
    ok_count = sum(1 for r in results if r["status"] == "ok")
    if ok_count:
        lines.append(f"{ok_count} ok (--all lists every rule)")
    skipped = _skipped(results)
    if skipped:
        lines.append(f"{skipped} (--all lists them)")
    return lines


def _skipped(results: list) -> str:
    """'24 skipped: 14 offline root, 4 not enabled, ...', or '' when none was skipped."""
    reasons: dict = {}
    for r in results:
        if r["status"] == "skipped":
            reason = r.get("skip_reason") or "skipped"
            reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return ""
    parts = ", ".join(f"{n} {reason}" for reason, n in
                      sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(reasons.values())} skipped: {parts}"


# ---- the fleet summary -------------------------------------------------------------------

def _with_findings(hosts):
    return (h for h in hosts if h["fail"] or h["warn"] or h["error"])


def summary(s: dict) -> str:
    lines = [f"azbdiag summarize: {headline(s)}", ""]
    if s["rules"]:
        table = [("ERROR CODE / RULE", "FIX", "FAIL", "WARN", "ERROR", "HOSTS")]
        for code, e in rows(s):
            if e is None:
                table.append((code["error_code"], "", str(code["hosts_fail"]),
                              str(code["hosts_warn"]), str(code["hosts_error"]), ""))
                continue
            where = "; ".join(f"{st}: {hosts_short(e[st])}" for st in FINDINGS if e[st])
            table.append(("  " + e["id"], e["fix"] or "-", str(len(e["fail"])), str(len(e["warn"])),
                          str(len(e["error"])), where))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for row in table:
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])]
                                   + [row[i].rjust(widths[i]) for i in (2, 3, 4)] + [row[5]]).rstrip())
        lines.append("(code lines count hosts; a host counts once per code)")
    else:
        lines.append("No host has a warn, fail or error.")
    found = _with_findings(s["hosts"])   # (a generator: a fleet's hosts are not all held)
    if next(found, None) is not None:
        lines += ["", "HOSTS WITH FINDINGS"]
        width = max(len("HOST"), max(len(h["host"]) for h in _with_findings(s["hosts"])))
        lines.append(f"{'HOST':{width}}  FAIL  WARN  ERROR  RULES (fail first)")
        for h in _with_findings(s["hosts"]):
            rule_ids = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
            lines.append(f"{h['host']:{width}}  {h['fail']:4}  {h['warn']:4}  {h['error']:5}  "
                         f"{hosts_short(rule_ids, 4)}")
    if s["totals"]["hosts_not_root"]:
        lines += ["", f"{s['totals']['hosts_not_root']} report(s) were made without root: "
                      f"checks that need root were skipped there."]
    if s["rejected"]:
        lines += ["", "SKIPPED FILES"]
        lines += [f"  {one_line(r['file'])}: {r['reason']}" for r in s["rejected"]]
    fixes = sorted({e["fix"] for e in s["rules"] if e["fix"] and e["fail"]})
    if fixes:
        lines += ["", "Fix on the hosts concerned: sudo azbdiag fix " +
                  " ".join(f"--{f}" for f in fixes) + "  (or contrib/ansible/fix.yml)"]
    return "\n".join(lines) + "\n"


# ---- error codes (explain) ---------------------------------------------------------------

def code_entry(data: dict) -> str:
    lines: List[str] = []
    number = f" ({data['number']})" if data["number"] is not None else ""
    kind = "backup extension status code" if data["kind"] == "extension" else "Azure Backup error code"
    lines.append(f"{data['code']}{number}: {data['title']}")
    lines.append(f"  kind:          {kind}")
    if data["aliases"]:
        lines.append(f"  also known as: {', '.join(data['aliases'])}")
    lines.append(f"  Linux guests:  {RELEVANCE_TEXT.get(data['linux_relevance'], data['linux_relevance'])}")
    if data["kind"] == "extension":
        lines.append(f"  health:        {data['health'] or 'none defined'}")
        if data["surfaces_as"]:
            lines.append(f"  shown in Azure as: {data['surfaces_as']} "
                         f"(`azbdiag explain {data['surfaces_as']}`)")
        lines.append("")
        lines.append("Raised when:")
        lines.extend(_wrap_item(data["raised_when"] or ""))
    lines.append("")
    lines.append("What it means:")
    lines.extend(_wrap_item(data["meaning"]))
    if data["causes"]:
        lines.append("")
        lines.append("Causes:")
        for cause in data["causes"]:
            lines.extend(_wrap_item(cause, "    ", "  - "))
    if data["steps"]:
        lines.append("")
        lines.append("What to do:")
        for n, step in enumerate(data["steps"], 1):
            lines.extend(_wrap_item(step, "     ", f"  {n}. "))
    if data.get("extension_codes"):
        lines.append("")
        lines.append("Backup extension status codes behind it:")
        for e in data["extension_codes"]:
            lines.append(f"  {e['number']} {e['name']}")
    lines.append("")
    if data["rules"]:
        lines.append("azbdiag rules that look for it (`sudo azbdiag check --only ID`):")
        width = max(len(r["id"]) for r in data["rules"])
        for r in data["rules"]:
            lines.append(f"  {r['id']:{width}}  {r['title']}")
    else:
        lines.append("No azbdiag rule looks for this one.")
    if data["fixes"]:
        lines.append("Fixes: " + "; ".join(f["command"] for f in data["fixes"]))
    return "\n".join(lines) + "\n"


def code_list(code_rows: list) -> str:
    labels = []
    for row in code_rows:
        label = row["code"] if row["number"] is None else f"{row['number']} {row['code']}"
        labels.append(label)
    width = min(max(len(x) for x in labels), 44)
    out = [f"{'CODE':{width}}  {'LINUX':12}  TITLE"]
    for label, row in zip(labels, code_rows):
        out.append(f"{label:{width}}  {row['linux_relevance']:12}  {row['title']}")
    return "\n".join(out) + "\n"


# ---- the rule list -----------------------------------------------------------------------

def rule_list(rules: list) -> str:
    idw = max(len(r.id) for r in rules)
    lines = [f"{'ID':{idw}}  ROOT LIVE  TITLE / ERROR CODES"]
    for r in rules:
        flags = f"{'yes' if r.needs_root else 'no':4} {'yes' if r.live_only else 'no':4}"
        lines.append(f"{r.id:{idw}}  {flags}  {r.title}")
        if r.error_codes:
            lines.append(f"{'':{idw}}             {', '.join(r.error_codes)}")
    return "\n".join(lines) + "\n"
