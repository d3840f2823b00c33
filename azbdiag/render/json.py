"""JSON for programs: the check report (schema_version 1), the fleet summary, error codes and
the rule list. (`import json` below is the standard library: imports are absolute.)"""

from __future__ import annotations

import json


def report(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def summary(s: dict) -> str:
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


def code_entry(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def code_list(code_rows: list) -> str:
    return json.dumps(code_rows, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rule_list(rules: list) -> str:
    return json.dumps([
        {"id": r.id, "title": r.title, "error_codes": list(r.error_codes),
         "needs_root": r.needs_root, "live_only": r.live_only, "azure_only": r.azure_only,
         "fix": r.fix, "opt_in": r.opt_in, "description": r.description}
        for r in rules], indent=2) + "\n"
