"""A JSON Schema (the subset azbdiag.schema supports, which has checked it already) turned
into one Python function that answers only "valid or not", with every check inlined: no call
per value, no error path built. azbdiag.schema words the error when it says "not".

The generated source uses nothing from the instance but its values: constants, enums and
patterns are passed in as arguments, never written into the source.
"""

from __future__ import annotations

import re
from functools import partial
from itertools import chain
from operator import is_not, itemgetter, methodcaller
from typing import Callable, List, Optional

from azbdiag.schema import ANNOTATIONS, _equal

_ISINSTANCE = {"string": "str", "array": "list", "object": "dict", "boolean": "bool",
               "null": "type(None)"}
_MISSING = object()


class _Source:
    def __init__(self):
        self.lines: List[str] = []
        self.consts: List[object] = []
        self.names = 0

    def const(self, value) -> str:
        self.consts.append(value)
        return f"C[{len(self.consts) - 1}]"

    def var(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _type_test(names, v: str) -> str:
    tests = []
    for name in names:
        if name in _ISINSTANCE:
            tests.append(f"isinstance({v}, {_ISINSTANCE[name]})")
        elif name == "integer":     # exact types: a subclass is left to azbdiag.schema
            tests.append(f"type({v}) is int or (type({v}) is float and {v}.is_integer())")
        else:
            tests.append(f"type({v}) is int or type({v}) is float")
    return " or ".join(tests)


def _block(src: _Source, schema, v: str, depth: int) -> None:
    """_gen's lines as the body of the block just opened: `pass` when there are none."""
    start = len(src.lines)
    _gen(src, schema, v, depth)
    if len(src.lines) == start:
        src.emit(depth, "pass")


def _gen(src: _Source, schema, v: str, depth: int) -> None:
    """Lines that `return False` when the value in variable `v` fails `schema`."""
    if schema is True:
        return
    if schema is False:
        src.emit(depth, "return False")
        return
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        src.emit(depth, f"if not ({_type_test(names, v)}): return False")
    if "const" in schema:
        const = schema["const"]
        if type(const) in (str, int):   # the same type and equal is JSON-equal: no call
            c = src.const(const)
            src.emit(depth, f"if not (type({v}) is type({c}) and {v} == {c} or "
                            f"_equal({v}, {c})): return False")
        else:
            src.emit(depth, f"if not _equal({v}, {src.const(const)}): return False")
    if "enum" in schema:
        values = schema["enum"]
        if all(isinstance(x, str) for x in values):
            allowed = src.const(frozenset(values))
            src.emit(depth, f"if not (isinstance({v}, str) and {v} in {allowed}): return False")
        else:
            src.emit(depth, f"if not any(_equal({v}, e) for e in {src.const(values)}): "
                            f"return False")
    if "pattern" in schema:
        search = src.const(re.compile(schema["pattern"]).search)
        src.emit(depth, f"if isinstance({v}, str) and not {search}({v}): return False")
    if "minimum" in schema:
        src.emit(depth, f"if isinstance({v}, (int, float)) and not isinstance({v}, bool) "
                        f"and {v} < {src.const(schema['minimum'])}: return False")
    if "required" in schema:
        wanted = src.const(frozenset(schema["required"]))
        src.emit(depth, f"if isinstance({v}, dict) and not {wanted} <= {v}.keys(): return False")
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if props or extra is not True:
        src.emit(depth, f"if isinstance({v}, dict):")
        body = len(src.lines)
        for key, sub in props.items():
            if sub is True:
                continue
            w = src.var()
            src.emit(depth + 1, f"{w} = {v}.get({src.const(key)}, MISSING)")
            src.emit(depth + 1, f"if {w} is not MISSING:")
            _block(src, sub, w, depth + 2)
        if extra is False:
            src.emit(depth + 1, f"if not {v}.keys() <= {src.const(frozenset(props))}: "
                                f"return False")
        elif extra is not True:
            k, w = src.var(), src.var()
            known = src.const(frozenset(props))
            src.emit(depth + 1, f"for {k}, {w} in {v}.items():")
            src.emit(depth + 2, f"if {k} not in {known}:")
            _block(src, extra, w, depth + 3)
        if len(src.lines) == body:
            src.emit(depth + 1, "pass")
    if "items" in schema and schema["items"] is not True:
        w = src.var()
        columns = _objects(schema["items"])
        if columns is None:
            src.emit(depth, f"if isinstance({v}, list):")
        else:  # the item by item loop only when the column check is unsure
            src.emit(depth, f"if isinstance({v}, list) and not {src.const(columns)}({v}):")
        src.emit(depth + 1, f"for {w} in {v}:")
        _block(src, schema["items"], w, depth + 2)


# ---- column checks ------------------------------------------------------------------------
# An array of objects (a report's results) checked one property at a time across all items,
# with the loops in C (map, zip, set, min): True only when every item is certainly valid;
# False means "unsure", and the item by item check above decides. Only exact types are
# accepted (a bool is no integer, 1.0 is left to the exact check), so a False costs time,
# never a wrong answer.

_EXACT = {"string": (str,), "array": (list,), "object": (dict,), "boolean": (bool,),
          "null": (type(None),), "integer": (int,), "number": (int, float)}
_KNOWN_MATCHES = 4096  # strings remembered per pattern as matching (rule ids repeat)


def _column(schema) -> Optional[Callable[[list], bool]]:
    """values -> True when each value is certainly valid, for a schema of type, enum (of
    strings), pattern, minimum and items (of such a schema); None for any other schema."""
    if schema is True:
        return lambda values: True
    if not isinstance(schema, dict):
        return None
    keys = set(schema) - ANNOTATIONS
    if keys - {"type", "enum", "pattern", "minimum", "items"}:
        return None
    if "type" in keys:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(n not in _EXACT for n in names):
            return None
        allowed = frozenset(t for n in names for t in _EXACT[n])
    elif "enum" in keys:
        allowed = frozenset((str,))
    else:
        return None
    tests: List[Callable[[list], bool]] = []
    if "enum" in keys:
        if not all(isinstance(x, str) for x in schema["enum"]) or str not in allowed:
            return None
        allowed = frozenset((str,))
        tests.append(frozenset(schema["enum"]).issuperset)
    if "pattern" in keys and str in allowed:
        tests.append(_matching(re.compile(schema["pattern"]).search, allowed))
    if "minimum" in keys and allowed & {int, float}:
        tests.append(_at_least(schema["minimum"], allowed))
    if "items" in keys and list in allowed:
        inner = _column(schema["items"])
        if inner is None:
            return None
        only_lists = allowed == {list}
        tests.append(lambda values: inner(list(chain.from_iterable(
            values if only_lists else (x for x in values if type(x) is list)))))
    types = allowed.issuperset
    if not tests:
        return lambda values: types(map(type, values))
    tests_t = tuple(tests)

    def check(values):
        if not types(map(type, values)):
            return False
        for test in tests_t:
            if not test(values):
                return False
        return True

    return check


def _matching(search, allowed):
    known: set = set()
    only_strings = allowed == {str}

    def test(values):
        strings = set(values if only_strings else (x for x in values if type(x) is str))
        if known.issuperset(strings):
            return True
        new = strings - known
        if not all(map(search, new)):
            return False
        if len(known) < _KNOWN_MATCHES:
            known.update(new)
        return True

    return test


def _at_least(minimum, allowed):
    only_numbers = allowed <= {int, float}

    def test(values):
        numbers = values if only_numbers else [x for x in values if type(x) in (int, float)]
        # min() skips a NaN after the first value; a NaN first makes it NaN: unsure
        return not numbers or min(numbers) >= minimum

    return test


def _objects(schema) -> Optional[Callable[[list], bool]]:
    """items -> True when each item is certainly valid, for an object schema whose
    properties _column() handles; None for any other schema."""
    if not isinstance(schema, dict) or set(schema) - ANNOTATIONS - {
            "type", "required", "properties", "additionalProperties"}:
        return None
    if schema.get("type") not in ("object", ["object"]):
        return None
    props = schema.get("properties", {})
    required = list(dict.fromkeys(schema.get("required", ())))
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False) or not set(required) <= set(props):
        return None
    columns = {}
    for key, sub in props.items():
        columns[key] = _column(sub)
        if columns[key] is None:
            return None
    present = tuple(columns[k] for k in required)
    optional = tuple((k, columns[k]) for k in props if k not in required and props[k] is not True)
    rows = itemgetter(*required) if required else None
    known = frozenset(props).issuperset if extra is False else None
    missing = partial(is_not, _MISSING)

    def check(items):
        if not items:
            return True
        if type(items[0]) is not dict or not _DICT_ONLY(map(type, items)):
            return False
        if rows is not None:
            try:
                found = list(map(rows, items))
            except KeyError:
                return False
            for column, values in zip(present, zip(*found) if len(present) > 1 else (found,)):
                if not column(values):
                    return False
        for key, column in optional:
            if not column(list(filter(missing, map(methodcaller("get", key, _MISSING), items)))):
                return False
        return known is None or all(map(known, items))

    return check


_DICT_ONLY = frozenset((dict,)).issuperset


def generate_source(schema):
    """(source of `def valid(v0)`, its constants)."""
    src = _Source()
    src.emit(0, "def valid(v0):")
    _gen(src, schema, "v0", 1)
    src.emit(1, "return True")
    return "\n".join(src.lines) + "\n", src.consts


def generate(schema) -> Callable[[object], bool]:
    """The function `instance -> bool` for `schema` (already checked by azbdiag.schema)."""
    text, consts = generate_source(schema)
    scope = {"C": consts, "MISSING": _MISSING, "_equal": _equal}
    exec(compile(text, "<azbdiag.schema_codegen>", "exec"), scope)  # noqa: S102 - our source
    return scope["valid"]
