"""The error code catalogue behind `azbdiag explain`.

The data (azbdiag/data/error_codes.json) holds the Azure Backup error codes of the Microsoft
troubleshooting articles and the status codes of the Linux backup extension (VMSnapshotLinux).
Which azbdiag rules and fixes cover a code is not stored there: it is computed from the rule
registry each time an entry is rendered, so it can never go stale.
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import Dict, List, Optional

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "error_codes.json")
RELEVANCE = ("yes", "partly", "windows-only", "platform")
KINDS = ("azure", "extension")
RELEVANCE_TEXT = {
    "yes": "yes: the cause is usually inside the Linux guest",
    "partly": "partly: some causes are inside the Linux guest, or it is only a hint",
    "windows-only": "no: Windows guests only",
    "platform": "no: a platform, policy or restore-side error with no cause in the guest",
}

_entries: Optional[List[dict]] = None
_index: Optional[Dict[str, dict]] = None


def entries() -> List[dict]:
    """Every catalogue entry, in file order (Azure codes, then extension codes by number)."""
    global _entries
    if _entries is None:
        try:
            with open(DATA_FILE, encoding="utf-8") as fh:
                doc = json.load(fh)
            codes = [e for e in doc["codes"] if isinstance(e, dict) and "code" in e]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CatalogueError(f"cannot read the error code catalogue {DATA_FILE}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        _entries = codes
    return _entries


class CatalogueError(RuntimeError):
    """The catalogue's data file is missing or damaged (a broken install)."""


def _key(text: str) -> str:
    return str(text).strip().lower()


def _build_index() -> Dict[str, dict]:
    global _index
    if _index is None:
        index: Dict[str, dict] = {}
        for entry in entries():
            names = [entry["code"], *entry.get("aliases", [])]
            if entry.get("number") is not None:
                names.append(str(entry["number"]))
            for name in names:
                index.setdefault(_key(name), entry)
        _index = index
    return _index


def lookup(code) -> Optional[dict]:
    """The entry for a code name, alias or number (case-insensitive), or None.

    Also accepted: the extension's own spelling `StatusCode.<Name>,`, and Azure names given
    without their `UserError` prefix (VmNotInDesirableState, FsFreezeFailed)."""
    if code is None:
        return None
    query = _key(code).rstrip(",").strip()
    if query.startswith("statuscode."):
        query = query[len("statuscode."):]
    if not query:
        return None
    index = _build_index()
    if query in index:
        return index[query]
    if query.isdigit() and query.lstrip("0") in index:
        return index[query.lstrip("0")]
    return index.get("usererror" + query)


def extension_status(code: int) -> Optional[dict]:
    """What the backup extension's numeric status code `code` means, or None if unknown.

    Keys: code (int), name, health (green/yellow/red, or None where the extension defines
    none), surfaces_as (the Azure error name the portal shows, or None), meaning."""
    if isinstance(code, int) and not isinstance(code, bool):
        number = code
    elif isinstance(code, str) and code.strip().isdigit():
        number = int(code.strip())
    else:
        return None
    for entry in entries():
        if entry["kind"] == "extension" and entry.get("number") == number:
            return {"code": number, "name": entry["code"], "health": entry.get("health"),
                    "surfaces_as": entry.get("surfaces_as"), "meaning": entry["meaning"]}
    return None


# ---- cross references computed from the rule registry -------------------------------------

def _names(entry: dict) -> set:
    return {_key(n) for n in [entry["code"], *entry.get("aliases", [])]}


def covering_rules(entry: dict) -> list:
    """Registered rules whose error_codes name this entry (for an extension code: also the
    Azure error it surfaces as)."""
    from azbdiag import engine

    names = _names(entry)
    if entry.get("surfaces_as"):
        names.add(_key(entry["surfaces_as"]))
    return [r for r in engine.all_rules() if names & {_key(c) for c in r.error_codes}]


def behind(entry: dict) -> List[dict]:
    """Extension status codes that surface as this Azure error."""
    names = _names(entry)
    return [e for e in entries()
            if e["kind"] == "extension" and e.get("surfaces_as") and _key(e["surfaces_as"]) in names]


def fix_command(fix_id: str) -> str:
    return f"sudo azbdiag fix --{fix_id}"


def as_dict(entry: dict) -> dict:
    """The entry as `explain --format json` shows it (stable keys)."""
    rules = covering_rules(entry)
    fixes = sorted({r.fix for r in rules if r.fix})
    out = {
        "code": entry["code"],
        "aliases": list(entry.get("aliases", [])),
        "number": entry.get("number"),
        "kind": entry["kind"],
        "title": entry["title"],
        "linux_relevance": entry["linux"],
        "meaning": entry["meaning"],
        "causes": list(entry.get("causes", [])),
        "steps": list(entry.get("steps", [])),
        "rules": [{"id": r.id, "title": r.title, "fix": r.fix} for r in rules],
        "fixes": [{"id": f, "command": fix_command(f)} for f in fixes],
    }
    if entry["kind"] == "extension":
        out["health"] = entry.get("health")
        out["surfaces_as"] = entry.get("surfaces_as")
        out["raised_when"] = entry.get("raised_when")
    else:
        out["extension_codes"] = [{"number": e["number"], "name": e["code"]} for e in behind(entry)]
    return out


# ---- rendering ----------------------------------------------------------------------------

def _wrap(text: str, indent: str = "  ", first: Optional[str] = None) -> List[str]:
    return textwrap.wrap(text, width=88, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]


def render_entry(entry: dict, fmt: str = "text") -> str:
    """One entry as text or JSON; always ends with a newline."""
    data = as_dict(entry)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
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
        lines.extend(_wrap(data["raised_when"] or ""))
    lines.append("")
    lines.append("What it means:")
    lines.extend(_wrap(data["meaning"]))
    if data["causes"]:
        lines.append("")
        lines.append("Causes:")
        for cause in data["causes"]:
            lines.extend(_wrap(cause, "    ", "  - "))
    if data["steps"]:
        lines.append("")
        lines.append("What to do:")
        for n, step in enumerate(data["steps"], 1):
            lines.extend(_wrap(step, "     ", f"  {n}. "))
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


def render_list(fmt: str = "text") -> str:
    """Every code: code, Linux relevance and title, one per line (or a JSON list)."""
    rows = [{"code": e["code"], "number": e.get("number"), "kind": e["kind"],
             "linux_relevance": e["linux"], "title": e["title"]} for e in entries()]
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    labels = []
    for row in rows:
        label = row["code"] if row["number"] is None else f"{row['number']} {row['code']}"
        labels.append(label)
    width = min(max(len(x) for x in labels), 44)
    out = [f"{'CODE':{width}}  {'LINUX':12}  TITLE"]
    for label, row in zip(labels, rows):
        out.append(f"{label:{width}}  {row['linux_relevance']:12}  {row['title']}")
    return "\n".join(out) + "\n"
