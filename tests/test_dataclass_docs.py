"""Every dataclass in azbdiag/ and rules/ says what it is in a docstring of its own.

Two reasons. Names and docstrings say what things are (docs/DEVELOPING.md, the design rules).
And a dataclass without a docstring is given one at import: the dataclasses module renders
`ClassName(field: type = default, ...)` from inspect.signature(cls), which cost about 5 ms of
every azbdiag start for the 74 classes that had none.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

from test_import_graph import MODULES


def _generated(cls) -> bool:
    """True when `cls` has no docstring of its own, or only the one dataclasses wrote for it."""
    doc = cls.__dict__.get("__doc__")
    return not doc or not doc.strip() or doc.startswith(cls.__name__ + "(")


def _dataclasses():
    """{"module.Class": class} for every dataclass defined in azbdiag and its rule modules,
    nested ones and make_dataclass ones (module "types" before Python 3.12) included."""
    found = {}

    def visit(owner):
        for value in vars(owner).values():
            if not inspect.isclass(value) or id(value) in seen:
                continue
            if value.__module__ not in MODULES and value.__module__ != "types":
                continue
            seen.add(id(value))
            if dataclasses.is_dataclass(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
            visit(value)

    seen = set()
    for name in sorted(MODULES):
        if name != "azbdiag.__main__":
            visit(importlib.import_module(name))
    return found


def test_the_walk_finds_the_dataclasses():
    found = _dataclasses()
    assert len(found) >= 80, sorted(found)
    for name in ("azbdiag.parsers.mounts.Mount", "azbdiag.model.Result",
                 "azbdiag.rules.scripts.ScriptSetup", "azbdiag.runner.CommandResult"):
        assert name in found


def test_every_dataclass_has_its_own_docstring():
    missing = sorted(name for name, cls in _dataclasses().items() if _generated(cls))
    assert missing == [], "dataclasses without a docstring: " + ", ".join(missing)


def test_the_check_tells_a_written_docstring_from_a_generated_one():
    @dataclasses.dataclass
    class Bare:
        size: int = 0

    @dataclasses.dataclass
    class Said:
        """One thing, in bytes."""
        size: int = 0

    Made = dataclasses.make_dataclass("Made", [("size", int)])
    assert Bare.__doc__.startswith("Bare(")
    assert _generated(Bare) and _generated(Made)
    assert not _generated(Said)
