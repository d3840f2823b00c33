"""Remove secrets from anything azbdiag prints or writes.

The backup extension's settings carry storage SAS URLs whose query string is the credential
(`sig=...`). We keep the scheme, host and path of every URL and drop its query string.
"""

from __future__ import annotations

import re

from azbdiag import lazyre

_URL_QUERY = lazyre.compile(r"(?i)\b((?:https?|ftp)://[^\s?#\"'<>]+)\?[^\s\"'<>]+")
# A bare SAS query string without the URL in front of it.
_SAS_PARAMS = lazyre.compile(r"(?i)(?<![\w])((?:sv|sig|se|st|sp|spr|sr|ss|srt|skoid|sktid)=)[^&\s\"'<>]+")
REDACTED = "<redacted>"
# The signature when the URL is JSON-escaped (\u003f, \u0026sig=) or URL-encoded (sig%3D),
# which the two patterns above do not see; any escape after "sig" counts, so that text whose
# digits were masked (sig%ND) is caught too.
_SIG_ENCODED = lazyre.compile(
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


# ---- files handed over whole: the support bundle (`azbdiag collect`) ---------------------
#
# redact() above cleans what azbdiag writes itself. A file copied into the bundle needs more:
# the extension's settings carry protected settings (encrypted, but not for anyone's eyes),
# workload.conf a database credential, network configs Wi-Fi and 802.1x secrets. Each rule has
# a name the bundle's manifest counts, never showing what was removed.

RULES = {
    "sas_url_query": "the query string of a URL (for a SAS: its signature, expiry, rights)",
    "sas_parameter": "a SAS parameter (sig, se, st, sp, sv...) outside a URL",
    "sas_signature_encoded": "a SAS signature in URL-encoded or JSON-escaped text",
    "protected_settings": "the value of protectedSettings (extension settings)",
    "protected_settings_thumbprint": "the value of protectedSettingsCertThumbprint",
    "secret_uri": "the query string of a *Uri/*Url setting",
    "workload_credstring": "the value of credString (/etc/azure/workload.conf)",
    "config_secret": "the value of a password, psk, secret or token setting",
}
_PROTECTED_KEYS = {"protectedsettings": "protected_settings",
                   "protectedsettingscertthumbprint": "protected_settings_thumbprint"}
# "protectedSettings": "..." in JSON, also inside XML (&quot;) or an escaped JSON string (\").
_PROTECTED_TEXT = lazyre.compile(
    r'(?i)((?:\\?"|&quot;)(protectedSettings(?:CertThumbprint)?)(?:\\?"|&quot;)\s*:\s*'
    r'(?:\\?"|&quot;))((?:(?!\\?"|&quot;).)*)')
_CREDSTRING = lazyre.compile(r"(?im)^([ \t]*credstring[ \t]*[=:][ \t]*)(\S.*)$")
_CONFIG_SECRET = lazyre.compile(
    r"(?im)^([ \t]*(?:[\w.-]*[-_.])?(?:password|passwd|psk|secret|token)[ \t]*[=:][ \t]*)"
    r"(\S.*)$")


def _count(counts: dict, rule: str, n: int) -> None:
    if n:
        counts[rule] = counts.get(rule, 0) + n


def _sub(pattern, repl, text: str, counts: dict, rule) -> str:
    """pattern.sub(repl), counting under `rule` (a name, or a function of the match) each
    match it really changed."""
    def one(m):
        new = repl(m)
        if new != m.group(0):
            _count(counts, rule(m) if callable(rule) else rule, 1)
        return new
    return pattern.sub(one, text)


def redact_counted(text: str, config: bool = False):
    """(text without secrets, {rule: count}) for a text file of the bundle; `config` adds the
    secret settings of configuration files (credString, password=, psk=...).

    >>> redact_counted('{"protectedSettings": "MIIB..", "x": "https://a.blob/c?sv=1&sig=S"}')
    ('{"protectedSettings": "<redacted>", "x": "https://a.blob/c?<redacted>"}', \
{'protected_settings': 1, 'sas_url_query': 1})
    """
    counts: dict = {}
    if not text:
        return text, counts
    text = _sub(_PROTECTED_TEXT, lambda m: m.group(1) + (REDACTED if m.group(3) else ""),
                text, counts, lambda m: _PROTECTED_KEYS[m.group(2).lower()])
    if config:
        text = _sub(_CREDSTRING, lambda m: f"{m.group(1)}{REDACTED}", text, counts,
                    "workload_credstring")
        text = _sub(_CONFIG_SECRET, lambda m: f"{m.group(1)}{REDACTED}", text, counts,
                    "config_secret")
    if "?" in text or "=" in text:
        text = _sub(_URL_QUERY, lambda m: m.group(0) if m.string.startswith(
            REDACTED, m.end()) else f"{m.group(1)}?{REDACTED}", text, counts, "sas_url_query")
        if "sig=" in text.lower():
            text = _sub(_SAS_PARAMS, lambda m: f"{m.group(1)}{REDACTED}", text, counts,
                        "sas_parameter")
    if "sig" in text.lower():
        text = _sub(_SIG_ENCODED, lambda m: f"{m.group(1)}{REDACTED}", text, counts,
                    "sas_signature_encoded")
    return text, counts


def _walk(value, counts: dict, key: str = ""):
    """A JSON value with protected settings, *Uri query strings and SAS parameters removed;
    strings holding JSON (a status file's substatus) or base64 of JSON (objectStr) are cleaned
    inside and written back the same way."""
    lower = key.lower()
    if lower in _PROTECTED_KEYS and value not in (None, "", REDACTED):
        _count(counts, _PROTECTED_KEYS[lower], 1)
        return REDACTED
    if isinstance(value, dict):
        return {k: _walk(v, counts, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, counts, key) for v in value]
    if not isinstance(value, str):
        return value
    inner = _json_inside(value)
    if inner is not None:
        doc, encode = inner
        sub: dict = {}
        cleaned = _walk(doc, sub)
        if sub:
            for rule, n in sub.items():
                _count(counts, rule, n)
            return encode(cleaned)
        return value
    if lower.endswith(("uri", "url")) and "?" in value:
        _count(counts, "secret_uri", 1)
        value = value.split("?", 1)[0] + "?" + REDACTED
    text, sub = redact_counted(value)
    for rule, n in sub.items():
        _count(counts, rule, n)
    return text


def _json_inside(value: str):
    """(document, how to write it back) when a string holds JSON or base64 of JSON."""
    import base64
    import binascii
    import json

    stripped = value.strip()
    if stripped[:1] in ("{", "[") and len(stripped) > 1:
        try:
            return json.loads(stripped), lambda doc: json.dumps(doc, ensure_ascii=False)
        except ValueError:
            return None
    if len(stripped) >= 16 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", stripped):
        try:
            raw = base64.b64decode(stripped, validate=False).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        if raw.strip()[:1] in ("{", "["):
            try:
                doc = json.loads(raw)
            except ValueError:
                return None
            return doc, lambda d: base64.b64encode(
                json.dumps(d, ensure_ascii=False).encode("utf-8")).decode("ascii")
    return None


def redact_json_counted(text: str):
    """(JSON text without secrets, {rule: count}) for a settings or status file; text that is
    not JSON is cleaned as text."""
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        return redact_counted(text)
    counts: dict = {}
    cleaned = _walk(doc, counts)
    out = json.dumps(cleaned, ensure_ascii=False, indent=1)
    out, more = redact_counted(out)          # whatever the walk did not know as a secret
    for rule, n in more.items():
        _count(counts, rule, n)
    return out, counts
