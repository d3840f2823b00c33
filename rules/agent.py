"""The Azure Linux guest agent (WALinuxAgent): installed, recent enough, running, allowed to
run extensions, healthy, and with room to work. Without it the backup extension never runs,
and Azure reports UserErrorGuestAgentStatusUnavailable or GuestAgentSnapshotTaskStatusError.
The `fix --agent` planner sits at the end of this module."""

from __future__ import annotations

import datetime
import posixpath
import re
from typing import List, Optional

from azbdiag.engine import rule
from azbdiag.facts import mounts, mounts_source
from azbdiag.fixer import DeleteFile, RefuseFix, RunCommand, Symlink, WriteFile, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.agent_error import parse_error_json
from azbdiag.parsers.agent_version import (
    MINIMUM_VERSION,
    agent_dir_version,
    below_minimum,
    parse_version,
    version_py_version,
)
from azbdiag.parsers.df import parse_df
from azbdiag.parsers.dpkg_status import Package, parse_dpkg_status
from azbdiag.parsers.rpm_query import RPM_QUERYFORMAT, parse_rpm_query
from azbdiag.parsers.waagent_conf import parse_conf
from azbdiag.parsers.waagent_log import HEARTBEAT_MARK, classify, heartbeat_counters, parse_log
from azbdiag.parsers.waagent_version import parse_version_output

CONF = "/etc/waagent.conf"
CONF_PATHS = (CONF, "/usr/share/oem/waagent.conf", "/usr/share/defaults/waagent/waagent.conf")
LIB = "/var/lib/waagent"
LOG = "/var/log/waagent.log"
DISABLE = "/var/lib/waagent/disable_agent"
PACKAGES = ("walinuxagent", "waagent", "WALinuxAgent", "python-azure-agent")
CLI_DIRS = ("/usr/sbin", "/usr/bin", "/usr/share/oem/bin", "/usr/local/sbin", "/usr/local/bin",
            "/sbin", "/bin")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")
CMD_TIMEOUT = 10.0
AGENT_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
               "AzureVmOffline")
BOOL_KEYS = ("Extensions.Enabled", "AutoUpdate.Enabled", "AutoUpdate.UpdateToLatestVersion",
             "Extensions.WaitForCloudInit", "EnableOverProvisioning", "OS.EnableFirewall",
             "OS.AllowHTTP", "OS.EnableFIPS", "Logs.Verbose", "Logs.Console", "Logs.Collect",
             "ResourceDisk.Format", "ResourceDisk.EnableSwap", "Provisioning.DeleteRootPassword",
             "Provisioning.RegenerateSshHostKeyPair", "Provisioning.MonitorHostName",
             "Provisioning.DecodeCustomData", "Provisioning.ExecuteCustomData",
             "Provisioning.AllowResetSysUser")
REMOTE_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "ceph", "9p", "afs", "lustre",
             "gpfs", "beegfs", "davfs")


# ---- distro knowledge --------------------------------------------------------------------

def family(host) -> str:
    f = host.facts()
    ids = {f.distro_id.lower()} | set(f.distro_like.lower().split())
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"mariner", "azurelinux"}:
        return "azurelinux"
    if ids & {"sles", "suse", "opensuse", "opensuse-leap", "sles_sap"}:
        return "suse"
    if ids & {"rhel", "centos", "fedora", "ol", "almalinux", "rocky"}:
        return "rhel"
    return "other"


def expected_unit(host) -> str:
    return "walinuxagent.service" if family(host) == "debian" else "waagent.service"


def expected_package(host) -> str:
    fam = family(host)
    if fam == "debian":
        return "walinuxagent" if host.facts().distro_id.lower() == "ubuntu" else "waagent"
    return {"suse": "python-azure-agent"}.get(fam, "WALinuxAgent")


def update_argvs(host, package: str) -> List[List[str]]:
    """The distro's own package manager commands that update the agent package."""
    fam = family(host)
    if fam == "debian":
        return [["apt-get", "update"],
                ["apt-get", "install", "--only-upgrade", "-y", package]]
    if fam == "suse":
        return [["zypper", "--non-interactive", "update", package]]
    if fam == "azurelinux":
        return [["tdnf", "update", "-y", package]]
    if fam == "rhel":
        return [["yum", "update", "-y", package]]
    return []


def update_remedy(host, package: str) -> str:
    cmds = update_argvs(host, package)
    how = (" && ".join("sudo " + " ".join(c) for c in cmds) if cmds
           else f"your distribution's package manager (package {package})")
    return (f"Update the agent from the distribution's repository: {how}; keep "
            f"AutoUpdate.Enabled=y in {CONF} so the agent keeps itself current. Do not "
            f"install it from GitHub sources (`sudo azbdiag fix --agent` runs this on a live VM).")


# ---- facts -------------------------------------------------------------------------------

def conf_fact(host):
    """(path, parsed waagent.conf), or None when no configuration file exists."""
    for path in CONF_PATHS:
        if host.isfile(path):
            try:
                raw = host.read_bytes(path, limit=1024 * 1024)
            except OSError as exc:
                raise SkipRule(SkipReason.NO_INPUT, f"cannot read {path}: {exc.strerror}") from None
            return path, parse_conf(raw)
    return None


def cli_fact(host) -> Optional[str]:
    return host.which("waagent", dirs=CLI_DIRS)


def packages_fact(host) -> List[Package]:
    """Installed agent packages, from the dpkg status file under the root, or rpm."""
    found = []
    status = host.try_read_text("/var/lib/dpkg/status", limit=64 * 1024 * 1024)
    if status:
        found += [p for p in parse_dpkg_status(status, PACKAGES).values() if p.installed]
    if any(host.isdir(d) for d in ("/var/lib/rpm", "/usr/lib/sysimage/rpm")):
        argv = ["rpm"] + ([] if host.live else ["--root", host.root])
        res = host.run(argv + ["-q", "--qf", RPM_QUERYFORMAT, *PACKAGES], timeout=CMD_TIMEOUT)
        if res.rc is not None and not res.timed_out:
            found += [p for p in parse_rpm_query(res.stdout).values() if p.installed]
    return found


def module_fact(host):
    """(guest path of azurelinuxagent/common/version.py, its AGENT_VERSION) or None."""
    bases = []
    for lib in ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/share/oem/python/lib64"):
        for py in host.glob(lib, "python*"):
            bases += [posixpath.join(py, "dist-packages"), posixpath.join(py, "site-packages")]
    for base in bases:
        path = posixpath.join(base, "azurelinuxagent/common/version.py")
        if host.isfile(path):
            return path, version_py_version(host.try_read_text(path, limit=256 * 1024))
    return None


def version_cmd_fact(host):
    """Live: `waagent --version` (safe as non-root: it constructs nothing)."""
    cli = cli_fact(host)
    if not host.live or cli is None:
        return None
    res = host.run([cli, "--version"], timeout=CMD_TIMEOUT)
    if res.timed_out:
        raise CheckError(f"{cli} --version did not finish within {CMD_TIMEOUT:g} s")
    return res, parse_version_output(res.stdout + "\n" + res.stderr)


def agent_dirs_fact(host):
    """Auto-updated agents under /var/lib/waagent: [(version, dir, AgentError or None)]."""
    out = []
    for path in host.glob(LIB, "WALinuxAgent-*"):
        version = agent_dir_version(posixpath.basename(path))
        if version is None or not host.isdir(path):
            continue
        text = host.try_read_text(posixpath.join(path, "error.json"), limit=64 * 1024)
        out.append((version, path, parse_error_json(text) if text is not None else None))
    return sorted(out, key=lambda t: t[0].key())


def unit_fact(host):
    """The agent's systemd unit: name, guest path of its file (or None), WantedBy."""
    names = [expected_unit(host)]
    names += [n for n in ("walinuxagent.service", "waagent.service") if n not in names]
    for name in names:
        for d in UNIT_DIRS:
            path = posixpath.join(d, name)
            if host.islink(path) and _link_target(host, path) == "/dev/null":
                continue        # a mask, not the unit
            if host.isfile(path):
                text = host.try_read_text(path, limit=256 * 1024) or ""
                wanted = re.findall(r"^\s*WantedBy\s*=\s*(.+)$", text, re.MULTILINE)
                exec_start = re.findall(r"^\s*ExecStart\s*=\s*(.+)$", text, re.MULTILINE)
                return {"name": name, "path": path,
                        "wanted_by": (wanted[0].split() if wanted else ["multi-user.target"]),
                        "exec_start": exec_start[-1].strip() if exec_start else ""}
    return {"name": names[0], "path": None, "wanted_by": ["multi-user.target"], "exec_start": ""}


def _link_target(host, path: str) -> str:
    try:
        return host.readlink(path)
    except OSError:
        return ""


def log_fact(host):
    if not host.isfile(LOG):
        return None
    try:
        text = host.read_tail(LOG, 2 * 1024 * 1024)
    except OSError as exc:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {LOG}: {exc.strerror}") from None
    return parse_log(text)


def _installed_evidence(ctx):
    cli = ctx.fact(cli_fact)
    pkgs = ctx.fact(packages_fact)
    module = ctx.fact(module_fact)
    evidence = []
    if cli:
        evidence.append(f"command: {cli}")
    evidence += [f"package: {p.name} {p.version} ({p.source})" for p in pkgs]
    if module:
        evidence.append(f"module: {posixpath.dirname(posixpath.dirname(module[0]))}"
                        + (f" (AGENT_VERSION {module[1]})" if module[1] else ""))
    return cli, pkgs, module, evidence


def _require_agent(ctx):
    cli, pkgs, module, _ = _installed_evidence(ctx)
    if not (cli or pkgs or module):
        raise SkipRule(SkipReason.NOT_APPLICABLE, "the guest agent is not installed (see agent.installed)")


# ---- rules -------------------------------------------------------------------------------

@rule("agent.installed", "The Azure Linux guest agent is installed", error_codes=AGENT_CODES,
      timeout=30, remedy="Install the agent from the distribution's repository (package walinuxagent on "
             "Ubuntu, waagent on Debian, WALinuxAgent on RHEL-family and Azure Linux, "
             "python-azure-agent on SUSE) and enable its service.")
def installed(ctx):
    """The waagent command, the azurelinuxagent module and the distro package."""
    if not ctx.host.live and not (ctx.host.isdir("/usr") or ctx.host.isdir("/etc")):
        raise SkipRule(SkipReason.NO_INPUT, "the root has neither /usr nor /etc")
    cli, pkgs, module, evidence = _installed_evidence(ctx)
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


@rule("agent.version", "The guest agent is at least the supported minimum",
      error_codes=AGENT_CODES + ("ExtensionOperationFailedForManagedDisks",), fix="agent",
      timeout=30, remedy=f"Update the agent to {MINIMUM_VERSION} or later from the distribution's "
             f"repository and keep auto-update on.")
def version(ctx):
    """Installed and goal-state (auto-updated) versions against 2.2.53.1."""
    _require_agent(ctx)
    host = ctx.host
    _cli, pkgs, module, _ = _installed_evidence(ctx)
    evidence = []
    installed_v = None
    cmd = ctx.fact(version_cmd_fact)
    goal = None
    if cmd is not None:
        res, parsed = cmd
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
    conf = ctx.fact(conf_fact)
    auto = True
    if conf is not None:
        auto_new, how_new = conf[1].switch("AutoUpdate.UpdateToLatestVersion", True)
        auto_old, how_old = conf[1].switch("AutoUpdate.Enabled", True)
        auto = auto_new if how_new == "set" else auto_old
    usable = []
    for v, path, err in ctx.fact(agent_dirs_fact):
        if err is not None and err.blacklisted:
            evidence.append(f"{path}: blacklisted by the agent ({err.reason or 'error.json'})")
        else:
            usable.append(v)
            evidence.append(f"{path}: auto-updated agent {v}")
    candidates = [installed_v] + ([goal] if goal else [])
    if auto and usable:
        candidates.append(usable[-1])
    effective = max(candidates, key=lambda v: v.key())
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
                    f"auto-updated agent {effective} covers it while auto-update stays on",
                    evidence, **data)
    return ok(f"agent {effective} (installed {installed_v}) meets the minimum "
              f"{MINIMUM_VERSION}", evidence, **data)


def _offline_enabled(host, unit) -> List[str]:
    links = []
    for base in ("/etc/systemd/system",):
        for wants in host.glob(base, "*.wants"):
            p = posixpath.join(wants, unit["name"])
            if host.islink(p) or host.exists(p):
                links.append(p)
    return links


def _masked(host, name) -> Optional[str]:
    for d in ("/etc/systemd/system", "/run/systemd/system"):
        p = posixpath.join(d, name)
        if host.islink(p) and _link_target(host, p) == "/dev/null":
            return p
    return None


@rule("agent.service", "The agent's service is enabled and running", error_codes=AGENT_CODES,
      fix="agent", timeout=40, remedy="Enable and start the agent: `sudo systemctl enable --now <unit>` "
                          "(`sudo azbdiag fix --agent`).")
def service(ctx):
    """Live: systemctl is-active/is-enabled; offline: the enablement links under the root."""
    _require_agent(ctx)
    host = ctx.host
    unit = ctx.fact(unit_fact)
    name = unit["name"]
    conf = ctx.fact(conf_fact)
    evidence = [f"unit file: {unit['path']}" if unit["path"] else f"no unit file {name}"]
    if conf is None:
        evidence.append(f"no {CONF}: the unit's ConditionPathExists skips the start silently")
    masked = _masked(host, name)
    data = dict(unit=name, unit_path=unit["path"], wanted_by=unit["wanted_by"], masked=masked)
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
    if unit["path"] is None:
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


def _interpreter(ctx) -> Optional[List[str]]:
    """The argv prefix of the Python that runs the agent: the unit's ExecStart, else the
    waagent script's shebang."""
    unit = ctx.fact(unit_fact)
    words = unit["exec_start"].lstrip("-@:+!").split()
    if words and "python" in posixpath.basename(words[0]):
        return [words[0]]
    cli = ctx.fact(cli_fact)
    if cli is None:
        return None
    head = (ctx.host.try_read_text(cli, limit=256) or "").splitlines()
    if not head or not head[0].startswith("#!"):
        return None
    shebang = head[0][2:].split()
    if not shebang:
        return None
    if posixpath.basename(shebang[0]) == "env" and len(shebang) > 1:
        return shebang[:2]
    return shebang[:1]


@rule("agent.python_import", "The agent's Python can import azurelinuxagent",
      error_codes=AGENT_CODES, live_only=True,
      remedy="Reinstall the agent package from the distribution so that its interpreter and "
             "module match, or point the unit's ExecStart at the Python that has the module "
             "(a systemd drop-in).")
def python_import(ctx):
    """A Python upgrade or a hand-installed agent can leave the service's interpreter
    without the azurelinuxagent module: the daemon then dies at start."""
    _require_agent(ctx)
    argv = _interpreter(ctx)
    if argv is None:
        raise SkipRule(SkipReason.NO_INPUT, "cannot tell which Python runs the agent")
    res = ctx.host.run(argv + ["-c", "import azurelinuxagent.agent"], timeout=CMD_TIMEOUT)
    shown = " ".join(argv)
    if res.timed_out:
        raise CheckError(f"{shown} did not finish within {CMD_TIMEOUT:g} s")
    if res.not_found:
        return fail(f"the agent's interpreter {shown} does not exist", [shown])
    if res.rc != 0:
        last = (res.stderr.strip().splitlines() or [f"exit {res.rc}"])[-1]
        return fail(f"{shown} cannot import azurelinuxagent: the agent cannot start",
                    [last[:300]])
    return ok(f"{shown} imports azurelinuxagent")


def _aware(when: datetime.datetime) -> datetime.datetime:
    return when if when.tzinfo is not None else when.astimezone()


def _reference_time(ctx, lines):
    """Now (live, or options['now'] in tests), or the time of the log's last line offline."""
    if ctx.options.get("now") is not None:
        return _aware(ctx.options["now"]), "now"
    if ctx.host.live:
        return datetime.datetime.now(datetime.timezone.utc), "now"
    stamped = [ln.when for ln in lines if ln.when is not None]
    if not stamped:
        return None, ""
    return _aware(stamped[-1]), "the end of the log"


def _age(delta: datetime.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


HEARTBEAT_LIMIT = datetime.timedelta(minutes=35)


@rule("agent.heartbeat", "The agent logged a heartbeat recently", error_codes=AGENT_CODES,
      remedy="Restart the agent (`sudo systemctl restart <unit>`) and read /var/log/waagent.log "
             "for why its extension handler stopped.")
def heartbeat(ctx):
    """The extension handler logs [HEARTBEAT] every 30 minutes while it works."""
    lines = ctx.fact(log_fact)
    if lines is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no {LOG}")
    if not lines:
        return warn(f"{LOG} has no agent log lines")
    ref, what = _reference_time(ctx, lines)
    beats = [ln for ln in lines if HEARTBEAT_MARK in ln.message and ln.when is not None]
    if not beats:
        return warn(f"no heartbeat in the last {len(lines)} lines of {LOG}: the extension "
                    f"handler is not running, or the agent is too old to log one",
                    [lines[-1].raw[:300]])
    last = beats[-1]
    evidence = [f"line {last.number}: {last.raw[:300]}"]
    counters = heartbeat_counters(last.message)
    age = ref - _aware(last.when) if ref is not None else datetime.timedelta(0)
    if age > HEARTBEAT_LIMIT:
        return fail(f"the last heartbeat is {_age(age)} older than {what}: the extension "
                    f"handler has stopped working", evidence)
    errors = counters.get("UpdateGSErrors", "0")
    if errors.isdigit() and int(errors) > 0:
        return warn(f"heartbeat is recent, but the agent counts {errors} goal state update "
                    f"error(s)", evidence)
    return ok(f"last heartbeat {_age(max(age, datetime.timedelta(0)))} before {what}", evidence)


@rule("agent.log_errors", "No recent agent errors in waagent.log", error_codes=AGENT_CODES + (
      "ExtensionSnapshotFailedNoNetwork",),
      remedy="Read the lines shown; the matching azbdiag rule (connectivity, noexec, service, "
             "version) names the cause.")
def log_errors(ctx):
    """ERROR lines and known problem messages of the last 24 hours, grouped."""
    lines = ctx.fact(log_fact)
    if lines is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no {LOG}")
    ref, what = _reference_time(ctx, lines)
    since = ref - datetime.timedelta(hours=24) if ref is not None else None
    groups = {}
    for ln in lines:
        if ln.when is None or (since is not None and _aware(ln.when) < since):
            continue
        kind = classify(ln.message)
        if kind is None and ln.level != "ERROR":
            continue
        if kind is None:
            kind = "error: " + re.sub(r"\d+", "N", ln.message)[:80]
        count, _first, _last = groups.get(kind, (0, ln, ln))
        groups[kind] = (count + 1, _first, ln)
    if not groups:
        return ok(f"no errors in the 24 hours before {what or 'the end of the log'}")
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])
    evidence = [f"{count}x {kind}; last, line {last.number}: {last.raw[:240]}"
                for kind, (count, _f, last) in ranked[:8]]
    return warn(f"{sum(g[0] for g in groups.values())} error line(s) in the 24 hours before "
                f"{what}: {', '.join(k for k, _ in ranked[:3])}", evidence)


def _conf_or_skip(ctx):
    conf = ctx.fact(conf_fact)
    if conf is None:
        _require_agent(ctx)
        raise SkipRule(SkipReason.NO_INPUT, f"no {CONF}")
    return conf


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


@rule("agent.conf", "waagent.conf settings that matter for backup",
      error_codes=("GuestAgentSnapshotTaskStatusError", "ExtensionSnapshotFailedNoNetwork"),
      remedy="Use only y or n for on/off settings; keep AutoUpdate.Enabled=y; keep "
             "Provisioning.Agent=auto unless you know the image needs otherwise.")
def conf_settings(ctx):
    """Invalid booleans, auto-update, Provisioning.Agent and HttpProxy.* as evidence."""
    path, conf = _conf_or_skip(ctx)
    problems, evidence = [], []
    if conf.empty:
        return fail(f"{path} is empty: the agent refuses to start with an empty configuration")
    for key in BOOL_KEYS:
        _v, how = conf.switch(key, False)
        if how == "invalid":
            problems.append(f"line {conf.line_of(key)}: {key}={conf.get(key)} is silently "
                            f"ignored (only y or n count), so the default applies")
    for key, numbers in conf.duplicates.items():
        evidence.append(f"{key} is set on lines {', '.join(map(str, numbers))}; the last wins")
    for number in conf.ignored_lines:
        problems.append(f"line {number}: {conf.lines[number - 1].strip()!r} has no '=', the "
                        f"agent ignores it")
    auto_new, how_new = conf.switch("AutoUpdate.UpdateToLatestVersion", True)
    auto_old, _ = conf.switch("AutoUpdate.Enabled", True)
    auto = auto_new if how_new == "set" else auto_old
    if not auto:
        problems.append("auto-update is off (AutoUpdate.Enabled/UpdateToLatestVersion=n): the "
                        "agent stays at the package version")
    prov = conf.get("Provisioning.Agent")
    if prov is not None:
        evidence.append(f"Provisioning.Agent={prov}")
        if prov.lower() not in ("auto", "waagent", "cloud-init", "disabled"):
            problems.append(f"Provisioning.Agent={prov} is not auto, waagent, cloud-init or "
                            f"disabled")
    for key in ("HttpProxy.Host", "HttpProxy.Port"):
        if conf.get(key) is not None:
            evidence.append(f"{key}={conf.get(key)} (used by the agent only, never for the "
                            f"WireServer, and not passed to extensions)")
    if problems:
        return warn(f"{len(problems)} setting(s) in {path} do not do what they seem to",
                    problems + evidence, conf_path=path)
    return ok(f"{path}: settings are valid", evidence, conf_path=path)


def _covering_mount(ctx, path: str):
    try:
        table = ctx.fact(mounts)
    except SkipRule:
        return None
    best = None
    for m in table:
        mp = m.mount_point.rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/") or mp == "/":
            if best is None or len(mp) > len(best.mount_point.rstrip("/") or "/"):
                best = m
    return best


@rule("agent.noexec", "/var/lib/waagent is not on a noexec mount",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      remedy="Remove noexec from the mount options of the file system holding /var/lib/waagent "
             "(often /var) in /etc/fstab and remount it.")
def noexec(ctx):
    """Extensions run their scripts from /var/lib/waagent; noexec makes them exit 126."""
    m = _covering_mount(ctx, LIB)
    if m is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no mount table entry covers {LIB}")
    where = f"{m.mount_point} ({m.fstype}, {','.join(m.options)}) in the {mounts_source(ctx.host)}"
    if "noexec" in m.options:
        return fail(f"{LIB} is on {m.mount_point}, mounted noexec: extension scripts fail with "
                    f"exit code 126", [where], mount_point=m.mount_point)
    return ok(f"{LIB} is on {m.mount_point}, which allows execution", [where])


SPACE_WARN_KIB, SPACE_FAIL_KIB = 500 * 1024, 50 * 1024


@rule("agent.disk_space", "The root, /var/lib/waagent and /var/log have free space and inodes",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      remedy="Free space on the file systems of /, /var/lib/waagent and /var/log (old "
             "WALinuxAgent-*.zip and log archives are safe to remove).", timeout=45)
def disk_space(ctx):
    """`df -P` (run as a child with a timeout) on /, /var/lib/waagent and /var/log, each
    file system once; remote file systems are never touched."""
    host = ctx.host
    findings, evidence, worst = [], [], ok
    checked = 0
    measured = set()
    for path in ("/", LIB, "/var/log"):
        if not host.isdir(path):
            continue
        m = _covering_mount(ctx, path)
        if m is not None and (m.fstype in REMOTE_FS or m.fstype.startswith("fuse")):
            evidence.append(f"{path}: on {m.fstype} {m.mount_point}, not measured (remote)")
            continue
        real = host.path(path)
        space = host.run(["df", "-P", "-k", real], timeout=CMD_TIMEOUT)
        inodes = host.run(["df", "-P", "-i", real], timeout=CMD_TIMEOUT)
        if space.timed_out or inodes.timed_out:
            findings.append(f"{path}: df did not answer within {CMD_TIMEOUT:g} s (hung mount?)")
            worst = warn if worst is ok else worst
            continue
        row, irow = parse_df(space.stdout), parse_df(inodes.stdout)
        if row is None:
            evidence.append(f"{path}: cannot read df output ({space.describe()})")
            continue
        checked += 1
        if (row.filesystem, row.mount_point) in measured:
            continue
        measured.add((row.filesystem, row.mount_point))
        evidence.append(f"{path}: {row.free // 1024} MiB free of {row.total // 1024} MiB "
                        f"({row.percent}% used)"
                        + (f", {irow.free} inodes free ({irow.percent}% used)"
                           if irow and irow.percent is not None else ""))
        if row.free < SPACE_FAIL_KIB or (irow and irow.total and irow.free < 1000):
            findings.append(f"{path}: almost no free space or inodes left")
            worst = fail
        elif row.free < SPACE_WARN_KIB or (row.percent or 0) >= 95 or (
                irow and (irow.percent or 0) >= 95):
            findings.append(f"{path}: running low on space or inodes")
            worst = warn if worst is ok else worst
    if not checked and not findings:
        raise SkipRule(SkipReason.NO_INPUT, "nothing measurable (" + "; ".join(evidence) + ")"
                       if evidence else "no /var/lib/waagent or /var/log")
    if worst is ok:
        return ok("enough free space and inodes", evidence)
    return worst("; ".join(findings), evidence)


# ---- fix --agent -------------------------------------------------------------------------

@fix("agent", title="Repair the guest agent's setup", order=40,
     rules=("agent.extensions_enabled", "agent.disable_agent", "agent.service", "agent.version"))
def plan_agent(ctx, findings):
    """Extensions.Enabled=y, remove disable_agent, unmask/enable/start the unit, and update
    the package with the distro's own package manager (live only, cannot be undone)."""
    host = ctx.host
    by_id = {f.id: f for f in findings}
    actions = []
    changed = False
    ext = by_id.get("agent.extensions_enabled")
    if ext is not None:
        conf = ctx.fact(conf_fact)
        if conf is None:
            raise RefuseFix(f"{CONF} disappeared since the check")
        path, parsed = conf
        new = parsed.with_value("Extensions.Enabled", "y").encode("utf-8")
        actions.append(WriteFile(path, new, why="let the agent run extensions (backup is one)"))
        changed = True
    if "agent.disable_agent" in by_id:
        actions.append(DeleteFile(DISABLE, why="the agent idles forever while this file exists"))
        changed = True
    svc = by_id.get("agent.service")
    unit = ctx.fact(unit_fact)
    name = unit["name"]
    if host.live:
        data = svc.data if svc is not None else {}
        if data.get("masked"):
            actions.append(RunCommand(["systemctl", "unmask", name], why=f"{name} is masked",
                                      undo_argv=["systemctl", "mask", name]))
        if svc is not None and not data.get("enabled"):
            actions.append(RunCommand(["systemctl", "enable", name], why="start it at boot",
                                      undo_argv=["systemctl", "disable", name]))
        if svc is not None and not data.get("active"):
            actions.append(RunCommand(["systemctl", "start", name], why="run the agent now",
                                      undo_argv=["systemctl", "stop", name]))
        elif changed:
            actions.append(RunCommand(["systemctl", "restart", name],
                                      why="the running agent reads its settings at start"))
    elif svc is not None:
        if svc.data.get("masked"):
            actions.append(DeleteFile(svc.data["masked"], why=f"unmask {name}"))
        if not svc.data.get("enabled") and unit["path"]:
            for target in unit["wanted_by"][:1]:
                actions.append(Symlink(f"/etc/systemd/system/{target}.wants/{name}", unit["path"],
                                       why=f"enable {name} at boot (as systemctl enable does)"))
        elif not unit["path"]:
            raise RefuseFix(f"no {name} unit file on this disk: reinstall the agent package")
    ver = by_id.get("agent.version")
    if ver is not None and ver.status.value == "fail":
        argvs = update_argvs(host, ver.data.get("package") or expected_package(host))
        if host.live and argvs:
            for argv in argvs:
                actions.append(RunCommand(argv, timeout=600.0,
                                          why="update the agent from the distribution's "
                                              "repository"))
        elif not actions and host.live:
            raise RefuseFix("no known package manager for this distribution: update the agent "
                            "package by hand from the distribution's repository")
        elif not actions:
            raise RefuseFix("updating the agent needs the live VM and its package manager: "
                            "boot it and run `sudo azbdiag fix --agent`")
    return actions
