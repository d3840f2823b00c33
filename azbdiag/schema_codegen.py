"""A JSON Schema (the subset azbdiag.schema supports, which has checked it already) turned
into one Python function that answers only "valid or not", with every check inlined: no call
per value, no error path built. azbdiag.schema words the error when it says "not".

The generated source uses nothing from the instance but its values: constants, enums and
patterns are passed in as arguments, never written into the source.
"""

from __future__ import annotations

import re
from typing import Callable, List

from azbdiag.schema import _equal

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
        src.emit(depth, f"if not _equal({v}, {src.const(schema['const'])}): return False")
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
            inner = len(src.lines)
            _gen(src, sub, w, depth + 2)
            if len(src.lines) == inner:
                src.emit(depth + 2, "pass")
        if extra is False:
            src.emit(depth + 1, f"if not {v}.keys() <= {src.const(frozenset(props))}: "
                                f"return False")
        elif extra is not True:
            k, w = src.var(), src.var()
            known = src.const(frozenset(props))
            src.emit(depth + 1, f"for {k}, {w} in {v}.items():")
            src.emit(depth + 2, f"if {k} not in {known}:")
            inner = len(src.lines)
            _gen(src, extra, w, depth + 3)
            if len(src.lines) == inner:
                src.emit(depth + 3, "pass")
        if len(src.lines) == body:
            src.emit(depth + 1, "pass")
    if "items" in schema and schema["items"] is not True:
        w = src.var()
        src.emit(depth, f"if isinstance({v}, list):")
        src.emit(depth + 1, f"for {w} in {v}:")
        inner = len(src.lines)
        _gen(src, schema["items"], w, depth + 2)
        if len(src.lines) == inner:
            src.emit(depth + 2, "pass")


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
