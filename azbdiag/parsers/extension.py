"""Files of the Azure VM backup extension (Microsoft.Azure.RecoveryServices.VMSnapshotLinux).

Pure functions: text in, data out, no I/O. None of them raises, whatever the input: a file
that cannot be understood comes back with `error` set (or as None where noted).

- the extension directory names under /var/lib/waagent and the versions they carry;
- `config/HandlerState` and `config/HandlerStatus`, written by the guest agent;
- `HandlerEnvironment.json`, written by the guest agent;
- `status/<N>.status`, written by the extension: for Azure Resource Manager VMs the top-level
  status always says "success", the real outcome is in `code`, and the error the extension
  hit is `vmHealthInfo.vmHealthStatusCode` inside the JSON string held by `substatus[0].name`;
- `/etc/azure/VMSnapshotScriptPluginConfig.json` (pre/post scripts), checked for the JSON types
  the extension's Python code needs, and `/etc/azure/VMSnapshotPluginHost.conf`.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from azbdiag.parsers.proc import parse_cmdline  # noqa: F401  (part of this module's API)

HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
HANDLER_STATES = ("NotInstalled", "Installed", "Enabled", "FailedUpgrade")

_VERSION_RE = re.compile(r"^\d+(?:\.\d+){0,5}$")


# ---- directory names and versions ------------------------------------------------------
def version_tuple(text: str) -> Optional[Tuple[int, ...]]:
    """'1.0.9220.0' -> (1, 0, 9220, 0); None when it is not a dotted number."""
    if not isinstance(text, str) or not _VERSION_RE.match(text):
        return None
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return None


def dir_version(name: str) -> Optional[str]:
    """The version in an extension directory name `<handler>-<version>`, else None."""
    prefix = HANDLER + "-"
    if not isinstance(name, str) or not name.startswith(prefix):
        return None
    version = name[len(prefix):]
    return version if version_tuple(version) is not None else None


# ---- small JSON helpers ----------------------------------------------------------------
def _loads(text: Any) -> Tuple[Any, Optional[str]]:
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
        return None, f"not valid JSON ({_short(exc)})"
    except Exception as exc:  # noqa: BLE001 - a parser never raises
        return None, f"not valid JSON ({type(exc).__name__})"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _first(obj: Any) -> Any:
    if isinstance(obj, list):
        return obj[0] if obj else None
    return obj


def _to_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        return int(value)
    return None


def _text(value: Any, limit: int = 2000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            value = repr(type(value))
    return value[:limit]


# ---- HandlerState / HandlerStatus / HandlerEnvironment --------------------------------
def parse_handler_state(text: Any) -> str:
    """The state word in config/HandlerState ('' when empty or unreadable)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    words = text.strip().split()
    return words[0][:64] if words else ""


@dataclasses.dataclass
class HandlerStatus:
    status: str = ""          # Ready / NotReady
    code: Optional[int] = None
    message: str = ""
    version: str = ""
    error: Optional[str] = None


def parse_handler_status(text: Any) -> HandlerStatus:
    data, error = _loads(text)
    if error:
        return HandlerStatus(error=error)
    data = _first(data)
    if not isinstance(data, dict):
        return HandlerStatus(error="not a JSON object")
    message = data.get("message")
    if isinstance(message, dict):
        message = message.get("message") or _get(message, "formattedMessage", "message")
    return HandlerStatus(status=_text(data.get("status"), 64), code=_to_int(data.get("code")),
                         message=_text(message), version=_text(data.get("version"), 64))


@dataclasses.dataclass
class HandlerEnvironment:
    name: str = ""
    version: str = ""
    folders: Dict[str, str] = dataclasses.field(default_factory=dict)
    error: Optional[str] = None


HANDLER_ENV_FOLDERS = ("logFolder", "configFolder", "statusFolder")


def parse_handler_environment(text: Any) -> HandlerEnvironment:
    data, error = _loads(text)
    if error:
        return HandlerEnvironment(error=error)
    data = _first(data)
    if not isinstance(data, dict):
        return HandlerEnvironment(error="not a JSON array holding an object")
    env = data.get("handlerEnvironment")
    if not isinstance(env, dict):
        return HandlerEnvironment(name=_text(data.get("name"), 200),
                                  error="no handlerEnvironment object")
    folders = {k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)}
    missing = [k for k in HANDLER_ENV_FOLDERS if not folders.get(k)]
    return HandlerEnvironment(
        name=_text(data.get("name"), 200), version=_text(data.get("version"), 64),
        folders=folders, error=f"no {', '.join(missing)}" if missing else None)


# ---- N.status ------------------------------------------------------------------------
@dataclasses.dataclass
class ExtStatus:
    error: Optional[str] = None          # the file could not be understood
    status: str = ""                     # top-level status.status (forced to success on ARM)
    code: Optional[int] = None           # the run result
    operation: str = ""
    timestamp: str = ""
    message: str = ""                    # formattedMessage.message, unpacked if JSON
    consistency: Optional[int] = None    # 0 none, 1 file system, 2 application, 3 crash
    real_status: str = ""                # the status inside the substatus report
    health_code: Optional[int] = None    # vmHealthInfo.vmHealthStatusCode (ext error code)
    health_state: Optional[int] = None   # 0 green, 128 yellow, 256 red
    telemetry: Dict[str, str] = dataclasses.field(default_factory=dict)
    snapshot_errors: List[str] = dataclasses.field(default_factory=list)


def _unpack_message(value: Any) -> Tuple[str, Optional[int]]:
    """formattedMessage.message is itself a JSON string holding messageStr and
    snapshotConsistency; older versions wrote plain text."""
    if not isinstance(value, str):
        return _text(value), None
    inner, error = _loads(value) if value.lstrip().startswith("{") else (None, "plain")
    if error or not isinstance(inner, dict):
        return value[:2000], None
    parts = [_text(inner.get(k)) for k in ("messageStr", "jobMessage") if inner.get(k)]
    return " ".join(p.strip() for p in parts)[:2000], _to_int(inner.get("snapshotConsistency"))


def _telemetry(value: Any) -> Dict[str, str]:
    out: Dict[str, str] = {}
    if isinstance(value, list):
        for item in value[:500]:
            if isinstance(item, dict) and isinstance(item.get("Key"), str):
                out[item["Key"][:100]] = _text(item.get("Value"), 500)
    elif isinstance(value, dict):
        for key, val in list(value.items())[:500]:
            if isinstance(key, str):
                out[key[:100]] = _text(val, 500)
    return out


def _absorb(report: ExtStatus, status: Any) -> None:
    """Take vmHealthInfo, telemetry and snapshot errors from a status object."""
    if not isinstance(status, dict):
        return
    health = status.get("vmHealthInfo")
    if isinstance(health, dict):
        code = _to_int(health.get("vmHealthStatusCode"))
        if code is not None:
            report.health_code = code
        state = _to_int(health.get("vmHealthState"))
        if state is not None:
            report.health_state = state
    report.telemetry.update(_telemetry(status.get("telemetryData")))
    infos = status.get("snapshotInfo")
    if isinstance(infos, list):
        for info in infos[:64]:
            if isinstance(info, dict) and info.get("isSuccessful") is not True \
                    and info.get("errorMessage"):
                report.snapshot_errors.append(_text(info.get("errorMessage"), 500))


def parse_status(text: Any) -> ExtStatus:
    """Parse an N.status file of the backup extension."""
    data, error = _loads(text)
    if error:
        return ExtStatus(error=error)
    top = _first(data)
    status = _get(top, "status")
    if not isinstance(status, dict):
        return ExtStatus(error="no status object")
    report = ExtStatus(
        status=_text(status.get("status"), 64), code=_to_int(status.get("code")),
        operation=_text(status.get("operation"), 64), timestamp=_text(_get(top, "timestampUTC"), 64))
    fmt = status.get("formattedMessage")
    if isinstance(fmt, dict):
        report.message, report.consistency = _unpack_message(fmt.get("message"))
    _absorb(report, status)
    subs = status.get("substatus")
    if isinstance(subs, list):
        for sub in subs[:16]:
            if not isinstance(sub, dict):
                continue
            name = sub.get("name")
            inner, err = _loads(name) if isinstance(name, str) else (None, "no name")
            inner_status = _get(_first(inner), "status") if not err else None
            if isinstance(inner_status, dict):
                report.real_status = _text(inner_status.get("status"), 64)
                _absorb(report, inner_status)
                if report.code is None:
                    report.code = _to_int(inner_status.get("code"))
    return report


# ---- pre/post script configuration ----------------------------------------------------
PLUGIN_CONFIG = "/etc/azure/VMSnapshotScriptPluginConfig.json"
PLUGIN_HOST_CONF = "/etc/azure/VMSnapshotPluginHost.conf"
HOST_TIMEOUT_CAP = 1800          # PluginHost's own limit, seconds
SCRIPT_TIMEOUT_DEFAULT = 10      # what ScriptRunner uses when timeoutInSeconds is absent


@dataclasses.dataclass
class Problem:
    key: str
    severity: str            # "fail": scripts will not run as intended; "warn": surprising
    code: Optional[int]      # extension status code this leads to, when there is one
    text: str


@dataclasses.dataclass
class PluginConfig:
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
        value = self.data.get("timeoutInSeconds", SCRIPT_TIMEOUT_DEFAULT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None
        return min(value, cap)


KNOWN_PLUGIN_KEYS = {
    "pluginName", "preScriptLocation", "postScriptLocation", "preScriptParams",
    "postScriptParams", "preScriptNoOfRetries", "postScriptNoOfRetries", "timeoutInSeconds",
    "continueBackupOnFailure", "fsFreezeEnabled", "ScriptsExecutionPollTimeSeconds", "appName",
}


def _kind(value: Any) -> str:
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


def parse_plugin_config(raw: Any, cap: int = HOST_TIMEOUT_CAP) -> PluginConfig:
    """Check VMSnapshotScriptPluginConfig.json the way the extension's ScriptRunner reads it
    (Python json module, then plain dictionary look-ups with no type conversion)."""
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
    data, error = _loads(text)
    if error:
        return PluginConfig(error=f"it is {error}", error_code=305)
    if not isinstance(data, dict):
        return PluginConfig(error=f"the top level is {_kind(data)}, not a JSON object",
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
            problems.append(Problem(key, "fail", 304, f"{key} is {_kind(value)}; it must be a "
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
            problems.append(Problem("timeoutInSeconds", "fail", 304, f"timeoutInSeconds is "
                                    f"{_kind(value)} ({_text(value, 40)}); it must be a number, "
                                    "else the extension stops loading the plugin"))
        elif value != value or value in (float("inf"), float("-inf")):
            problems.append(Problem("timeoutInSeconds", "fail", 304, "timeoutInSeconds is not a "
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
            problems.append(Problem(key, "fail", 310, f"{key} is {_kind(value)}: the script "
                                    "thread crashes on it; use a list of strings"))
    for key in ("preScriptNoOfRetries", "postScriptNoOfRetries"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            problems.append(Problem(key, "warn", 310, f"{key} is {_kind(data[key])}; it must be a "
                                    "whole number (a failing script then crashes the script "
                                    "thread)"))
    for key in ("continueBackupOnFailure", "fsFreezeEnabled"):
        if key in data and not isinstance(data[key], bool):
            value = data[key]
            meant = "true" if bool(value) else "false"
            problems.append(Problem(key, "warn", None, f"{key} is {_kind(value)} "
                                    f"({_text(value, 40)}), not true or false; the extension "
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


@dataclasses.dataclass
class PluginHostConf:
    timeout: int = HOST_TIMEOUT_CAP
    plugin_config: str = PLUGIN_CONFIG
    plugins: int = 1
    error: Optional[str] = None


def parse_pluginhost_conf(raw: Any) -> PluginHostConf:
    """/etc/azure/VMSnapshotPluginHost.conf ([pre_post] section); errors mean code 304."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return PluginHostConf(error="not readable")
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(raw)
    except (configparser.Error, ValueError, KeyError) as exc:
        return PluginHostConf(error=f"does not parse ({_short(exc)})")
    except Exception as exc:  # noqa: BLE001 - a parser never raises
        return PluginHostConf(error=f"does not parse ({type(exc).__name__})")
    conf = PluginHostConf()
    if not parser.has_section("pre_post"):
        conf.plugins = 0
        return conf
    section = parser["pre_post"]
    try:
        if "timeoutInSeconds" in section:
            conf.timeout = min(int(section["timeoutInSeconds"]), HOST_TIMEOUT_CAP)
        if "numberOfPlugins" in section:
            conf.plugins = int(section["numberOfPlugins"])
    except (ValueError, TypeError) as exc:
        conf.error = f"a number is not a whole number ({_short(exc)})"
        return conf
    if conf.plugins > 0:
        path = section.get("pluginConfigPath0")
        if path is None:
            conf.error = "pluginConfigPath0 is missing"
        else:
            conf.plugin_config = path.strip()
    return conf


# ---- /proc ----------------------------------------------------------------------------
@dataclasses.dataclass
class ProcStat:
    state: str
    start_ticks: int


def parse_proc_stat(text: Any) -> Optional[ProcStat]:
    """/proc/<pid>/stat: the state letter and the start time (clock ticks after boot)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str) or ")" not in text:
        return None
    fields = text[text.rfind(")") + 1:].split()
    # after the command: state is field 3, starttime field 22 -> indexes 0 and 19
    if len(fields) < 20 or not re.fullmatch(r"[0-9]{1,18}", fields[19]):
        return None
    return ProcStat(state=fields[0][:1], start_ticks=int(fields[19]))


def parse_uptime(text: Any) -> Optional[float]:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    parts = text.split()
    try:
        value = float(parts[0]) if parts else None
    except ValueError:
        return None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


WORKLOADS = ("oracle", "mysql", "mariadb", "postgres")


def parse_workload_name(raw: Any) -> Optional[str]:
    """The workload named in /etc/azure/workload.conf [workload] workload_name when it is one
    the extension supports (then it runs that flow instead of the pre/post scripts)."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return None
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(raw)
        value = parser.get("workload", "workload_name", fallback="")
    except Exception:  # noqa: BLE001 - a parser never raises
        return None
    value = (value or "").strip().lower()
    return value if value in WORKLOADS else None
