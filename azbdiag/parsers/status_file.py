"""status/<N>.status of the backup extension: the result of request N.

For Azure Resource Manager VMs the top-level status always says "success": the real outcome
is in `code`, and the error the extension hit is `vmHealthInfo.vmHealthStatusCode` inside
the JSON string held by `substatus[0].name`. Text in, data out; nothing here raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from azbdiag.parsers import _json


# ---- N.status ------------------------------------------------------------------------
@dataclasses.dataclass
class ExtStatus:
    """The backup extension's status/<N>.status: the result of request N, with the error it hit
    and its telemetry."""
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
        return _json.text(value), None
    inner, error = _json.loads(value) if value.lstrip().startswith("{") else (None, "plain")
    if error or not isinstance(inner, dict):
        return value[:2000], None
    parts = [_json.text(inner.get(k)) for k in ("messageStr", "jobMessage") if inner.get(k)]
    return " ".join(p.strip() for p in parts)[:2000], _json.to_int(inner.get("snapshotConsistency"))


def _telemetry(value: Any) -> Dict[str, str]:
    out: Dict[str, str] = {}
    if isinstance(value, list):
        for item in value[:500]:
            if isinstance(item, dict) and isinstance(item.get("Key"), str):
                out[item["Key"][:100]] = _json.text(item.get("Value"), 500)
    elif isinstance(value, dict):
        for key, val in list(value.items())[:500]:
            if isinstance(key, str):
                out[key[:100]] = _json.text(val, 500)
    return out


def _absorb(report: ExtStatus, status: Any) -> None:
    """Take vmHealthInfo, telemetry and snapshot errors from a status object."""
    if not isinstance(status, dict):
        return
    health = status.get("vmHealthInfo")
    if isinstance(health, dict):
        code = _json.to_int(health.get("vmHealthStatusCode"))
        if code is not None:
            report.health_code = code
        state = _json.to_int(health.get("vmHealthState"))
        if state is not None:
            report.health_state = state
    report.telemetry.update(_telemetry(status.get("telemetryData")))
    infos = status.get("snapshotInfo")
    if isinstance(infos, list):
        for info in infos[:64]:
            if isinstance(info, dict) and info.get("isSuccessful") is not True \
                    and info.get("errorMessage"):
                report.snapshot_errors.append(_json.text(info.get("errorMessage"), 500))


def parse_status(text: Any) -> ExtStatus:
    """Parse an N.status file of the backup extension.

    >>> import json
    >>> inner = [{"status": {"status": "error", "code": "121", "telemetryData": [
    ...     {"Key": "extensionVersion", "Value": "1.0.9220.0"}],
    ...     "vmHealthInfo": {"vmHealthState": 256, "vmHealthStatusCode": 121}}}]
    >>> message = {"messageStr": "freeze failed", "snapshotConsistency": 1}
    >>> rep = parse_status(json.dumps([{"status": {"operation": "Enable", "status": "success",
    ...     "code": "121", "formattedMessage": {"lang": "en-US", "message": json.dumps(message)},
    ...     "substatus": [{"code": "0", "name": json.dumps(inner)}]}}]))
    >>> rep.status, rep.code, rep.real_status, rep.health_code, rep.message, rep.consistency
    ('success', 121, 'error', 121, 'freeze failed', 1)
    >>> rep.telemetry
    {'extensionVersion': '1.0.9220.0'}
    >>> parse_status("").error
    'the file is empty'
    """
    data, error = _json.loads(text)
    if error:
        return ExtStatus(error=error)
    top = _json.first(data)
    status = _json.get(top, "status")
    if not isinstance(status, dict):
        return ExtStatus(error="no status object")
    report = ExtStatus(
        status=_json.text(status.get("status"), 64), code=_json.to_int(status.get("code")),
        operation=_json.text(status.get("operation"), 64),
        timestamp=_json.text(_json.get(top, "timestampUTC"), 64))
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
            inner, err = _json.loads(name) if isinstance(name, str) else (None, "no name")
            inner_status = _json.get(_json.first(inner), "status") if not err else None
            if isinstance(inner_status, dict):
                report.real_status = _json.text(inner_status.get("status"), 64)
                _absorb(report, inner_status)
                if report.code is None:
                    report.code = _json.to_int(inner_status.get("code"))
    return report

