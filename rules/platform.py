"""Platform and resources: can the guest reach the WireServer, is a proxy in the way, is the
OS one Azure VM backup supports, is the VM starved of CPU or memory, and is another backup or
replication product present."""

from __future__ import annotations

import json
import os
import posixpath
import re
from typing import Dict, List, Optional, Tuple

from azbdiag import netprobe
from azbdiag.engine import rule
from azbdiag.facts import agent_unit, asr_present, processes, waagent_conf, waagent_conf_path
from azbdiag.host import Unreadable
from azbdiag.model import SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.proc import (
    parse_cpu_count,
    parse_cpu_line,
    parse_loadavg,
    parse_meminfo,
    parse_pressure,
)
from azbdiag.parsers.proxy_env import proxy_settings

NET_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
             "ExtensionSnapshotFailedNoNetwork", "AzureVmOffline")
DATA = os.path.join(os.path.dirname(os.path.abspath(netprobe.__file__)), "data",
                    "supported_distros.json")


# ---- connectivity ------------------------------------------------------------------------

@rule("platform.wireserver", "The WireServer answers on TCP 80 and 32526",
      error_codes=NET_CODES, azure_only=True, needs_root=True, live_only=True, timeout=20,
      remedy="Allow outbound TCP 80 and 32526 to 168.63.129.16 in the guest firewall "
             "(iptables/nftables/firewalld) and in any user-defined route or appliance; the "
             "agent's own rules let root through and drop other users, which is expected.")
def wireserver(ctx):
    """A plain TCP connect as root (no proxy) to each WireServer port, with a short timeout."""
    endpoints = netprobe.wireserver_endpoints(ctx.options.get("wireserver"))
    timeout = float(ctx.options.get("probe_timeout", netprobe.DEFAULT_TIMEOUT))
    probes = netprobe.probe_all(endpoints, timeout)
    evidence = [p.describe() for p in probes]
    bad = [p for p in probes if not p.ok]
    if bad:
        where = ", ".join(f"{p.host}:{p.port}" for p in bad)
        return fail(f"cannot connect to {where}: the agent cannot fetch its goal state or "
                    f"report status, so backups cannot start", evidence)
    return ok("the WireServer accepts connections on every port probed", evidence)


def _proxy_sources(ctx) -> List[Tuple[str, Dict[str, str]]]:
    host = ctx.host
    unit = ctx.fact(agent_unit).name
    paths = ["/etc/environment", "/etc/systemd/system.conf"]
    for d in ("/etc/systemd/system", "/run/systemd/system"):
        paths += host.glob(posixpath.join(d, unit + ".d"), "*.conf")
    found = []
    for path in paths:
        settings = proxy_settings(host.try_read_text(path, limit=256 * 1024) or "")
        if settings:
            found.append((path, settings))
    if host.live:
        found += _agent_process_env(host, ctx.fact(processes))
    return found


def _agent_process_env(host, table) -> List[Tuple[str, Dict[str, str]]]:
    """Proxy variables in the environment of the running agent (root can read it): what
    the agent really passes on to the extensions it starts."""
    out = []
    for p in table:
        pid, argv, joined = p.pid, p.argv, p.cmdline
        if not (("waagent" in joined or "WALinuxAgent" in joined)
                and ("-daemon" in argv or "-run-exthandlers" in argv)):
            continue
        env = host.try_read_text(f"/proc/{pid}/environ", 256 * 1024)
        if env is None:
            continue
        settings = proxy_settings("\n".join(env.split("\0")))
        if settings:
            out.append((f"the running agent (pid {pid})", settings))
    return out


def _bypasses(no_proxy: str, address: str) -> bool:
    entries = [e.strip() for e in no_proxy.split(",") if e.strip()]
    return "*" in entries or address in entries or any(
        e.endswith("/16") and address.startswith(e.split("/")[0].rsplit(".", 2)[0] + ".")
        for e in entries)


@rule("platform.proxy", "No proxy setting captures the WireServer traffic",
      error_codes=("ExtensionSnapshotFailedNoNetwork", "UserErrorGuestAgentStatusUnavailable"),
      remedy="Add no_proxy=168.63.129.16,169.254.169.254 next to every http_proxy/https_proxy "
             "the agent and its extensions inherit, and let the proxy reach Azure storage "
             "(*.blob.core.windows.net) for the backup's fallback upload.")
def proxy(ctx):
    """Proxy variables in /etc/environment, systemd's DefaultEnvironment, the agent unit's
    drop-ins and (live, as root) the running agent's environment, and HttpProxy.* in
    waagent.conf, reported as evidence."""
    sources = _proxy_sources(ctx)
    evidence = []
    if ctx.fact(waagent_conf_path):
        path, conf = ctx.fact(waagent_conf)
        for key in ("HttpProxy.Host", "HttpProxy.Port"):
            if conf.get(key) is not None:
                evidence.append(f"{path} line {conf.line_of(key)}: {key}={conf.get(key)} "
                                f"(agent downloads only; extensions do not get it)")
    risky = []
    for where, settings in sources:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        evidence.append(f"{where}: {shown}")
        proxies = [k for k in settings if k != "no_proxy" and settings[k]]
        if proxies and not _bypasses(settings.get("no_proxy", ""), netprobe.WIRESERVER):
            risky.append(where)
    if risky:
        return warn("a proxy is set without no_proxy for 168.63.129.16 in "
                    + "; ".join(risky) + ": an extension inheriting it may send host calls "
                    "through the proxy", evidence)
    if evidence:
        return ok("proxy settings leave the WireServer direct", evidence)
    return ok("no proxy is configured for the agent or its extensions")


# ---- OS support --------------------------------------------------------------------------

def load_support_table(path: str = DATA) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


try:  # read once at import: the table ships with azbdiag and never changes during a run
    _TABLE: Optional[dict] = load_support_table()
    _TABLE_ERROR = ""
except (OSError, ValueError) as _exc:
    _TABLE, _TABLE_ERROR = None, str(_exc)


def _version_listed(version: str, listed) -> bool:
    v = (version or "").strip()
    return any(v == x or v.startswith(x + ".") for x in listed)


@rule("platform.os_support", "The OS is one Azure VM backup supports",
      error_codes=("UserErrorGuestAgentStatusUnavailable",),
      remedy="Run an Azure-endorsed distribution and version; other distributions may work when "
             "the Linux agent and a supported Python are present. Agentless crash-consistent "
             "backup (Enhanced policy) does not depend on the guest OS.")
def os_support(ctx):
    """The distro and version against the supported list in azbdiag/data (with its source)."""
    facts = ctx.host.facts()
    if not (ctx.host.isfile("/etc/os-release") or ctx.host.isfile("/usr/lib/os-release")):
        raise SkipRule(SkipReason.NO_INPUT, "no os-release file: cannot tell the distribution")
    table = _TABLE
    if table is None:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read the support table: {_TABLE_ERROR}")
    did, version, arch = facts.distro_id.lower(), facts.distro_version, facts.arch
    shown = f"{facts.distro_name or did} (id {did}, version {version or '?'}, {arch or '?'})"
    source = table["sources"][0]["url"]
    evidence = [shown, f"list: {source} ({table['sources'][0]['ms_date']})"]
    if arch in table.get("unsupported_arches", []):
        return fail(f"{shown}: 32-bit systems are not supported by agent-based VM backup",
                    evidence)
    if did in table.get("unsupported_ids", {}):
        return fail(f"{shown}: {table['unsupported_ids'][did]}", evidence)
    for entry in table["distros"]:
        if did not in entry["ids"]:
            continue
        if entry.get("note"):
            return warn(f"{entry['name']} {version}: {entry['note']}", evidence)
        if entry.get("unlisted"):
            # Not named by the lists, but nothing in them excludes it: information, not a
            # warning (a false alarm costs more than it tells).
            return ok(f"{entry['name']} {version}: not named on the supported list; the "
                      f"checks of the agent and its Python decide", evidence + [entry["unlisted"]])
        if entry["versions"] is None:
            return ok(f"{entry['name']} is an Azure-endorsed distribution (supported versions "
                      f"are those its publisher offers on Azure)", evidence)
        if _version_listed(version, entry["versions"]):
            return ok(f"{entry['name']} {version} is on the supported list", evidence)
        return warn(f"{entry['name']} {version or '(no version)'} is not among the listed "
                    f"versions ({', '.join(entry['versions'])})", evidence)
    return warn(f"{shown} is not on the list of Azure-endorsed distributions: backup may work "
                f"but is not supported", evidence)


# ---- resources ---------------------------------------------------------------------------

LIMIT_PERCENT = 90.0
# A /proc/stat sample shorter than this many clock ticks (all CPUs together) is too coarse.
MIN_SAMPLE_TICKS = 50


def _own_ticks() -> float:
    """CPU time azbdiag and the commands it waited for used so far, in /proc/stat's ticks."""
    t = os.times()
    return (t[0] + t[1] + t[2] + t[3]) * os.sysconf("SC_CLK_TCK")


def _cpu_reading(host) -> Optional[Tuple[int, int, float]]:
    """(busy, total) ticks of /proc/stat's cpu line and azbdiag's own ticks, or None."""
    stat = parse_cpu_line(host.try_read_text("/proc/stat", limit=64 * 1024))
    return (stat[0], stat[1], _own_ticks()) if stat is not None else None


def cpu_first_reading(host) -> Tuple[int, int, float]:
    """The first reading of a CPU sample that spans the run: taken when platform.resources
    first asks, early in the run; the rule reads the second after every other rule."""
    reading = _cpu_reading(host)
    if reading is None:
        raise SkipRule(SkipReason.NO_INPUT, "cannot read /proc/stat")
    return reading


def _cpu_load(ctx) -> Tuple[Optional[str], str, float]:
    """(evidence, summary phrase with {} for the percent, percent) of the CPU: pressure stall
    information where the kernel has it, else a /proc/stat sample over this run without
    azbdiag's own use, else the load average per CPU; (None, "", 0) when none can be read."""
    host = ctx.host
    try:
        pressure = parse_pressure(host.try_read_text("/proc/pressure/cpu", limit=4096))
    except Unreadable:        # PSI compiled in but switched off (psi=0) reads as EOPNOTSUPP
        pressure = {}
    some = pressure.get("some", {})
    if "avg10" in some:
        evidence = (f"CPU pressure: tasks waited for a CPU {some['avg10']:.0f} % of the last "
                    f"10 s" + (f", {some['avg60']:.0f} % of the last minute"
                               if "avg60" in some else "") + " (/proc/pressure/cpu)")
        return evidence, "tasks waiting for a CPU {:.0f} % of the time", some["avg10"]
    try:
        first: Optional[Tuple[int, int, float]] = ctx.fact(cpu_first_reading)
    except SkipRule:
        first = None
    if first is not None:
        ctx.run_last()              # the engine comes back here after every other rule
        second = _cpu_reading(host)
        if second is not None and second[1] - first[1] >= MIN_SAMPLE_TICKS:
            busy = max(0.0, (second[0] - first[0]) - (second[2] - first[2]))
            percent = min(100.0, 100.0 * busy / (second[1] - first[1]))
            return (f"CPU busy {percent:.0f} % while this check ran (/proc/stat, azbdiag's "
                    f"own use left out)", "CPU {:.0f} % busy", percent)
    stat_text = host.try_read_text("/proc/stat", limit=64 * 1024)
    load, cpus = parse_loadavg(host.try_read_text("/proc/loadavg", limit=4096)), \
        parse_cpu_count(stat_text)
    if load is not None and cpus:
        percent = 100.0 * load[0] / cpus
        return (f"CPU load average {load[0]:.2f} over the last minute on {cpus} CPU(s): "
                f"{percent:.0f} % (/proc/loadavg)", "CPU load {:.0f} %", percent)
    return None, "", 0.0


@rule("platform.resources", "CPU and memory are not exhausted",
      error_codes=("ExtensionFailedTimeoutVMNetworkUnresponsive",), live_only=True,
      remedy="Find what uses the CPU or memory (top, ps aux --sort=-%mem); move the backup "
             "to a quieter time, or resize the VM. Above 90 % the snapshot task queues until "
             "it times out.")
def resources(ctx):
    """CPU from pressure stall information (/proc/pressure/cpu), else a /proc/stat sample
    over the whole run, else the load average; memory from MemAvailable. No sleep."""
    host = ctx.host
    evidence, high = [], []
    mem = parse_meminfo(host.try_read_text("/proc/meminfo", limit=64 * 1024))
    cpu_evidence, phrase, percent = _cpu_load(ctx)
    if cpu_evidence:
        evidence.append(cpu_evidence)
        if percent > LIMIT_PERCENT:
            high.append(phrase.format(percent))
    total = mem.get("MemTotal", 0)
    if total > 0:
        avail = mem.get("MemAvailable")
        if avail is None:
            avail = mem.get("MemFree", 0) + mem.get("Buffers", 0) + mem.get("Cached", 0)
        used = 100.0 * (total - min(avail, total)) / total
        evidence.append(f"memory used {used:.0f} % ({avail // 1024} MiB available of "
                        f"{total // 1024} MiB)")
        if used > LIMIT_PERCENT:
            high.append(f"memory {used:.0f} % used")
    if not evidence:
        raise SkipRule(SkipReason.NO_INPUT, "cannot read /proc/stat, /proc/loadavg or "
                                            "/proc/meminfo")
    if high:
        return warn(f"{' and '.join(high)}: above 90 % the snapshot task is queued and can "
                    f"time out", evidence)
    return ok("CPU and memory below 90 %", evidence)


# ---- other products ----------------------------------------------------------------------

# Process names (as in /proc/<pid>/comm, at most 15 characters) of products that take their
# own backups or snapshots, or freeze file systems.
OTHER_PRODUCTS = {
    "veeamservice": "Veeam Agent for Linux",
    "veeamagent": "Veeam Agent for Linux",
    "cvd": "Commvault",
    "cvlaunchd": "Commvault",
    "bpcd": "Veritas NetBackup",
    "vnetd": "Veritas NetBackup",
    "avagent": "Dell Avamar",
    "avagent.bin": "Dell Avamar",
    "dsmcad": "IBM Storage Protect (TSM)",
    "dsmc": "IBM Storage Protect (TSM)",
    "acronis_mms": "Acronis Cyber Protect",
    "fsfreeze": "fsfreeze (a file system is being frozen by hand or by another tool)",
    "xfs_freeze": "xfs_freeze (a file system is being frozen by another tool)",
}


@rule("platform.other_backup_products", "No other backup or snapshot product is running",
      error_codes=("UserErrorFsFreezeFailed", "UserErrorBackupOperationInProgress"),
      live_only=True,
      remedy="Schedule the other product away from the Azure backup window, or stop its "
             "freeze/snapshot step while Azure Backup protects this VM.")
def other_backup_products(ctx):
    """Running processes matched against a table of known backup and freeze tools."""
    seen: Dict[str, List[str]] = {}
    table = ctx.fact(processes)
    if not table:
        raise SkipRule(SkipReason.NO_INPUT, "cannot list /proc")
    for p in table:
        if p.comm in OTHER_PRODUCTS:
            seen.setdefault(OTHER_PRODUCTS[p.comm], []).append(f"pid {p.pid} ({p.comm})")
    if seen:
        evidence = [f"{product}: {', '.join(p[:5])}" for product, p in sorted(seen.items())]
        return warn(f"{', '.join(sorted(seen))} running: it may freeze or snapshot file systems "
                    f"at the same time as Azure Backup", evidence)
    return ok(f"none of {len(set(OTHER_PRODUCTS.values()))} known backup or freeze tools is "
              f"running")


@rule("platform.asr", "Azure Site Recovery and Azure Backup settings agree",
      error_codes=("ExtensionFailedSnapshotLimitReachedError",),
      remedy="With Site Recovery's mobility agent present, set isanysnapshotfailed = False in "
             "[SnapshotThread] of /etc/azure/vmbackup.conf (`sudo azbdiag fix --vmbackup-conf`).")
def asr(ctx):
    """Site Recovery's mobility agent present is when vmbackup.conf's isanysnapshotfailed
    matters (the rest of that check is vmbackup_conf.isanysnapshotfailed)."""
    found = ctx.fact(asr_present)
    if not found:
        return ok("Azure Site Recovery's mobility agent is not installed")
    evidence = [f"Site Recovery present: {p}" for p in found]
    text = ctx.host.try_read_text("/etc/azure/vmbackup.conf", limit=256 * 1024) or ""
    m = re.search(r"^isanysnapshotfailed\s*[=:]\s*(\S+)", text, re.IGNORECASE | re.MULTILINE)
    if m and m.group(1).lower() == "true":
        return warn("Site Recovery is installed and vmbackup.conf still says "
                    "isanysnapshotfailed = True", evidence + [m.group(0)])
    return ok("Site Recovery is installed; isanysnapshotfailed is not left at True", evidence)
