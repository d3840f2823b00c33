"""The guest agent as installed: its command, packages and Python module, its configuration
file and its systemd unit, found the way the agent and systemd find them."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import List, Optional, Tuple

from azbdiag.facts.distro import expected_unit
from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.agent_version import version_py_version
from azbdiag.parsers.dpkg_status import Package, parse_dpkg_status
from azbdiag.parsers.rpm_query import RPM_QUERYFORMAT, parse_rpm_query
from azbdiag.parsers.systemd_unit import parse_unit_file
from azbdiag.parsers.waagent_conf import WaagentConf, parse_conf

CONF = "/etc/waagent.conf"
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
    dbpath = rpm_dbpath(host)
    if dbpath is not None:
        # Offline, the rescue VM's rpm would read its own %_dbpath (Debian's rpm: ~/.rpmdb)
        # under --root: name the root's database explicitly (agent Correction 5).
        argv = ["rpm"] + ([] if host.live else ["--root", host.root, "--dbpath", dbpath])
        res = host.run(argv + ["-q", "--qf", RPM_QUERYFORMAT, *PACKAGES], timeout=CMD_TIMEOUT)
        if res.rc is not None and not res.timed_out:
            found += [p for p in parse_rpm_query(res.stdout).values() if p.installed]
    return found


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
