"""HandlerManifest.json of an auto-updated agent's directory (/var/lib/waagent/WALinuxAgent-<v>),
judged the way the agent loads it (WALinuxAgent ga/guestagent.py GuestAgent._load_manifest):
a directory whose manifest does not load is deleted and never run. Text in, data out; nothing
here raises."""

from __future__ import annotations

import json
from typing import Optional


def parse_agent_manifest(text) -> Optional[str]:
    """Why the agent would reject this manifest, or None when it loads: JSON; a list must not
    be empty and its first item counts; handlerManifest.enableCommand must be non-empty.

    >>> parse_agent_manifest('[{"name": "WALinuxAgent", "version": 1.0, "handlerManifest": '
    ...                      '{"enableCommand": "python -u bin/WALinuxAgent-2.11.1.4-py3.8.egg '
    ...                      '-run-exthandlers"}}]') is None
    True
    >>> parse_agent_manifest("[]"), parse_agent_manifest('{"handlerManifest": {}}')
    ('HandlerManifest.json is an empty list', 'HandlerManifest.json has no enableCommand')
    >>> parse_agent_manifest("{")
    'HandlerManifest.json is not valid JSON'
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return "HandlerManifest.json cannot be read"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return "HandlerManifest.json is not valid JSON"
    if isinstance(data, list):
        if not data:
            return "HandlerManifest.json is an empty list"
        data = data[0]
    handler = data.get("handlerManifest") if isinstance(data, dict) else None
    command = handler.get("enableCommand") if isinstance(handler, dict) else None
    try:
        if command is None or len(command) <= 0:
            return "HandlerManifest.json has no enableCommand"
    except TypeError:
        return "HandlerManifest.json has no enableCommand"
    return None
