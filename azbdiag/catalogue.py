"""The error code catalogue behind `azbdiag explain`.

The data (azbdiag/data/error_codes.json) holds the Azure Backup error codes of the Microsoft
troubleshooting articles and the status codes of the Linux backup extension (VMSnapshotLinux).
Which azbdiag rules and fixes cover a code is not stored there: it is computed from the rule
registry each time an entry is shown, so it can never go stale. azbdiag/render/ prints entries.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "error_codes.json")
RELEVANCE = ("yes", "partly", "windows-only", "platform")
KINDS = ("azure", "extension")

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
    from azbdiag import rule_index

    names = _names(entry)
    if entry.get("surfaces_as"):
        names.add(_key(entry["surfaces_as"]))
    return [r for r in rule_index.rules() if names & {_key(c) for c in r.error_codes}]


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


def list_rows() -> List[dict]:
    """Every code in catalogue order, as `explain --list` shows it."""
    return [{"code": e["code"], "number": e.get("number"), "kind": e["kind"],
             "linux_relevance": e["linux"], "title": e["title"]} for e in entries()]
