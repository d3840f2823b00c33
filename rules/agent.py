"""The Azure Linux guest agent (WALinuxAgent): installed, recent enough, running, allowed to
run extensions, and configured sanely. Without it the backup extension never runs, and Azure
reports UserErrorGuestAgentStatusUnavailable or GuestAgentSnapshotTaskStatusError.
`fix --agent` repairs what agent.version, agent.service, agent.disable_agent and
agent.extensions_enabled find: each repair sits right below its rule. Whether the installed
agent works (its Python, heartbeat, log) is rules/agent_health.py; the file systems it works
on, rules/agent_disk.py."""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Dict, List, Optional, Tuple

from azbdiag.engine import rule
from azbdiag.facts import (
    CLI_DIRS,
    CMD_TIMEOUT,
    CONF,
    PACKAGES,
    agent_cli,
    agent_unit,
    expected_package,
    installed_evidence,
    link_target,
    require_agent,
    update_argvs,
    waagent_conf,
    waagent_conf_path,
)
from azbdiag.fix import DeleteFile, RefuseFix, RunCommand, Symlink, WriteFile, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.agent_error import AgentError, parse_error_json
from azbdiag.parsers.agent_manifest import parse_agent_manifest
from azbdiag.parsers.agent_version import (
    MINIMUM_VERSION,
    Version,
    agent_dir_version,
    below_minimum,
    parse_version,
)
from azbdiag.parsers.waagent_version import parse_version_output

LIB = "/var/lib/waagent"
DISABLE = "/var/lib/waagent/disable_agent"
AGENT_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
               "AzureVmOffline")
BOOL_KEYS = ("Extensions.Enabled", "AutoUpdate.Enabled", "AutoUpdate.UpdateToLatestVersion",
             "Extensions.WaitForCloudInit", "EnableOverProvisioning", "OS.EnableFirewall",
             "OS.AllowHTTP", "OS.EnableFIPS", "Logs.Verbose", "Logs.Console", "Logs.Collect",
             "ResourceDisk.Format", "ResourceDisk.EnableSwap", "Provisioning.DeleteRootPassword",
             "Provisioning.RegenerateSshHostKeyPair", "Provisioning.MonitorHostName",
             "Provisioning.DecodeCustomData", "Provisioning.ExecuteCustomData",
             "Provisioning.AllowResetSysUser")


# ---- facts: the auto-updated agents -------------------------------------------------------

@dataclasses.dataclass
class AgentDir:
    version: Version
    path: str
    error: Optional[AgentError]      # error.json, None when absent
    manifest_problem: Optional[str]  # why the agent rejects its HandlerManifest.json

    @property
    def usable(self) -> bool:
        """ga/guestagent.py: is_available = is_downloaded (a manifest that loads) and not
        is_blacklisted (error.json: was_fatal, or failure_count >= 3)."""
        return self.manifest_problem is None and not (self.error and self.error.blacklisted)

    def describe(self) -> str:
        reasons = []
        if self.error is not None and self.error.blacklisted:
            reasons.append(f"blacklisted by the agent ({self.error.reason or 'error.json'})")
        if self.manifest_problem:
            reasons.append(f"{self.manifest_problem} (the agent deletes the directory at its "
                           f"next start)")
        if reasons:
            return f"{self.path}: not usable: " + "; ".join(reasons)
        return f"{self.path}: auto-updated agent {self.version}"


def agent_dirs_fact(host) -> List[AgentDir]:
    """Auto-updated agents under /var/lib/waagent, oldest first, judged as the agent judges
    them (ga/guestagent.py GuestAgent: _load_manifest, is_downloaded, is_blacklisted)."""
    out = []
    for path in host.glob(LIB, "WALinuxAgent-*"):
        version = agent_dir_version(posixpath.basename(path))
        if version is None or not host.isdir(path):
            continue
        text = host.try_read_text(posixpath.join(path, "error.json"), limit=64 * 1024)
        manifest = host.try_read_text(posixpath.join(path, "HandlerManifest.json"),
                                      limit=256 * 1024)
        out.append(AgentDir(version, path, parse_error_json(text) if text is not None else None,
                            "there is no HandlerManifest.json" if manifest is None
                            else parse_agent_manifest(manifest)))
    return sorted(out, key=lambda d: d.version.key())


# Since WALinuxAgent #3404 (first tagged v2.15.0.1) the daemon also runs the newest agent on
# disk when AutoUpdate.UpdateToLatestVersion is present, whatever its value; before it, only
# AutoUpdate.Enabled counted (ga/update.py UpdateHandler.run_latest).
READS_UPDATE_TO_LATEST = parse_version("2.15.0.1")


def runs_newest_on_disk(daemon: Version, conf) -> Tuple[bool, str]:
    """Whether the daemon runs the newest usable WALinuxAgent-<v> directory above its own
    version, and why (ga/update.py UpdateHandler.run_latest, get_latest_agent_greater_than_
    daemon). `conf` is the parsed waagent.conf, or None (every default)."""
    enabled = conf.switch("AutoUpdate.Enabled", True)[0] if conf is not None else True
    present = conf is not None and conf.get("AutoUpdate.UpdateToLatestVersion") is not None
    if daemon >= READS_UPDATE_TO_LATEST:
        if present:
            return True, ("AutoUpdate.UpdateToLatestVersion is set: the daemon runs the newest "
                          "agent on disk (it stops only the downloads when n)")
        if enabled:
            return True, "auto-update is on (the default)"
        return False, "AutoUpdate.Enabled=n: the daemon runs the package's agent"
    if enabled:
        return True, ("AutoUpdate.Enabled is on: the daemon runs the newest agent on disk"
                      + (" (a daemon before 2.15.0.1 does not read "
                         "AutoUpdate.UpdateToLatestVersion)" if present else ""))
    return False, ("AutoUpdate.Enabled=n: the daemon runs the package's agent (a daemon before "
                   "2.15.0.1 does not read AutoUpdate.UpdateToLatestVersion)")


def running_agent(ctx, installed: Version) -> Tuple[Version, str, List[AgentDir]]:
    """(the agent version that handles extensions, why, the agent directories)."""
    try:
        conf = ctx.fact(waagent_conf)[1] if ctx.fact(waagent_conf_path) else None
    except SkipRule:            # unreadable: the agent's defaults
        conf = None
    dirs = ctx.fact(agent_dirs_fact)
    newest, why = runs_newest_on_disk(installed, conf)
    usable = [d.version for d in dirs if d.usable and d.version > installed]
    if newest and usable:
        return usable[-1], why, dirs
    if newest:
        return installed, why + "; no usable agent directory above the installed version", dirs
    return installed, why, dirs


# ---- agent.installed ---------------------------------------------------------------------

@rule("agent.installed", "The Azure Linux guest agent is installed", error_codes=AGENT_CODES,
      timeout=30, remedy="Install the agent from the distribution's repository (package walinuxagent on "
             "Ubuntu, waagent on Debian, WALinuxAgent on RHEL-family and Azure Linux, "
             "python-azure-agent on SUSE) and enable its service.")
def installed(ctx):
    """The waagent command, the azurelinuxagent module and the distro package."""
    if not ctx.host.live and not (ctx.host.isdir("/usr") or ctx.host.isdir("/etc")):
        raise SkipRule(SkipReason.NO_INPUT, "the root has neither /usr nor /etc")
    cli, pkgs, module, evidence = installed_evidence(ctx)
    if not (cli or pkgs or module):
        return fail("the Azure Linux agent is not installed: Azure cannot install or run the "
                    "backup extension", [f"looked for waagent in {', '.join(CLI_DIRS)}, the "
                                         f"packages {', '.join(PACKAGES)} and the "
                                         f"azurelinuxagent module"])
    missing = []
    if not cli:
        missing.append("no waagent command")
    if not module:
        missing.append("no azurelinuxagent module in the system Python paths")
    if missing and not pkgs:
        return warn("parts of the agent are missing: " + "; ".join(missing), evidence)
    if not cli:
        return warn("the agent package is installed but its waagent command is missing", evidence)
    return ok("the guest agent is installed", evidence)


# ---- agent.version and its repair -------------------------------------------------------

def update_remedy(host, package: str) -> str:
    cmds = update_argvs(host, package)
    how = (" && ".join("sudo " + " ".join(c) for c in cmds) if cmds
           else f"your distribution's package manager (package {package})")
    return (f"Update the agent from the distribution's repository: {how}; keep "
            f"AutoUpdate.Enabled=y in {CONF} so the agent keeps itself current. Do not "
            f"install it from GitHub sources (`sudo azbdiag fix --agent` runs this on a live VM).")


@rule("agent.version", "The guest agent is at least the supported minimum",
      error_codes=AGENT_CODES + ("ExtensionOperationFailedForManagedDisks",), fix="agent",
      timeout=30, remedy=f"Update the agent to {MINIMUM_VERSION} or later from the distribution's "
             f"repository and keep auto-update on.")
def version(ctx):
    """Installed and goal-state (auto-updated) versions against 2.2.53.1."""
    require_agent(ctx)
    host = ctx.host
    _cli, pkgs, module, _ = installed_evidence(ctx)
    evidence = []
    installed_v = None
    goal = None
    cli = ctx.fact(agent_cli)
    if host.live and cli is not None:   # `waagent --version` is safe as non-root: it constructs nothing
        res = host.run([cli, "--version"], timeout=CMD_TIMEOUT)
        if res.timed_out:
            raise CheckError(f"{cli} --version did not finish within {CMD_TIMEOUT:g} s")
        parsed = parse_version_output(res.stdout + "\n" + res.stderr)
        if parsed.import_error:
            evidence.append(f"waagent --version failed: {parsed.import_error}")
        installed_v, goal = parsed.installed, parsed.goal_state
        if installed_v:
            evidence.append(f"waagent --version: installed {installed_v}"
                            + (f", goal state agent {goal}" if goal else ""))
    pkg = pkgs[0] if pkgs else None
    if pkg is not None:
        evidence.append(f"package {pkg.name} {pkg.version}")
        installed_v = installed_v or parse_version(pkg.version.split("-")[0])
    if module and module[1]:
        evidence.append(f"{module[0]}: AGENT_VERSION {module[1]}")
        installed_v = installed_v or module[1]
    if installed_v is None:
        raise SkipRule(SkipReason.NO_INPUT, "cannot tell the installed agent version")
    effective, why, dirs = running_agent(ctx, installed_v)
    evidence += [d.describe() for d in dirs]
    evidence.append(why)
    if goal is not None and goal != effective:
        evidence.append(f"waagent --version says the goal state agent is {goal}")
        effective = max(effective, goal, key=lambda v: v.key())
    auto = effective > installed_v
    package = pkg.name if pkg else expected_package(host)
    data = dict(installed=str(installed_v), effective=str(effective), package=package,
                auto_update=auto)
    if below_minimum(effective):
        res = fail(f"the agent that handles extensions is {effective}, below the supported "
                   f"minimum {MINIMUM_VERSION}", evidence, **data)
        res.remedy = update_remedy(host, package)
        return res
    if below_minimum(installed_v):
        return warn(f"the installed agent {installed_v} is below {MINIMUM_VERSION}; the "
                    f"auto-updated agent {effective} on disk covers it (the daemon runs it)",
                    evidence, **data)
    return ok(f"agent {effective} (installed {installed_v}) meets the minimum "
              f"{MINIMUM_VERSION}", evidence, **data)


def _repair_version(ctx, finding, planned: bool) -> list:
    """fix --agent: update the package with the distro's own package manager (live only; not
    undoable). `planned`: other repairs are planned already."""
    if finding is None or finding.status.value != "fail":
        return []
    host = ctx.host
    argvs = update_argvs(host, finding.data.get("package") or expected_package(host))
    if host.live and argvs:
        return [RunCommand(argv, timeout=600.0,
                           why="update the agent from the distribution's repository")
                for argv in argvs]
    if not planned and host.live:
        raise RefuseFix("no known package manager for this distribution: update the agent "
                        "package by hand from the distribution's repository")
    if not planned:
        raise RefuseFix("updating the agent needs the live VM and its package manager: "
                        "boot it and run `sudo azbdiag fix --agent`")
    return []


# ---- agent.service and its repair -------------------------------------------------------

def _offline_enabled(host, unit) -> List[str]:
    links = []
    for base in ("/etc/systemd/system",):
        for wants in host.glob(base, "*.wants"):
            p = posixpath.join(wants, unit.name)
            if host.islink(p) or host.exists(p):
                links.append(p)
    return links


def _masked(host, name) -> Optional[str]:
    for d in ("/etc/systemd/system", "/run/systemd/system"):
        p = posixpath.join(d, name)
        if host.islink(p) and link_target(host, p) == "/dev/null":
            return p
    return None


@rule("agent.service", "The agent's service is enabled and running", error_codes=AGENT_CODES,
      fix="agent", timeout=40, remedy="Enable and start the agent: `sudo systemctl enable --now <unit>` "
                          "(`sudo azbdiag fix --agent`).")
def service(ctx):
    """Live: systemctl is-active/is-enabled; offline: the enablement links under the root."""
    require_agent(ctx)
    host = ctx.host
    unit = ctx.fact(agent_unit)
    name = unit.name
    evidence = [f"unit file: {unit.path}" if unit.path else f"no unit file {name}"]
    if ctx.fact(waagent_conf_path) is None:
        evidence.append(f"no {CONF}: the unit's ConditionPathExists skips the start silently")
    masked = _masked(host, name)
    data = dict(unit=name, unit_path=unit.path, wanted_by=unit.wanted_by, masked=masked)
    if host.live:
        if host.run(["systemctl", "--version"], timeout=CMD_TIMEOUT).not_found:
            raise SkipRule(SkipReason.NOT_APPLICABLE, "no systemctl: not a systemd system")
        if not host.isdir("/run/systemd/system"):
            raise SkipRule(SkipReason.NOT_APPLICABLE, "systemd is not running here (a container?)")
        act = host.run(["systemctl", "is-active", name], timeout=CMD_TIMEOUT)
        ena = host.run(["systemctl", "is-enabled", name], timeout=CMD_TIMEOUT)
        if act.timed_out or ena.timed_out:
            raise CheckError("systemctl did not answer in time")
        active = act.stdout.strip() or "unknown"
        enabled = ena.stdout.strip() or "unknown"
        evidence.append(f"systemctl is-active {name}: {active}")
        evidence.append(f"systemctl is-enabled {name}: {enabled}")
        is_active = active == "active"
        is_enabled = enabled in ("enabled", "enabled-runtime", "static", "indirect", "alias",
                                 "generated")
        masked = masked or ("/dev/null" if enabled.startswith("masked") else None)
        data.update(active=is_active, enabled=is_enabled, masked=masked)
        if masked:
            return fail(f"{name} is masked: it can never start", evidence, **data)
        if not is_active:
            return fail(f"{name} is {active}: no agent answers Azure, so backups cannot start",
                        evidence, **data)
        if not is_enabled:
            return warn(f"{name} runs now but is {enabled}: it will not start after a reboot",
                        evidence, **data)
        return ok(f"{name} is active and enabled", evidence, **data)
    if unit.path is None:
        return fail(f"no {name} unit file under the root: the agent never starts", evidence,
                    **data)
    links = _offline_enabled(host, unit)
    evidence += [f"enablement link: {p}" for p in links]
    data.update(enabled=bool(links), active=None)
    if masked:
        return fail(f"{name} is masked ({masked} -> /dev/null)", evidence, **data)
    if not links:
        return fail(f"{name} is not enabled on this disk: the agent will not start at boot",
                    evidence, **data)
    return ok(f"{name} is enabled to start at boot (offline root: not running now)", evidence,
              **data)


def _repair_service(ctx, finding, restart: bool) -> list:
    """fix --agent: unmask, enable and start the unit (live, with systemctl; offline, the
    enablement link systemctl would make). `restart`: the agent's settings change, so a
    running agent restarts to read them."""
    host = ctx.host
    unit = ctx.fact(agent_unit)
    name = unit.name
    actions = []
    if host.live:
        data = finding.data if finding is not None else {}
        if data.get("masked"):
            actions.append(RunCommand(["systemctl", "unmask", name], why=f"{name} is masked",
                                      undo_argv=["systemctl", "mask", name]))
        if finding is not None and not data.get("enabled"):
            actions.append(RunCommand(["systemctl", "enable", name], why="start it at boot",
                                      undo_argv=["systemctl", "disable", name]))
        if finding is not None and not data.get("active"):
            actions.append(RunCommand(["systemctl", "start", name], why="run the agent now",
                                      undo_argv=["systemctl", "stop", name]))
        elif restart:
            actions.append(RunCommand(["systemctl", "restart", name],
                                      why="the running agent reads its settings at start"))
    elif finding is not None:
        if finding.data.get("masked"):
            actions.append(DeleteFile(finding.data["masked"], why=f"unmask {name}"))
        if not finding.data.get("enabled") and unit.path:
            for target in unit.wanted_by[:1]:
                actions.append(Symlink(f"/etc/systemd/system/{target}.wants/{name}", unit.path,
                                       why=f"enable {name} at boot (as systemctl enable does)"))
        elif not unit.path:
            raise RefuseFix(f"no {name} unit file on this disk: reinstall the agent package")
    return actions


# ---- agent.disable_agent and its repair -------------------------------------------------

@rule("agent.disable_agent", "The agent is not disabled by /var/lib/waagent/disable_agent",
      error_codes=AGENT_CODES, fix="agent",
      remedy="Remove /var/lib/waagent/disable_agent and restart the agent "
             "(`sudo azbdiag fix --agent`).")
def disable_agent(ctx):
    """With this file present the daemon sleeps forever and never runs extensions."""
    if not ctx.host.isdir(LIB):
        raise SkipRule(SkipReason.NO_INPUT, f"no {LIB}")
    if ctx.host.exists(DISABLE) or ctx.host.islink(DISABLE):
        return fail(f"{DISABLE} exists: the agent idles forever and never runs extensions "
                    f"(written when the VM was created with provisionVMAgent=false)",
                    [DISABLE], path=DISABLE)
    return ok(f"no {DISABLE}")


def _repair_disable_agent(finding) -> list:
    """fix --agent: remove the file."""
    if finding is None:
        return []
    return [DeleteFile(DISABLE, why="the agent idles forever while this file exists")]


# ---- waagent.conf: agent.extensions_enabled and its repair, agent.conf -------------------

def _conf_or_skip(ctx):
    """(path, parsed waagent.conf); without the file, skipped as not applicable when the agent
    is not installed at all, else for the missing input."""
    if ctx.fact(waagent_conf_path) is None:
        require_agent(ctx)
    return ctx.fact(waagent_conf)


@rule("agent.extensions_enabled", "Extensions are enabled in waagent.conf",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      fix="agent", remedy="Set Extensions.Enabled=y in /etc/waagent.conf and restart the agent "
                          "(`sudo azbdiag fix --agent`).")
def extensions_enabled(ctx):
    """Extensions.Enabled=n stops every extension, the backup extension included."""
    path, conf = _conf_or_skip(ctx)
    value, how = conf.switch("Extensions.Enabled", True)
    line = conf.line_of("Extensions.Enabled")
    evidence = [f"line {line}: {conf.entries['Extensions.Enabled'].raw}"] if line else []
    data = dict(conf_path=path, line=line)
    if how == "invalid":
        return warn(f"Extensions.Enabled={conf.get('Extensions.Enabled')} is not y or n: the "
                    f"agent silently ignores it and uses the default (y)", evidence, **data)
    if not value:
        return fail("Extensions.Enabled=n: the agent runs no extensions, so the backup "
                    "extension never takes a snapshot", evidence, **data)
    return ok("Extensions.Enabled=y" + ("" if line else " (the default)"), evidence, **data)


def _repair_extensions_enabled(ctx, finding) -> list:
    """fix --agent: set Extensions.Enabled=y on the line that counts, keeping the rest."""
    if finding is None:
        return []
    if ctx.fact(waagent_conf_path) is None:
        raise RefuseFix(f"{CONF} disappeared since the check")
    path, parsed = ctx.fact(waagent_conf)
    new = parsed.with_value("Extensions.Enabled", "y").encode("utf-8")
    return [WriteFile(path, new, why="let the agent run extensions (backup is one)")]


# ---- fix --agent: the repairs above, in this order ---------------------------------------
@fix("agent", title="Repair the guest agent's setup", order=40,
     rules=("agent.extensions_enabled", "agent.disable_agent", "agent.service", "agent.version"))
def plan_agent(ctx, findings):
    """Extensions.Enabled=y, remove disable_agent, unmask/enable/start the unit, and update
    the package with the distro's own package manager (live only, cannot be undone)."""
    by_id = {f.id: f for f in findings}
    actions = _repair_extensions_enabled(ctx, by_id.get("agent.extensions_enabled"))
    actions += _repair_disable_agent(by_id.get("agent.disable_agent"))
    actions += _repair_service(ctx, by_id.get("agent.service"), restart=bool(actions))
    actions += _repair_version(ctx, by_id.get("agent.version"), planned=bool(actions))
    return actions


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
    path, conf = _conf_or_skip(ctx)
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
    effective = _effective_version(ctx)
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


def _effective_version(ctx) -> Optional[Tuple[Version, Version]]:
    """(installed, the agent that handles extensions), from the package or module; None
    when unknown."""
    _cli, pkgs, module, _ = installed_evidence(ctx)
    installed_v = parse_version(pkgs[0].version.split("-")[0]) if pkgs else None
    installed_v = installed_v or (module[1] if module else None)
    if installed_v is None:
        return None
    return installed_v, running_agent(ctx, installed_v)[0]
