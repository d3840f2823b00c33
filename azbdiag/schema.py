"""A small JSON Schema validator for the subset azbdiag's own schemas use.

Runtime dependencies stay typer, sh and distro, so the `jsonschema` package is only a test
dependency; the tests check that this validator and `jsonschema` agree. Supported keywords:
type, required, properties, items (a single schema), enum, const, pattern, minimum and
additionalProperties (boolean or schema). Annotations ($schema, $id, title, description,
$comment, default, examples) are ignored. Any other keyword is refused when the schema is
compiled, so a schema never silently relies on something this module does not check.

Semantics follow draft 2020-12 as `jsonschema` implements it: booleans are neither numbers
nor integers, 1.0 is an integer, 1 equals 1.0 but True does not equal 1, `pattern` is
searched (not anchored) with Python's `re`.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple

__all__ = ["SchemaError", "compile_schema", "validate", "first_error", "is_valid"]

ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment", "default",
                         "examples"})
KEYWORDS = frozenset({"type", "required", "properties", "items", "enum", "const", "pattern",
                      "minimum", "additionalProperties"})

# An error travels up as (path parts, innermost first; message); the path is only built on
# the failure path, so a valid document costs no string work.
Error = Tuple[List[object], str]
Check = Callable[[object], Optional[Error]]


class SchemaError(ValueError):
    """The schema itself uses something this validator does not support."""


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_integer(x) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


_TYPES = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": _is_integer,
}


def _equal(a, b) -> bool:
    """JSON equality: booleans equal only booleans; 1 == 1.0; deep for arrays and objects."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_name(x) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](x):
            return name
    return type(x).__name__


_FAST_TYPES = {"string": str, "array": list, "object": dict, "null": type(None), "boolean": bool}


def _fast_types(schema):
    """A tuple of Python types when `schema` checks nothing but a type that isinstance() can
    tell exactly (not integer or number: bool is an int), else None. Lets hot loops skip a
    function call per value; the full check still runs to word an error."""
    if not isinstance(schema, dict) or set(schema) - ANNOTATIONS != {"type"}:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not names or any(n not in _FAST_TYPES for n in names):
        return None
    return tuple(_FAST_TYPES[n] for n in names)


def compile_schema(schema) -> Check:
    """Turn `schema` into a function: instance -> None when valid, else (path, message).

    Two validators answer: one generated as Python source (azbdiag.schema_codegen) that only
    says valid or not, fast enough for `summarize` over a fleet, and the checks below, run
    only on an instance the first rejects, to word the error."""
    slow = _compile(schema)
    try:
        from azbdiag.schema_codegen import generate

        fast = generate(schema)
    except (SyntaxError, RecursionError, MemoryError, ValueError):  # too deep to generate
        return slow

    def check(x, fast=fast, slow=slow):
        return None if fast(x) else slow(x)

    return check


def _compile(schema) -> Check:
    """The checks of `schema` as closures: instance -> None or (path, message)."""
    if schema is True:
        return lambda x: None
    if schema is False:
        return lambda x: ([], "no value is allowed here")
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object or a boolean, not {_short(schema)}")
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise SchemaError(f"unsupported keyword(s): {', '.join(sorted(unknown))}")
    checks: List[Check] = []

    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(n not in _TYPES for n in names):
            raise SchemaError(f"unsupported type {_short(schema['type'])}")
        tests = tuple(_TYPES[n] for n in names)
        wanted = " or ".join(names)
        fast = _fast_types({"type": names})

        if fast is not None:
            def check_type(x, fast=fast, wanted=wanted):
                if isinstance(x, fast):
                    return None
                return [], f"{_short(x)} is not of type {wanted}"
        else:
            def check_type(x, tests=tests, wanted=wanted):
                for t in tests:
                    if t(x):
                        return None
                return [], f"{_short(x)} is not of type {wanted}"

        checks.append(check_type)

    if "const" in schema:
        const = schema["const"]

        def check_const(x, const=const):
            if not _equal(x, const):
                return [], f"{_short(x)} is not {_short(const)}"
            return None

        checks.append(check_const)

    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list):
            raise SchemaError("enum must be an array")
        hashable = all(isinstance(v, str) for v in values)
        allowed = frozenset(values) if hashable else None
        listing = ", ".join(_short(v, 30) for v in values)

        def check_enum(x, values=values, allowed=allowed, listing=listing):
            if allowed is not None:
                if isinstance(x, str) and x in allowed:
                    return None
            elif any(_equal(x, v) for v in values):
                return None
            return [], f"{_short(x)} is not one of {listing}"

        checks.append(check_enum)

    if "pattern" in schema:
        try:
            regex = re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise SchemaError(f"bad pattern {_short(schema['pattern'])}: {exc}") from None

        def check_pattern(x, search=regex.search, pattern=regex.pattern):
            if isinstance(x, str) and not search(x):
                return [], f"{_short(x)} does not match {pattern!r}"
            return None

        checks.append(check_pattern)

    if "minimum" in schema:
        minimum = schema["minimum"]
        if not _is_number(minimum):
            raise SchemaError("minimum must be a number")

        def check_minimum(x, minimum=minimum):
            if _is_number(x) and x < minimum:
                return [], f"{_short(x)} is less than the minimum of {minimum}"
            return None

        checks.append(check_minimum)

    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            raise SchemaError("required must be an array of strings")

        def check_required(x, required=tuple(required), wanted=frozenset(required)):
            if isinstance(x, dict) and not wanted <= x.keys():
                for key in required:
                    if key not in x:
                        return [], f"{key!r} is missing"
            return None

        checks.append(check_required)

    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise SchemaError("properties must be an object")
    compiled_props = tuple((k, _compile(v), _fast_types(v)) for k, v in props.items())
    if compiled_props:
        def check_properties(x, compiled_props=compiled_props):
            if isinstance(x, dict):
                for key, sub, fast in compiled_props:
                    if key in x:
                        value = x[key]
                        if fast is not None and isinstance(value, fast):
                            continue
                        error = sub(value)
                        if error is not None:
                            error[0].append(key)
                            return error
            return None

        checks.append(check_properties)

    if "additionalProperties" in schema:
        extra = _compile(schema["additionalProperties"])
        known = frozenset(props)
        forbid = schema["additionalProperties"] is False

        def check_additional(x, extra=extra, known=known, forbid=forbid):
            if isinstance(x, dict):
                for key in x:
                    if key in known:
                        continue
                    if forbid:
                        return [], f"unexpected property {_short(key)}"
                    error = extra(x[key])
                    if error is not None:
                        error[0].append(key)
                        return error
            return None

        checks.append(check_additional)

    if "items" in schema:
        item = _compile(schema["items"])
        fast = _fast_types(schema["items"])

        def check_items(x, item=item, fast=fast):
            if isinstance(x, list):
                if fast is not None and all(isinstance(value, fast) for value in x):
                    return None
                for i, value in enumerate(x):
                    error = item(value)
                    if error is not None:
                        error[0].append(i)
                        return error
            return None

        checks.append(check_items)

    checks_t = tuple(checks)
    if len(checks_t) == 1:
        return checks_t[0]

    def check_all(x, checks_t=checks_t):
        for check in checks_t:
            error = check(x)
            if error is not None:
                return error
        return None

    return check_all


def _format_path(parts: List[object]) -> str:
    out = ""
    for part in reversed(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{part!r}]"
    return out or "(document)"


def first_error(instance, check: Check) -> Optional[str]:
    """None when `instance` is valid, else one readable line: `path: what is wrong`."""
    error = check(instance)
    if error is None:
        return None
    parts, message = error
    return f"{_format_path(parts)}: {message}"


def validate(instance, schema) -> Optional[str]:
    """Compile `schema` and validate `instance`; None when valid, else the first error."""
    return first_error(instance, compile_schema(schema))


def is_valid(instance, schema) -> bool:
    return compile_schema(schema)(instance) is None
