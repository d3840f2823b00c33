"""The Azure Linux guest agent (WALinuxAgent): installed, recent enough, running, allowed to
run extensions, and configured sanely. Without it the backup extension never runs, and Azure
reports UserErrorGuestAgentStatusUnavailable or GuestAgentSnapshotTaskStatusError.
`fix --agent` repairs what agent.version, agent.service, agent.disable_agent and
agent.extensions_enabled find: each repair sits right below its rule. Whether the installed
agent works (its Python, heartbeat, log) is rules/agent_health.py; the file systems it works
on, rules/agent_disk.py; the rest of waagent.conf, rules/agent_conf.py. Which agent handles
extensions (the auto-updated agents on disk) is a shared fact: azbdiag/facts/agent.py."""

from __future__ import annotations

import posixpath
from typing import List, Optional

from azbdiag.engine import rule
from azbdiag.facts import (
    CLI_DIRS,
    CMD_TIMEOUT,
    CONF,
    PACKAGES,
    agent_cli,
    agent_conf_or_skip,
    agent_unit,
    expected_package,
    installed_evidence,
    link_target,
    require_agent,
    running_agent,
    update_argvs,
    waagent_conf,
    waagent_conf_path,
)
from azbdiag.fix import DeleteFile, RefuseFix, RunCommand, Symlink, WriteFile, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.agent_version import (
    MINIMUM_VERSION,
    below_minimum,
    parse_version,
)
from azbdiag.parsers.waagent_version import parse_version_output

LIB = "/var/lib/waagent"
DISABLE = "/var/lib/waagent/disable_agent"
AGENT_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
               "AzureVmOffline")


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

@rule("agent.extensions_enabled", "Extensions are enabled in waagent.conf",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      fix="agent", remedy="Set Extensions.Enabled=y in /etc/waagent.conf and restart the agent "
                          "(`sudo azbdiag fix --agent`).")
def extensions_enabled(ctx):
    """Extensions.Enabled=n stops every extension, the backup extension included."""
    path, conf = agent_conf_or_skip(ctx)
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
