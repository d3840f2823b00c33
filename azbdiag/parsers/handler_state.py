"""config/HandlerState of an extension directory, written by the guest agent (or
/var/lib/waagent/handler_state/<dir>/state before agent 2.2). Text in, data out; nothing here
raises."""

from __future__ import annotations

from typing import Any


def parse_handler_state(text: Any) -> str:
    """The state word in config/HandlerState ('' when empty or unreadable).

    >>> parse_handler_state("Enabled\\n"), parse_handler_state(b"")
    ('Enabled', '')
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    words = text.strip().split()
    return words[0][:64] if words else ""
