"""agent.conf: /etc/waagent.conf as the agent loads it at start (WALinuxAgent common/conf.py
ConfigurationProvider.load, common/utils/fileutil.py read_file), and the settings in it that
matter for backup. Extensions.Enabled has its own rule and repair in rules/agent.py."""

from __future__ import annotations

from typing import Dict, List

from azbdiag.engine import rule
from azbdiag.facts import agent_conf_or_skip, installed_and_running, runs_newest_on_disk
from azbdiag.model import fail, ok, warn
from azbdiag.parsers.agent_version import MINIMUM_VERSION, below_minimum

BOOL_KEYS = ("Extensions.Enabled", "AutoUpdate.Enabled", "AutoUpdate.UpdateToLatestVersion",
             "Extensions.WaitForCloudInit", "EnableOverProvisioning", "OS.EnableFirewall",
             "OS.AllowHTTP", "OS.EnableFIPS", "Logs.Verbose", "Logs.Console", "Logs.Collect",
             "ResourceDisk.Format", "ResourceDisk.EnableSwap", "Provisioning.DeleteRootPassword",
             "Provisioning.RegenerateSshHostKeyPair", "Provisioning.MonitorHostName",
             "Provisioning.DecodeCustomData", "Provisioning.ExecuteCustomData",
             "Provisioning.AllowResetSysUser")


# What distributions ship on purpose: information, not a finding (reference/packaging.md:
# Debian's waagent sets both; cloud-init images provision with cloud-init).
STOCK = {"Provisioning.Agent": ("auto", "waagent", "cloud-init", "disabled")}


@rule("agent.conf", "waagent.conf settings that matter for backup",
      error_codes=("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
                   "ExtensionSnapshotFailedNoNetwork"),
      remedy="Save /etc/waagent.conf as UTF-8 with one setting per line; use only y or n for "
             "on/off settings; keep auto-update on unless the distribution's package keeps the "
             "agent current.")
def conf_settings(ctx):
    """The file the agent loads at start (common/conf.py ConfigurationProvider.load, strict
    UTF-8 by common/utils/fileutil.py read_file): a zero-byte or non-UTF-8 file stops the
    agent; settings the agent ignores are counted with their line; a distribution's stock
    choices (AutoUpdate.Enabled=n on Debian, Provisioning.Agent=cloud-init) are information
    unless the agent they leave running is below the supported minimum."""
    path, conf = agent_conf_or_skip(ctx)
    if conf.empty:
        return fail(f"{path} is empty (zero bytes): the agent refuses to start with an empty "
                    f"configuration, so Azure gets no agent status", [f"{path}: 0 bytes"],
                    conf_path=path)
    if conf.decode_error:
        return fail(f"{path} is not UTF-8: the agent dies at start on it and systemd restarts "
                    f"it in a loop, so Azure gets no agent status",
                    [f"{path}: {conf.decode_error}"], conf_path=path)
    problems: Dict[int, str] = {}      # line -> what the agent does with it
    info: List[str] = []
    for number, text in conf.odd_lines:
        problems[number] = (f"line {number}: {text!r} holds a carriage return or form feed "
                            f"inside it; the agent splits lines on newlines only, so what "
                            f"follows is part of this line's value")
    for key in BOOL_KEYS:
        _v, how = conf.switch(key, False)
        line = conf.line_of(key) or 0
        if how == "invalid" and line not in problems:
            problems[line] = (f"line {line}: {key}={conf.get(key)} is silently ignored (only y "
                              f"or n count), so the default applies")
    for number in conf.ignored_lines:
        problems.setdefault(number, f"line {number}: {conf.lines[number - 1].strip()!r} has no "
                                    f"'=', the agent ignores it")
    for key, numbers in conf.duplicates.items():
        info.append(f"{key} is set on lines {', '.join(map(str, numbers))}; the last wins")
    effective = installed_and_running(ctx)
    newest = runs_newest_on_disk(effective[0], conf)[0] if effective else True
    if conf.switch("AutoUpdate.Enabled", True) == (False, "set"):
        line = conf.line_of("AutoUpdate.Enabled") or 0
        if effective and not newest and below_minimum(effective[1]):
            problems[line] = (f"line {line}: AutoUpdate.Enabled=n keeps the agent at "
                              f"{effective[1]}, below the supported minimum {MINIMUM_VERSION}")
        else:
            info.append(f"AutoUpdate.Enabled=n (line {line}): "
                        + (f"the daemon runs the package's agent, {effective[1]}, which is "
                           f"supported" if effective and not newest else
                           "the agent downloads no new versions"))
    if conf.switch("AutoUpdate.UpdateToLatestVersion", True) == (False, "set"):
        info.append(f"AutoUpdate.UpdateToLatestVersion=n (line "
                    f"{conf.line_of('AutoUpdate.UpdateToLatestVersion')}): no new agent "
                    f"downloads; agent.version says which agent handles extensions")
    prov = conf.get("Provisioning.Agent")
    if prov is not None:
        if prov.lower() in STOCK["Provisioning.Agent"]:
            info.append(f"Provisioning.Agent={prov} (line {conf.line_of('Provisioning.Agent')})")
        else:
            line = conf.line_of("Provisioning.Agent") or 0
            problems.setdefault(line, f"line {line}: Provisioning.Agent={prov} is not auto, "
                                      f"waagent, cloud-init or disabled")
    for key in ("HttpProxy.Host", "HttpProxy.Port"):
        if conf.get(key) is not None:
            info.append(f"{key}={conf.get(key)} (used by the agent only, never for the "
                        f"WireServer, and not passed to extensions)")
    if not any(conf.entries):
        info.append(f"{path} holds no setting: every setting takes its default")
    if problems:
        return warn(f"{len(problems)} setting(s) in {path} do not do what they seem to",
                    [problems[n] for n in sorted(problems)] + info, conf_path=path)
    return ok(f"{path}: settings are valid", info, conf_path=path)
