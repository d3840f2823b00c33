"""Remove secrets from anything azbdiag prints or writes.

The backup extension's settings carry storage SAS URLs whose query string is the credential
(`sig=...`). We keep the scheme, host and path of every URL and drop its query string.
"""

from __future__ import annotations

import re

_URL_QUERY = re.compile(r"(?i)\b((?:https?|ftp)://[^\s?#\"'<>]+)\?[^\s\"'<>]+")
# A bare SAS query string without the URL in front of it.
_SAS_PARAMS = re.compile(r"(?i)(?<![\w])((?:sv|sig|se|st|sp|spr|sr|ss|srt|skoid|sktid)=)[^&\s\"'<>]+")
REDACTED = "<redacted>"
# The signature when the URL is JSON-escaped (\u003f, \u0026sig=) or URL-encoded (sig%3D),
# which the two patterns above do not see; any escape after "sig" counts, so that text whose
# digits were masked (sig%ND) is caught too.
_SIG_ENCODED = re.compile(
    r"(?i)(sig(?:=|%[0-9a-z]{2}|\\u[0-9a-z]{4}))(?:(?!%26|%NN|\\u0026|\\uNNNN)[^&\s\"'<>\\])+")


def redact(text: str) -> str:
    if not text:
        return text
    if "?" in text or "=" in text:
        text = _URL_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
        if "sig=" in text.lower():
            text = _SAS_PARAMS.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if "sig" in text.lower():
        text = _SIG_ENCODED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return text
