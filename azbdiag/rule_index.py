"""What `azbdiag rules` and `azbdiag explain` show of the rules, without importing them.

Importing every rule module (and the facts, parsers and runner they import) costs several
times a bare Python start. The registry's metadata (id, title, error codes, flags, fix,
description) is therefore also kept in azbdiag/data/rules.json, written from the registry by
`python3 -m azbdiag.rule_index --write`. The file records a digest of the sources the
registry is built from (the rule modules, the facts layer, engine and model): when the
sources on disk do not match it (a rule edited without rewriting the index), or it cannot
be read (a zipapp), the rules are imported as before, so what is shown is never stale. A
unit test keeps the committed file equal to the registry.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX_FILE = os.path.join(HERE, "data", "rules.json")


FIELDS = ("id", "title", "error_codes", "needs_root", "live_only", "azure_only", "remedy", "fix",
          "timeout", "module", "opt_in", "description")


class RuleInfo:
    """A registered rule as listed: the fields of azbdiag.model.Rule but its function. (A
    plain class: importing dataclasses costs more than the rest of `azbdiag rules`.)"""
    __slots__ = FIELDS

    def __init__(self, **fields):
        for name in FIELDS:
            setattr(self, name, fields[name])
        self.error_codes = tuple(self.error_codes)

    def as_dict(self) -> dict:
        return {name: (list(self.error_codes) if name == "error_codes" else getattr(self, name))
                for name in FIELDS}

    def __eq__(self, other):
        return isinstance(other, RuleInfo) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"RuleInfo({self.id!r})"


def _source_files() -> Optional[List[str]]:
    """The files the registry is built from, in a fixed order; None when they are not plain
    files (a zipapp)."""
    import azbdiag.rules as rules_package

    dirs = [d for d in rules_package.__path__ if os.path.isdir(d)]
    dirs += [os.path.join(HERE, "facts")]
    files = [os.path.join(HERE, "engine.py"), os.path.join(HERE, "model.py")]
    for d in dirs:
        try:
            files += sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".py"))
        except OSError:
            return None
    return files if all(os.path.isfile(f) for f in files) else None


def sources_digest() -> Optional[str]:
    """CRC-32 and length over the names and contents of _source_files(), or None. (It tells
    an edited source from the indexed one; zlib loads faster than hashlib.)"""
    files = _source_files()
    if files is None:
        return None
    crc, size = 0, 0
    try:
        for path in files:
            with open(path, "rb") as fh:
                data = fh.read()
            name = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}\0"
            crc = zlib.crc32(data, zlib.crc32(name.encode(), crc))
            size += len(data)
    except OSError:
        return None
    return f"{len(files)}-{size}-{crc:08x}"


def _from_registry() -> List[RuleInfo]:
    from azbdiag import engine

    return [RuleInfo(**{name: getattr(r, name) for name in FIELDS}) for r in engine.all_rules()]


def _from_index() -> Optional[List[RuleInfo]]:
    try:
        with open(INDEX_FILE, encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("sources") is None or doc.get("sources") != sources_digest():
            return None
        return [RuleInfo(**r) for r in doc["rules"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


_cache: Optional[List[RuleInfo]] = None


def rules() -> List[RuleInfo]:
    """Every registered rule, in id order: from the registry when this process has loaded
    it (a check, a test), else from the index when it matches the sources, else from the
    registry (importing the rules)."""
    global _cache
    engine = sys.modules.get("azbdiag.engine")
    if engine is not None and getattr(engine, "_loaded", False):
        return _from_registry()
    if _cache is None:
        _cache = _from_index() or _from_registry()
    return _cache


def index_document() -> dict:
    """The index as written to INDEX_FILE, from the registry."""
    return {"sources": sources_digest(),
            "rules": [r.as_dict() for r in _from_registry()]}


def main(argv: List[str]) -> int:
    if argv != ["--write"]:
        print("usage: python3 -m azbdiag.rule_index --write", file=sys.stderr)
        return 2
    from azbdiag.fix.files import write_local

    text = json.dumps(index_document(), indent=1, sort_keys=True) + "\n"
    write_local(INDEX_FILE, text.encode("utf-8"), 0o644)
    print(f"wrote {INDEX_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
