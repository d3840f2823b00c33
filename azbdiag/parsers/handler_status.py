"""config/HandlerStatus of an extension directory: the handler's status as the guest agent
reports it to Azure (JSON, an object or a list holding one). Text in, data out; nothing here
raises."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from azbdiag.parsers import _json


@dataclasses.dataclass
class HandlerStatus:
    """An extension's config/HandlerStatus: the handler status the agent last reported to Azure."""
    status: str = ""          # Ready / NotReady
    code: Optional[int] = None
    message: str = ""
    version: str = ""
    error: Optional[str] = None


def parse_handler_status(text: Any) -> HandlerStatus:
    """The status, code and message the agent last reported for the handler.

    >>> hs = parse_handler_status('{"handlerVersion": "1.0.9220.0", "status": "NotReady", '
    ...                           '"code": 1009, "message": "Enable failed"}')
    >>> hs.status, hs.code, hs.message
    ('NotReady', 1009, 'Enable failed')
    >>> parse_handler_status("{").error
    'not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))'
    """
    data, error = _json.loads(text)
    if error:
        return HandlerStatus(error=error)
    data = _json.first(data)
    if not isinstance(data, dict):
        return HandlerStatus(error="not a JSON object")
    message = data.get("message")
    if isinstance(message, dict):
        message = message.get("message") or _json.get(message, "formattedMessage", "message")
    return HandlerStatus(status=_json.text(data.get("status"), 64),
                         code=_json.to_int(data.get("code")), message=_json.text(message),
                         version=_json.text(data.get("version"), 64))

