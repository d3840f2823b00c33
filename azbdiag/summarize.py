"""`azbdiag summarize REPORT...`: one table across a fleet's `azbdiag check --format json` reports.

Files and folders (searched recursively for *.json) are read, checked against the report JSON
Schema with azbdiag.schema (no jsonschema at run time), and the warn/fail/error results are
grouped by Azure error code and rule, with the hosts affected and the fix id. Files that are
not valid reports are named with the reason and skipped. Exit 0 when no host has a fail, 1 when
some host has one, 3 when no file was a valid report.

Imports stay light at module level: cli.py imports this module on every start.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from azbdiag.cli import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK, Fatal, _choice, app, err, guarded

FORMATS = ("text", "json", "markdown", "csv", "html")
MAX_REPORT_BYTES = 64 * 1024 * 1024
NO_CODE = "(no error code)"
FINDINGS = ("fail", "warn", "error")
SUMMARY_VERSION = 1
TEXT_HOSTS = 6  # hosts named per row in text and markdown; json, csv and html name them all


# ---------------------------------------------------------------------------------------------
# Finding and loading reports


def find_reports(paths):
    """(files to read, [(path, reason)] for arguments that lead to no file).

    Folders are searched recursively for *.json without following symbolic links to folders;
    a file reached twice (named twice, or through a link) is read once."""
    import os

    files, rejected, seen = [], [], set()

    def add(path, key):
        if key not in seen:
            seen.add(key)
            files.append(path)

    def walk(top):
        found = 0
        # (path as shown, the same folder with symbolic links resolved)
        stack = [(top, os.path.realpath(top))]
        while stack:
            folder, real = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                rejected.append((folder, f"cannot read folder: {exc.strerror or exc}"))
                continue
            subfolders = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subfolders.append((entry.path, os.path.join(real, entry.name)))
                    elif entry.name.endswith(".json"):
                        found += 1
                        key = (os.path.realpath(entry.path) if entry.is_symlink()
                               else os.path.join(real, entry.name))
                        add(entry.path, key)
                except OSError as exc:
                    rejected.append((entry.path, f"cannot read: {exc.strerror or exc}"))
            stack.extend(reversed(subfolders))
        return found

    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            if not walk(path):
                rejected.append((path, "folder holds no *.json file"))
        elif os.path.lexists(path):
            add(path, os.path.realpath(path))
        else:
            rejected.append((path, "no such file or folder"))
    return files, rejected


def load_report(path: str, check):
    """(document, None) for a valid report, else (None, one-line reason)."""
    import json

    from azbdiag.schema import first_error

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    if len(raw) > MAX_REPORT_BYTES:
        return None, "larger than 64 MiB, not a report"
    if not raw.strip():
        return None, "empty file"
    if b"\0" in raw:
        return None, "binary file, not a JSON report"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not UTF-8 text (binary, or another encoding), not a JSON report"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            return None, f"truncated JSON: {exc.msg} (line {exc.lineno}); was the copy cut short?"
        return None, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    except ValueError as exc:  # for example an integer with too many digits
        return None, f"malformed JSON: {exc}"
    if not isinstance(doc, dict) or ("schema_version" not in doc and "tool" not in doc):
        return None, "not an azbdiag report (JSON of another kind)"
    tool = doc.get("tool")
    name = tool.get("name") if isinstance(tool, dict) else None
    if isinstance(name, str) and name != "azbdiag":
        return None, f"not an azbdiag report (made by {_clean(name)[:40]!r})"
    if "schema_version" not in doc:
        return None, "no schema_version: not an azbdiag check report"
    version = doc["schema_version"]
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        if isinstance(version, (int, float)) and not isinstance(version, bool) and version > 1:
            return None, (f"schema_version {_clean(repr(version))[:40]} is newer than this "
                          f"azbdiag reads (1): update azbdiag")
        return None, (f"schema_version {_clean(repr(version))[:40]} is not supported "
                      f"(this azbdiag reads version 1)")
    problem = first_error(doc, check)
    if problem is not None:
        return None, f"does not match the report schema: {_clean(problem)}"
    return doc, None


def _clean(text: str) -> str:
    """One line without control characters (report contents may come from anywhere)."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text)).strip()


# ---------------------------------------------------------------------------------------------
# The summary document


def _labels(entries):
    """Host names: host.hostname from the report, else the file's folder (reports/<name>/...)."""
    import collections
    import os

    def parent(path):
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or path

    names = [d["hostname"] or _clean(parent(d["path"])) or _clean(d["path"]) for d in entries]
    counts = collections.Counter(names)
    labels = [f"{n} ({_clean(parent(d['path']))})" if counts[n] > 1 else n
              for n, d in zip(names, entries)]
    counts = collections.Counter(labels)
    return [f"{n} ({_clean(d['path'])})" if counts[lab] > 1 else lab
            for n, lab, d in zip(names, labels, entries)]


def _natural(text: str):
    import re

    # Odd positions are the ASCII digit runs, so ints and strings never meet in a comparison.
    return [int(part) if i % 2 else part.lower()
            for i, part in enumerate(re.split(r"([0-9]+)", text))]


def digest(path: str, doc: dict) -> dict:
    """What the summary needs from one valid report: small enough to pass between processes."""
    counts = {"ok": 0, "warn": 0, "fail": 0, "skipped": 0, "error": 0}
    findings = []
    for r in doc["results"]:
        status = r["status"]
        counts[status] += 1
        if status in FINDINGS:
            findings.append((status, r["id"], r["title"], r["fix"], tuple(r["error_codes"])))
    host = doc["host"]
    return {"path": path, "hostname": _clean(host.get("hostname") or ""),
            "generated_at": doc["generated_at"], "tool_version": doc["tool"]["version"],
            "live": host["live"], "root": host["root"], "is_root": host["is_root"],
            "counts": counts, "findings": findings}


def build_summary(entries, rejected) -> dict:
    """entries: digest() of each valid report; rejected: [(path, reason)]."""
    import datetime

    from azbdiag import __version__

    rules = {}
    hosts = []
    for label, d in zip(_labels(entries), entries):
        found = {s: [] for s in FINDINGS}
        for status, rule_id, title, fix, codes in d["findings"]:
            found[status].append(rule_id)
            entry = rules.get(rule_id)
            if entry is None:
                entry = rules[rule_id] = {"id": rule_id, "title": _clean(title), "fix": fix,
                                          "error_codes": [], "fail": [], "warn": [], "error": [],
                                          "_codes": set()}
            if codes not in entry["_codes"]:
                entry["_codes"].add(codes)
                for code in codes:
                    code = _clean(code)
                    if code and code not in entry["error_codes"]:
                        entry["error_codes"].append(code)
            if entry["fix"] is None and fix:
                entry["fix"] = fix
            entry[status].append(label)
        hosts.append({
            "host": label, "file": d["path"], "hostname": d["hostname"],
            "generated_at": d["generated_at"], "tool_version": d["tool_version"],
            "live": d["live"], "root": d["root"], "is_root": d["is_root"],
            **d["counts"], "failed_rules": found["fail"], "warned_rules": found["warn"],
            "error_rules": found["error"],
        })
    for entry in rules.values():
        del entry["_codes"]
        for status in FINDINGS:
            entry[status] = sorted(set(entry[status]), key=_natural)
        entry["fix"] = _clean(entry["fix"]) if entry["fix"] else None
    rule_list = sorted(rules.values(), key=lambda e: (-len(e["fail"]), -len(e["warn"]),
                                                      -len(e["error"]), e["id"]))
    by_code = {}
    for entry in rule_list:
        for code in entry["error_codes"] or [NO_CODE]:
            by_code.setdefault(code, []).append(entry)
    codes = []
    for code, members in by_code.items():
        affected = {s: set() for s in FINDINGS}
        for entry in members:
            for status in FINDINGS:
                affected[status].update(entry[status])
        codes.append({"error_code": code, "hosts_fail": len(affected["fail"]),
                      "hosts_warn": len(affected["warn"] - affected["fail"]),
                      "hosts_error": len(affected["error"]),
                      "rules": [e["id"] for e in members]})
    codes.sort(key=lambda c: (c["error_code"] == NO_CODE, -c["hosts_fail"], -c["hosts_warn"],
                              -c["hosts_error"], c["error_code"]))
    hosts.sort(key=lambda h: (-h["fail"], -h["warn"], -h["error"], _natural(h["host"])))
    totals = {
        "reports": len(hosts),
        "rejected": len(rejected),
        "hosts_fail": sum(1 for h in hosts if h["fail"]),
        "hosts_warn_only": sum(1 for h in hosts if h["warn"] and not h["fail"]),
        "hosts_error": sum(1 for h in hosts if h["error"]),
        "hosts_clean": sum(1 for h in hosts if not (h["fail"] or h["warn"] or h["error"])),
        "hosts_not_root": sum(1 for h in hosts if not h["is_root"]),
    }
    return {
        "summary_version": SUMMARY_VERSION,
        "tool": {"name": "azbdiag", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "totals": totals,
        "error_codes": codes,
        "rules": rule_list,
        "hosts": hosts,
        "rejected": [{"file": p, "reason": r} for p, r in rejected],
    }


def _headline(s: dict) -> str:
    t = s["totals"]
    text = (f"{t['reports']} report(s): {t['hosts_fail']} host(s) with a fail, "
            f"{t['hosts_warn_only']} with warnings only, {t['hosts_clean']} clean")
    if t["hosts_error"]:
        text += f", {t['hosts_error']} where a check could not run"
    if t["rejected"]:
        text += f"; {t['rejected']} file(s) skipped"
    return text


def _hosts_short(names: List[str], limit: int = TEXT_HOSTS) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def _rows(s: dict):
    """(error code, rule entry or None) in display order: a code line, then its rules."""
    rules = {e["id"]: e for e in s["rules"]}
    for code in s["error_codes"]:
        yield code, None
        for rule_id in code["rules"]:
            yield code, rules[rule_id]


# ---------------------------------------------------------------------------------------------
# Renderers


def render_text(s: dict) -> str:
    lines = [f"azbdiag summarize: {_headline(s)}", ""]
    if s["rules"]:
        table = [("ERROR CODE / RULE", "FIX", "FAIL", "WARN", "ERROR", "HOSTS")]
        for code, e in _rows(s):
            if e is None:
                table.append((code["error_code"], "", str(code["hosts_fail"]),
                              str(code["hosts_warn"]), str(code["hosts_error"]), ""))
                continue
            where = "; ".join(f"{st}: {_hosts_short(e[st])}" for st in FINDINGS if e[st])
            table.append(("  " + e["id"], e["fix"] or "-", str(len(e["fail"])), str(len(e["warn"])),
                          str(len(e["error"])), where))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for row in table:
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])]
                                   + [row[i].rjust(widths[i]) for i in (2, 3, 4)] + [row[5]]).rstrip())
        lines.append("(code lines count hosts; a host counts once per code)")
    else:
        lines.append("No host has a warn, fail or error.")
    found = [h for h in s["hosts"] if h["fail"] or h["warn"] or h["error"]]
    if found:
        lines += ["", "HOSTS WITH FINDINGS"]
        width = max(len(h["host"]) for h in found + [{"host": "HOST"}])
        lines.append(f"{'HOST':{width}}  FAIL  WARN  ERROR  RULES (fail first)")
        for h in found:
            rules = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
            lines.append(f"{h['host']:{width}}  {h['fail']:4}  {h['warn']:4}  {h['error']:5}  "
                         f"{_hosts_short(rules, 4)}")
    if s["totals"]["hosts_not_root"]:
        lines += ["", f"{s['totals']['hosts_not_root']} report(s) were made without root: "
                      f"checks that need root were skipped there."]
    if s["rejected"]:
        lines += ["", "SKIPPED FILES"]
        lines += [f"  {_clean(r['file'])}: {r['reason']}" for r in s["rejected"]]
    fixes = sorted({e["fix"] for e in s["rules"] if e["fix"] and e["fail"]})
    if fixes:
        lines += ["", "Fix on the hosts concerned: sudo azbdiag fix " +
                  " ".join(f"--{f}" for f in fixes) + "  (or contrib/ansible/fix.yml)"]
    return "\n".join(lines) + "\n"


def _md(text) -> str:
    import re

    return re.sub(r"([\\`*_\[\]{}<>|#!~&])", r"\\\1", _clean(text))


def render_markdown(s: dict) -> str:
    out = ["# azbdiag fleet summary", "", _md(_headline(s)) + ".", ""]
    if s["rules"]:
        out += ["| Error code / rule | Fix | Fail | Warn | Error | Hosts |",
                "|---|---|--:|--:|--:|---|"]
        for code, e in _rows(s):
            if e is None:
                out.append(f"| **{_md(code['error_code'])}** | | {code['hosts_fail']} | "
                           f"{code['hosts_warn']} | {code['hosts_error']} | |")
                continue
            where = "; ".join(f"{st}: {_md(_hosts_short(e[st]))}" for st in FINDINGS if e[st])
            out.append(f"| {_md(e['id'])}<br>{_md(e['title'])} | {_md(e['fix'] or '-')} | "
                       f"{len(e['fail'])} | {len(e['warn'])} | {len(e['error'])} | {where} |")
    else:
        out.append("No host has a warn, fail or error.")
    found = [h for h in s["hosts"] if h["fail"] or h["warn"] or h["error"]]
    if found:
        out += ["", "## Hosts with findings", "", "| Host | Fail | Warn | Error | Rules |",
                "|---|--:|--:|--:|---|"]
        for h in found:
            rules = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
            out.append(f"| {_md(h['host'])} | {h['fail']} | {h['warn']} | {h['error']} | "
                       f"{_md(', '.join(rules))} |")
    if s["rejected"]:
        out += ["", "## Skipped files", ""]
        out += [f"- {_md(r['file'])}: {_md(r['reason'])}" for r in s["rejected"]]
    return "\n".join(out) + "\n"


def render_csv(s: dict) -> str:
    import csv
    import io

    def cell(value) -> str:
        text = _clean("" if value is None else value)
        # A spreadsheet would run a cell that starts like a formula.
        return "'" + text if text[:1] in ("=", "+", "-", "@") else text

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["error_code", "rule_id", "title", "fix", "fail_count", "warn_count",
                     "error_count", "fail_hosts", "warn_hosts", "error_hosts"])
    for code, e in _rows(s):
        if e is not None:
            writer.writerow([cell(code["error_code"]), cell(e["id"]), cell(e["title"]),
                             cell(e["fix"]), len(e["fail"]), len(e["warn"]), len(e["error"])]
                            + [cell("; ".join(e[st])) for st in FINDINGS])
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right}
tr.code td{background:#f7f7fb;font-weight:bold}.fail{color:#b00}.warn{color:#a60}.error{color:#708}
small{color:#666}
"""


def render_html(s: dict) -> str:
    from html import escape

    def e_(text) -> str:
        return escape(_clean("" if text is None else text), quote=True)

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\">",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>azbdiag fleet summary</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>azbdiag fleet summary</h1>", f"<p>{e_(_headline(s))}.</p>",
           f"<p><small>generated {e_(s['generated_at'])} by azbdiag {e_(s['tool']['version'])}"
           "</small></p>"]
    if s["rules"]:
        out.append("<table><thead><tr><th>Error code / rule</th><th>Fix</th><th>Fail</th>"
                   "<th>Warn</th><th>Error</th><th>Hosts</th></tr></thead><tbody>")
        for code, e in _rows(s):
            if e is None:
                out.append(f'<tr class="code"><td>{e_(code["error_code"])}</td><td></td>'
                           f'<td class="n">{code["hosts_fail"]}</td><td class="n">{code["hosts_warn"]}'
                           f'</td><td class="n">{code["hosts_error"]}</td><td></td></tr>')
                continue
            where = "<br>".join(f'<span class="{st}">{st}:</span> {e_(", ".join(e[st]))}'
                                for st in FINDINGS if e[st])
            out.append(f"<tr><td>{e_(e['id'])}<br><small>{e_(e['title'])}</small></td>"
                       f"<td>{e_(e['fix'] or '-')}</td><td class=\"n\">{len(e['fail'])}</td>"
                       f"<td class=\"n\">{len(e['warn'])}</td><td class=\"n\">{len(e['error'])}</td>"
                       f"<td>{where}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No host has a warn, fail or error.</p>")
    out.append("<h2>Hosts</h2><table><thead><tr><th>Host</th><th>Fail</th><th>Warn</th>"
               "<th>Error</th><th>Rules</th><th>Report</th></tr></thead><tbody>")
    for h in s["hosts"]:
        rules = h["failed_rules"] + h["warned_rules"] + h["error_rules"]
        out.append(f"<tr><td>{e_(h['host'])}</td><td class=\"n\">{h['fail']}</td>"
                   f"<td class=\"n\">{h['warn']}</td><td class=\"n\">{h['error']}</td>"
                   f"<td>{e_(', '.join(rules))}</td><td><small>{e_(h['file'])}</small></td></tr>")
    out.append("</tbody></table>")
    if s["rejected"]:
        out.append("<h2>Skipped files</h2><ul>")
        out += [f"<li>{e_(r['file'])}: {e_(r['reason'])}</li>" for r in s["rejected"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(s: dict, fmt: str) -> str:
    import json

    if fmt == "json":
        # One line per list entry: readable, and json's C encoder only runs without indent,
        # which matters for thousands of hosts.
        parts = []
        for key, value in s.items():
            if isinstance(value, list) and value:
                items = ",\n".join("    " + json.dumps(v) for v in value)
                parts.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
            else:
                parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
        return "{\n" + ",\n".join(parts) + "\n}\n"
    return {"text": render_text, "markdown": render_markdown, "csv": render_csv,
            "html": render_html}[fmt](s)


_CHECK = []  # the compiled report schema, once per process


def _load_one(path: str):
    """(digest, None) or (None, (path, reason)); never raises."""
    try:
        if not _CHECK:
            from azbdiag.report import load_schema
            from azbdiag.schema import compile_schema

            _CHECK.append(compile_schema(load_schema()))
        doc, reason = load_report(path, _CHECK[0])
        if doc is None:
            return None, (path, reason)
        return digest(path, doc), None
    except Exception as exc:  # a bug must cost one file, not the whole fleet
        return None, (path, f"could not be read: {type(exc).__name__}: {_clean(exc)[:200]}")


PARALLEL_FROM = 200  # files; below this, worker processes cost more than they save


def load_all(files, jobs: int = 0):
    """Digests and rejections of `files`, in order, using `jobs` worker processes (0: one per
    CPU, at most 8). Falls back to this process when workers cannot be started."""
    import os

    jobs = jobs or min(os.cpu_count() or 1, 8)
    outcomes = None
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        try:
            import concurrent.futures
            import multiprocessing

            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                outcomes = list(pool.map(_load_one, files,
                                         chunksize=max(8, len(files) // (jobs * 8))))
        except (OSError, ImportError, ValueError, RuntimeError):  # no /dev/shm, no fork, ...
            outcomes = None
    if outcomes is None:
        outcomes = [_load_one(path) for path in files]
    entries = [d for d, _r in outcomes if d is not None]
    rejected = [r for _d, r in outcomes if r is not None]
    return entries, rejected


def summarize_paths(paths, on_reject=None, jobs: int = 0):
    """Read every report under `paths`; returns the summary document."""
    files, rejected = find_reports(paths)
    entries, bad = load_all(files, jobs)
    rejected += bad
    if on_reject:
        for path, reason in rejected:
            on_reject(path, reason)
    return build_summary(entries, rejected)


@app.command()
@guarded
def summarize(
    reports: List[str] = typer.Argument(
        ..., help="Report files, or folders searched recursively for *.json "
                  "(for example the reports/ folder the Ansible playbook fetches into)."),
    fmt: str = typer.Option("text", "--format", help="text, json, markdown, csv or html."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the summary to FILE."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes reading reports (0: one per CPU, at most 8)."),
):
    """Summarize many hosts' JSON reports: failing rules by Azure error code, hosts, fix ids.

    Exit 0 when no host has a fail, 1 when some host has one, 3 when no file is a valid report.
    """
    from azbdiag.report import write_output

    fmt = _choice(fmt, FORMATS, "--format")
    summary = summarize_paths(reports, on_reject=lambda p, r: err(f"skipped {_clean(p)}: {r}"),
                              jobs=jobs)
    if not summary["hosts"]:
        raise Fatal(f"no valid report among the {len(summary['rejected'])} path(s) given",
                    EXIT_CANNOT_RUN)
    try:
        write_output(render(summary, fmt), output)
    except OSError as exc:
        raise Fatal(f"cannot write {output}: {exc.strerror or exc}") from None
    raise typer.Exit(EXIT_FINDINGS if summary["totals"]["hosts_fail"] else EXIT_OK)
