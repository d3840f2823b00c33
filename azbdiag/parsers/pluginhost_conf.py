"""/etc/azure/VMSnapshotPluginHost.conf, the extension's plugin host settings ([pre_post]:
timeout, number of plugins, where the plugin config is). Read with configparser as the
extension does. Text in, data out; nothing here raises."""

from __future__ import annotations

import configparser
import dataclasses
from typing import Any, Optional

from azbdiag.parsers import _json
from azbdiag.parsers.plugin_config import HOST_TIMEOUT_CAP, PLUGIN_CONFIG

PLUGIN_HOST_CONF = "/etc/azure/VMSnapshotPluginHost.conf"


@dataclasses.dataclass
class PluginHostConf:
    """VMSnapshotPluginHost.conf's [pre_post] settings: the scripts' timeout (seconds, capped at
    PluginHost's own 1800), the plugin config's path and the number of plugins."""
    timeout: int = HOST_TIMEOUT_CAP
    plugin_config: str = PLUGIN_CONFIG
    plugins: int = 1
    error: Optional[str] = None


def parse_pluginhost_conf(raw: Any) -> PluginHostConf:
    """/etc/azure/VMSnapshotPluginHost.conf ([pre_post] section); errors mean code 304.

    >>> conf = parse_pluginhost_conf("[pre_post]\\ntimeoutInSeconds: 3600\\nnumberOfPlugins: 1\\n"
    ...                              "pluginName0: ScriptRunner\\npluginConfigPath0: /etc/azure/my.json\\n")
    >>> conf.timeout, conf.plugins, conf.plugin_config, conf.error
    (1800, 1, '/etc/azure/my.json', None)
    >>> parse_pluginhost_conf("[pre_post]\\ntimeoutInSeconds: soon\\n").error
    "a number is not a whole number (invalid literal for int() with base 10: 'soon')"
    """
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return PluginHostConf(error="not readable")
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(raw)
    except (configparser.Error, ValueError, KeyError) as exc:
        return PluginHostConf(error=f"does not parse ({_json.short(exc)})")
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
        conf.error = f"a number is not a whole number ({_json.short(exc)})"
        return conf
    if conf.plugins > 0:
        path = section.get("pluginConfigPath0")
        if path is None:
            conf.error = "pluginConfigPath0 is missing"
        else:
            conf.plugin_config = path.strip()
    return conf
