"""HandlerEnvironment.json of an extension directory, written by the guest agent: where the
extension finds its log, config and status folders. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from azbdiag.parsers import _json


@dataclasses.dataclass
class HandlerEnvironment:
    """An extension's HandlerEnvironment.json: its name, version and log, config and status
    folders (error: what is wrong with the file)."""
    name: str = ""
    version: str = ""
    folders: Dict[str, str] = dataclasses.field(default_factory=dict)
    error: Optional[str] = None


HANDLER_ENV_FOLDERS = ("logFolder", "configFolder", "statusFolder")


def parse_handler_environment(text: Any) -> HandlerEnvironment:
    """The handler's name, version and folders; error names the folders that are missing.

    >>> env = parse_handler_environment('[{"name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", '
    ...     '"version": 1.0, "handlerEnvironment": {"logFolder": "/var/log/azure/x", '
    ...     '"configFolder": "/var/lib/waagent/x/config", "statusFolder": "/var/lib/waagent/x/status"}}]')
    >>> env.version, env.folders["statusFolder"], env.error
    ('1.0', '/var/lib/waagent/x/status', None)
    >>> parse_handler_environment('[{"handlerEnvironment": {"logFolder": "/l"}}]').error
    'no configFolder, statusFolder'
    """
    data, error = _json.loads(text)
    if error:
        return HandlerEnvironment(error=error)
    data = _json.first(data)
    if not isinstance(data, dict):
        return HandlerEnvironment(error="not a JSON array holding an object")
    env = data.get("handlerEnvironment")
    if not isinstance(env, dict):
        return HandlerEnvironment(name=_json.text(data.get("name"), 200),
                                  error="no handlerEnvironment object")
    folders = {k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)}
    missing = [k for k in HANDLER_ENV_FOLDERS if not folders.get(k)]
    return HandlerEnvironment(
        name=_json.text(data.get("name"), 200), version=_json.text(data.get("version"), 64),
        folders=folders, error=f"no {', '.join(missing)}" if missing else None)

