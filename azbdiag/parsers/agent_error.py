"""error.json in an auto-updated agent's directory (/var/lib/waagent/WALinuxAgent-<version>):
why the agent stopped using that version. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass
class AgentError:
    """Why the agent stopped using one auto-updated version of itself, from that version's
    error.json (readable False: the file is not a JSON object)."""
    blacklisted: bool
    reason: str = ""
    failure_count: int = 0
    was_fatal: bool = False
    readable: bool = True


def parse_error_json(text) -> AgentError:
    """An agent directory's error.json: the agent stops using that version when `was_fatal`
    is true or `failure_count` reached 3.

    >>> parse_error_json('{"last_failure": 1717000000.0, "failure_count": 3, '
    ...                  '"was_fatal": false, "reason": "Exit code 1"}')
    AgentError(blacklisted=True, reason='Exit code 1', failure_count=3, was_fatal=False, readable=True)
    """
    try:
        data = json.loads(text) if isinstance(text, (str, bytes)) else None
    except (ValueError, RecursionError):
        return AgentError(False, "error.json is not valid JSON", readable=False)
    if not isinstance(data, dict):
        return AgentError(False, "error.json holds no object", readable=False)
    count = data.get("failure_count", 0)
    try:
        count = int(count)
    except (TypeError, ValueError, OverflowError):
        count = 0
    fatal = data.get("was_fatal") is True or str(data.get("was_fatal")).lower() == "true"
    reason = data.get("reason")
    reason = reason if isinstance(reason, str) else ""
    return AgentError(fatal or count >= 3, reason[:300], count, fatal)
