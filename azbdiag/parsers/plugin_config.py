"""/etc/azure/VMSnapshotScriptPluginConfig.json, the pre/post script configuration, checked
the way the extension's ScriptRunner reads it: Python's json module, then plain dictionary
look-ups with no type conversion, so a value of the wrong JSON type changes what happens.
Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from azbdiag.parsers import _json

PLUGIN_CONFIG = "/etc/azure/VMSnapshotScriptPluginConfig.json"
HOST_TIMEOUT_CAP = 1800          # PluginHost's own limit, seconds
SCRIPT_TIMEOUT_DEFAULT = 10      # what ScriptRunner uses when timeoutInSeconds is absent


@dataclasses.dataclass
class Problem:
    """One problem in VMSnapshotScriptPluginConfig.json: the key, how serious it is, and why."""
    key: str
    severity: str            # "fail": a script cannot run as intended; "warn": surprising
    #                          (what the backup then does depends on the code and on
    #                          continueBackupOnFailure / fsFreezeEnabled: rules/scripts.py)
    code: Optional[int]      # extension status code this leads to, when there is one
    text: str


@dataclasses.dataclass
class PluginConfig:
    """VMSnapshotScriptPluginConfig.json, the pre/post script settings, as the extension's
    ScriptRunner reads them."""
    data: Dict[str, Any] = dataclasses.field(default_factory=dict)
    error: Optional[str] = None          # the extension cannot load it at all (code 305/304)
    error_code: Optional[int] = None
    problems: List[Problem] = dataclasses.field(default_factory=list)

    @property
    def pre(self) -> Optional[str]:
        value = self.data.get("preScriptLocation")
        return value if isinstance(value, str) else None

    @property
    def post(self) -> Optional[str]:
        value = self.data.get("postScriptLocation")
        return value if isinstance(value, str) else None

    @property
    def continue_on_failure(self) -> bool:
        """What the extension does with the value: Python truthiness, default True."""
        return bool(self.data.get("continueBackupOnFailure", True))

    def timeout(self, cap: int = HOST_TIMEOUT_CAP) -> Optional[float]:
        """Seconds each script may run (the default when unset, capped); None when the value
        is not a number."""
        value = self.data.get("timeoutInSeconds", SCRIPT_TIMEOUT_DEFAULT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None
        return min(value, cap)


KNOWN_PLUGIN_KEYS = {
    "pluginName", "preScriptLocation", "postScriptLocation", "preScriptParams",
    "postScriptParams", "preScriptNoOfRetries", "postScriptNoOfRetries", "timeoutInSeconds",
    "continueBackupOnFailure", "fsFreezeEnabled", "ScriptsExecutionPollTimeSeconds", "appName",
}



def parse_plugin_config(raw: Any, cap: int = HOST_TIMEOUT_CAP) -> PluginConfig:
    """Check VMSnapshotScriptPluginConfig.json the way the extension's ScriptRunner reads it
    (Python json module, then plain dictionary look-ups with no type conversion).

    >>> conf = parse_plugin_config(b'{"pluginName": "ScriptRunner", '
    ...     b'"preScriptLocation": "/etc/azure/pre.sh", "postScriptLocation": "/etc/azure/post.sh", '
    ...     b'"timeoutInSeconds": "30", "continueBackupOnFailure": "false"}')
    >>> conf.error, conf.pre, conf.continue_on_failure
    (None, '/etc/azure/pre.sh', True)
    >>> [(p.key, p.severity, p.code) for p in conf.problems]
    [('timeoutInSeconds', 'warn', 304), ('continueBackupOnFailure', 'warn', None)]
    >>> parse_plugin_config(b'{"preScriptLocation": "/a"}').error
    "the required key 'postScriptLocation' is missing"
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    if not isinstance(raw, (bytes, bytearray)):
        return PluginConfig(error="not readable", error_code=305)
    raw = bytes(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        return PluginConfig(error="it starts with a UTF-8 byte order mark, which Python's json "
                                  "module rejects", error_code=305)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return PluginConfig(error="it is not UTF-8 text", error_code=305)
    data, error = _json.loads(text)
    if error:
        return PluginConfig(error=f"it is {error}", error_code=305)
    if not isinstance(data, dict):
        return PluginConfig(error=f"the top level is {_json.kind(data)}, not a JSON object",
                            error_code=304)
    conf = PluginConfig(data=data)
    problems = conf.problems
    if not text.isascii():
        problems.append(Problem("", "warn", 305, "the file has non-ASCII characters; under a C "
                                "locale Python cannot decode it"))
    for key in ("preScriptLocation", "postScriptLocation"):
        if key not in data:
            conf.error, conf.error_code = f"the required key {key!r} is missing", 305
            return conf
    for key, code in (("preScriptLocation", 302), ("postScriptLocation", 303)):
        value = data[key]
        if not isinstance(value, str):
            problems.append(Problem(key, "warn", 304, f"{key} is {_json.kind(value)}; it must be a "
                                    "string holding the script's path"))
        elif not value.startswith("/"):
            problems.append(Problem(key, "warn", code, f"{key} {value!r} is a relative path; "
                                    "the extension runs from its own directory, so give a full "
                                    "path"))
    if "pluginName" in data and not isinstance(data["pluginName"], str):
        problems.append(Problem("pluginName", "fail", 310, "pluginName must be a string: the "
                                "script thread crashes on it and the scripts never run"))
    if "timeoutInSeconds" in data:
        value = data["timeoutInSeconds"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem("timeoutInSeconds", "warn", 304, f"timeoutInSeconds is "
                                    f"{_json.kind(value)} ({_json.text(value, 40)}); it must be a number, "
                                    "else the extension stops loading the plugin and skips the "
                                    "scripts"))
        elif value != value or value in (float("inf"), float("-inf")):
            problems.append(Problem("timeoutInSeconds", "warn", 304, "timeoutInSeconds is not a "
                                    "finite number"))
        elif value <= 0:
            problems.append(Problem("timeoutInSeconds", "fail", 308, f"timeoutInSeconds = "
                                    f"{value}: every script times out at once"))
        elif value > cap:
            problems.append(Problem("timeoutInSeconds", "warn", None, f"timeoutInSeconds = "
                                    f"{value} is above the limit of {cap} s; the extension uses "
                                    f"{cap}"))
    else:
        problems.append(Problem("timeoutInSeconds", "warn", 308, "timeoutInSeconds is not set: "
                                f"the extension then allows each script only "
                                f"{SCRIPT_TIMEOUT_DEFAULT} s (not the 30 s the template shows)"))
    for key in ("preScriptParams", "postScriptParams"):
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, str):
            problems.append(Problem(key, "warn", None, f"{key} is a string, so each character "
                                    "becomes a separate argument; use a list of strings"))
        elif isinstance(value, dict):
            problems.append(Problem(key, "warn", None, f"{key} is an object: only its keys are "
                                    "passed; use a list of strings"))
        elif not isinstance(value, list):
            problems.append(Problem(key, "fail", 310, f"{key} is {_json.kind(value)}: the script "
                                    "thread crashes on it; use a list of strings"))
    for key in ("preScriptNoOfRetries", "postScriptNoOfRetries"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            problems.append(Problem(key, "warn", 310, f"{key} is {_json.kind(data[key])}; it must be a "
                                    "whole number (a failing script then crashes the script "
                                    "thread)"))
    for key in ("continueBackupOnFailure", "fsFreezeEnabled"):
        if key in data and not isinstance(data[key], bool):
            value = data[key]
            meant = "true" if bool(value) else "false"
            problems.append(Problem(key, "warn", None, f"{key} is {_json.kind(value)} "
                                    f"({_json.text(value, 40)}), not true or false; the extension "
                                    f"treats it as {meant}"))
    if "ScriptsExecutionPollTimeSeconds" in data:
        value = data["ScriptsExecutionPollTimeSeconds"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            problems.append(Problem("ScriptsExecutionPollTimeSeconds", "warn", None,
                                    "ScriptsExecutionPollTimeSeconds must be a whole number "
                                    "from 1 to 5"))
    for key in sorted(k for k in data if isinstance(k, str) and k not in KNOWN_PLUGIN_KEYS)[:20]:
        hint = " (the key is timeoutInSeconds)" if key.lower() in ("timeout", "timeoutinsecond") \
            else ""
        problems.append(Problem(key, "warn", None, f"{key!r} is not a key the extension "
                                f"reads{hint}"))
    return conf
