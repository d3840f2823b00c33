"""JSON for programs: the check report (schema_version 1), the fleet summary, error codes and
the rule list. (`import json` below is the standard library: imports are absolute.)"""

from __future__ import annotations

import json


def report(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def summary(s: dict) -> str:
    return "".join(summary_chunks(s))


def summary_chunks(s: dict):
    """The fleet summary's JSON in pieces (a few hundred hosts each), to be written as they
    come: the text of a large fleet is never held whole. One line per list entry: readable,
    and json's C encoder only runs without indent, which matters for thousands of hosts."""
    from collections.abc import Sequence
    from itertools import islice

    dumps = json.dumps
    for n, (key, value) in enumerate(s.items()):
        head = ("{\n" if n == 0 else ",\n") + f"  {dumps(key)}: "
        if isinstance(value, Sequence) and not isinstance(value, str):
            if not len(value):
                yield head + "[]"
                continue
            fast = getattr(value, "json_lines", None)   # summarize.HostTable
            items = fast() if fast is not None else map(dumps, value)
            sep = "[\n    "
            while True:
                batch = list(islice(items, 500))
                if not batch:
                    break
                yield head + sep + ",\n    ".join(batch)
                head, sep = "", ",\n    "
            yield "\n  ]"
        else:
            yield head + dumps(value)
    yield "\n}\n"


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
