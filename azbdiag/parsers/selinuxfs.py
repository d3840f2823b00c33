"""/sys/fs/selinux/enforce. Text in, data out; nothing here raises."""

from __future__ import annotations

from typing import Optional


def parse_enforce(text) -> Optional[bool]:
    """/sys/fs/selinux/enforce: "1" enforcing, "0" permissive (no newline); None if odd.

    >>> parse_enforce("1"), parse_enforce(b"0"), parse_enforce("x")
    (True, False, None)
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("ascii", errors="replace")
    if not isinstance(text, str):
        return None
    value = text.strip().strip("\x00")
    if value in ("0", "1"):
        return value == "1"
    return None
