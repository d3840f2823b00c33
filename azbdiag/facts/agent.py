"""The guest agent as installed: its command, packages and Python module, its configuration
file and its systemd unit, found the way the agent and systemd find them."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import List, Optional, Tuple

from azbdiag.facts.distro import expected_unit, family
from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.agent_error import AgentError, parse_error_json
from azbdiag.parsers.agent_manifest import parse_agent_manifest
from azbdiag.parsers.agent_version import (
    Version,
    agent_dir_version,
    parse_version,
    version_py_version,
)
from azbdiag.parsers.dpkg_status import Package, parse_dpkg_status
from azbdiag.parsers.rpm_query import RPM_QUERYFORMAT, parse_rpm_query
from azbdiag.parsers.systemd_unit import parse_unit_file
from azbdiag.parsers.waagent_conf import WaagentConf, parse_conf

CONF = "/etc/waagent.conf"
LIB = "/var/lib/waagent"
PACKAGES = ("walinuxagent", "waagent", "WALinuxAgent", "python-azure-agent")
CLI_DIRS = ("/usr/sbin", "/usr/bin", "/usr/share/oem/bin", "/usr/local/sbin", "/usr/local/bin",
            "/sbin", "/bin")
CMD_TIMEOUT = 10.0
CONF_PATHS = (CONF, "/usr/share/oem/waagent.conf", "/usr/share/defaults/waagent/waagent.conf")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")


# ---- is it installed: the command, the packages, the Python module ------------------------
def agent_cli(host) -> Optional[str]:
    """The waagent command, found where distributions install it (None: not installed)."""
    return host.which("waagent", dirs=CLI_DIRS)


def agent_packages(host) -> List[Package]:
    """Installed agent packages, from the dpkg status file under the root, or rpm."""
    found = []
    status = host.try_read_text("/var/lib/dpkg/status", limit=64 * 1024 * 1024)
    if status:
        found += [p for p in parse_dpkg_status(status, PACKAGES).values() if p.installed]
    dbpath = rpm_dbpath(host) if _rpm_system(host, bool(status)) else None
    if dbpath is not None:
        # Offline, the rescue VM's rpm would read its own %_dbpath (Debian's rpm: ~/.rpmdb)
        # under --root: name the root's database explicitly (agent Correction 5).
        argv = ["rpm"] + ([] if host.live else ["--root", host.root, "--dbpath", dbpath])
        res = host.run(argv + ["-q", "--qf", RPM_QUERYFORMAT, *PACKAGES], timeout=CMD_TIMEOUT)
        if res.rc is not None and not res.timed_out:
            found += [p for p in parse_rpm_query(res.stdout).values() if p.installed]
    return found


def _rpm_system(host, has_dpkg: bool) -> bool:
    """Whether the root's packages are managed by rpm, from its distribution (os-release):
    Debian and Ubuntu ship an rpm database directory too, which a query would only waste a
    process on. A distribution azbdiag does not know is an rpm system when it has no dpkg
    status file."""
    fam = family(host)
    if fam in ("rhel", "suse", "azurelinux"):
        return True
    return fam == "other" and not has_dpkg


RPM_DB_DIRS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
RPM_DB_FILES = ("rpmdb.sqlite", "Packages.db", "Packages")


def rpm_dbpath(host) -> Optional[str]:
    """The root's rpm database directory as a guest path with its links resolved inside the
    root (SLES and Fedora 36+ keep it in /usr/lib/sysimage/rpm, /var/lib/rpm being a link to
    it; RHEL and Azure Linux in /var/lib/rpm), or None when the root has none."""
    found = None
    for d in RPM_DB_DIRS:
        try:
            real = host.path(d)
        except OSError:           # a link loop
            continue
        guest = real if host.root == "/" else "/" + os.path.relpath(real, host.root).lstrip("./")
        if not host.isdir(guest):
            continue
        if any(host.isfile(posixpath.join(guest, f)) for f in RPM_DB_FILES):
            return guest
        found = found or guest
    return found


def agent_module(host):
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


def installed_evidence(ctx):
    """(waagent command, packages, module, evidence lines) of the installed agent."""
    cli = ctx.fact(agent_cli)
    pkgs = ctx.fact(agent_packages)
    module = ctx.fact(agent_module)
    evidence = []
    if cli:
        evidence.append(f"command: {cli}")
    evidence += [f"package: {p.name} {p.version} ({p.source})" for p in pkgs]
    if module:
        evidence.append(f"module: {posixpath.dirname(posixpath.dirname(module[0]))}"
                        + (f" (AGENT_VERSION {module[1]})" if module[1] else ""))
    return cli, pkgs, module, evidence


def agent_interpreter(ctx) -> Optional[List[str]]:
    """The argv prefix of the Python that runs the agent: the unit's ExecStart, else the
    waagent script's #! line (None when neither says)."""
    words = ctx.fact(agent_unit).exec_start.lstrip("-@:+!").split()
    if words and "python" in posixpath.basename(words[0]):
        return [words[0]]
    cli = ctx.fact(agent_cli)
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


def require_agent(ctx) -> None:
    """Skip the rule as not applicable when no part of the agent is installed."""
    cli, pkgs, module, _ = installed_evidence(ctx)
    if not (cli or pkgs or module):
        raise SkipRule(SkipReason.NOT_APPLICABLE, "the guest agent is not installed (see agent.installed)")



# ---- waagent.conf ------------------------------------------------------------------------
def _first_conf(host) -> Optional[str]:
    return next((p for p in CONF_PATHS if host.isfile(p)), None)


def waagent_conf_path(host) -> Optional[str]:
    """The waagent.conf the agent reads, or None when there is none (an answer: the agent's
    unit does not even start without it)."""
    return _first_conf(host)


def waagent_conf(host) -> Tuple[str, WaagentConf]:
    """(path, parsed waagent.conf)."""
    path = _first_conf(host)
    if path is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no {CONF}")
    try:
        raw = host.read_bytes(path, limit=1024 * 1024)
    except OSError as exc:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {path}: {exc.strerror}") from None
    return path, parse_conf(raw)


def link_target(host, path: str) -> str:
    """Where the symlink `path` points ("" when it cannot be read)."""
    try:
        return host.readlink(path)
    except OSError:
        return ""


@dataclasses.dataclass
class AgentUnit:
    """The guest agent's systemd unit: its name, its file and what enables and starts it."""
    name: str
    path: Optional[str]          # guest path of the unit file, None when there is none
    wanted_by: List[str]
    exec_start: str


def agent_unit(host) -> AgentUnit:
    """The agent's systemd unit: the distribution's name first, then the other one; a link
    to /dev/null is a mask, not the unit."""
    names = [expected_unit(host)]
    names += [n for n in ("walinuxagent.service", "waagent.service") if n not in names]
    for name in names:
        for d in UNIT_DIRS:
            path = posixpath.join(d, name)
            if host.islink(path) and link_target(host, path) == "/dev/null":
                continue
            if host.isfile(path):
                unit = parse_unit_file(host.try_read_text(path, limit=256 * 1024) or "")
                return AgentUnit(name, path, unit.wanted_by, unit.exec_start)
    return AgentUnit(names[0], None, ["multi-user.target"], "")


def agent_conf_or_skip(ctx):
    """(path, parsed waagent.conf); without the file, skipped as not applicable when the agent
    is not installed at all, else for the missing input."""
    if ctx.fact(waagent_conf_path) is None:
        require_agent(ctx)
    return ctx.fact(waagent_conf)


# ---- the agent that handles extensions (the auto-updated agents on disk) ------------------
@dataclasses.dataclass
class AgentDir:
    """One auto-updated agent under /var/lib/waagent (WALinuxAgent-<version>) and whether the
    agent would still use it."""
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


def installed_and_running(ctx) -> Optional[Tuple[Version, Version]]:
    """(the installed agent's version, the agent that handles extensions) from the package
    or the module offline; None when the installed version is unknown."""
    _cli, pkgs, module, _ = installed_evidence(ctx)
    installed_v = parse_version(pkgs[0].version.split("-")[0]) if pkgs else None
    installed_v = installed_v or (module[1] if module else None)
    if installed_v is None:
        return None
    return installed_v, running_agent(ctx, installed_v)[0]
