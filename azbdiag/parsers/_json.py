"""Small helpers the JSON file parsers share (status files, HandlerStatus,
HandlerEnvironment.json, the plugin config): load without raising, and read values with the
types the agent and the extension expect. Private to azbdiag.parsers."""

from __future__ import annotations

import json
import re
from typing import Any, Optional, Tuple


def loads(text: Any) -> Tuple[Any, Optional[str]]:
    """(value, None) or (None, error message)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None, "not text"
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return None, "the file is empty"
    try:
        return json.loads(stripped), None
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON ({short(exc)})"
    except Exception as exc:  # noqa: BLE001 - a parser never raises
        return None, f"not valid JSON ({type(exc).__name__})"


def short(exc: BaseException) -> str:
    """The first line of an exception's message, at most 120 characters."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def get(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]..., or None as soon as a level is not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def first(obj: Any) -> Any:
    """The first item of a list (None when empty); anything else as it is."""
    if isinstance(obj, list):
        return obj[0] if obj else None
    return obj


def to_int(value: Any) -> Optional[int]:
    """A whole number from a JSON int, integral float or digit string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        return int(value)
    return None


def text(value: Any, limit: int = 2000) -> str:
    """A value as bounded text (JSON for non-strings, '' for null)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            value = repr(type(value))
    return value[:limit]


def kind(value: Any) -> str:
    """The JSON type of a value, as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"

