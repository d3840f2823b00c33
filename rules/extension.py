"""The Azure VM backup extension (Microsoft.Azure.RecoveryServices.VMSnapshotLinux): installed
and enabled, its last result, a half-deleted install, the safefreeze binary and lingering
freeze processes. The Python it runs on is rules/extension_python.py, its pre/post scripts
rules/scripts.py."""

from __future__ import annotations

import dataclasses
import os
import re
import stat as stat_mod
import time
from typing import Dict, List, Optional, Tuple

from azbdiag import facts as shared_facts
from azbdiag.engine import rule
from azbdiag.facts import ExtDir, active_ext_dir, ext_dirs
from azbdiag.model import SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.extension_dir import HANDLER
from azbdiag.parsers.proc import parse_proc_stat, parse_uptime
from azbdiag.parsers.status_file import ExtStatus, parse_status

WAAGENT = "/var/lib/waagent"
LOG_DIR = f"/var/log/azure/{HANDLER}"
STUCK_AFTER = 150 * 60      # Azure gives up on a snapshot task after about 140 minutes
RESET_STEPS = (f"stop the agent's service, move {WAAGENT}/{HANDLER}-* out of {WAAGENT}, "
               f"remove {LOG_DIR}, start the agent again; the next backup installs the extension "
               "afresh (or uninstall the VMSnapshotLinux extension in the Azure portal)")


# ---- facts -------------------------------------------------------------------------------
# The extension's directories (ext_dirs, ExtDir) are shared facts: azbdiag/facts/extension.py.
_active = active_ext_dir


def _number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts characters int() rejects, like '¹'."""
    return bool(re.fullmatch(r"[0-9]{1,18}", text))


def _active(dirs: List[ExtDir]) -> Optional[ExtDir]:
    """The install the agent runs: the newest enabled one, else the newest."""
    enabled = [d for d in dirs if d.state == "Enabled"]
    return (enabled or dirs)[-1] if dirs else None


def _need_active(ctx) -> ExtDir:
    active = _active(ctx.fact(ext_dirs))
    if active is None:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "the backup extension is not installed")
    return active


def _now(ctx) -> float:
    value = ctx.options.get("now")
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value) if isinstance(value, (int, float)) else time.time()


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


# ---- extension.installed -----------------------------------------------------------------
@rule("extension.installed", "The backup extension (VMSnapshotLinux) is installed and enabled",
      error_codes=("UserErrorVmProvisioningStateFailed", "GuestAgentSnapshotTaskStatusError"),
      remedy="The first backup installs the extension through the guest agent. If backups are "
             "enabled and it is missing or not Enabled, make the agent healthy (see the agent.* "
             "checks) and run a backup; if it stays broken, reset it: " + RESET_STEPS + ".")
def installed(ctx):
    """Extension directory under /var/lib/waagent, its version, HandlerState and HandlerStatus."""
    dirs = ctx.fact(ext_dirs)
    if not dirs:
        return warn(f"the backup extension is not installed (no {WAAGENT}/{HANDLER}-*): "
                    "fine before the first backup, a problem if backups already run")
    active = _active(dirs)
    evidence = [f"{d.path}: HandlerState {d.state or '(missing)'}" for d in dirs]
    if len(dirs) > 1:
        evidence.append(f"{len(dirs)} versions are on disk; the agent uses {active.version}")
    hs = active.handler_status
    if hs is not None:
        evidence.append(f"HandlerStatus: {hs.status or '?'} code {hs.code} {hs.message}".strip()
                        if not hs.error else f"HandlerStatus does not parse: {hs.error}")
    head = f"VMSnapshotLinux {active.version}"
    if active.env is None:
        return fail(f"{head}: HandlerEnvironment.json is missing, so the extension exits at "
                    "once without a status", evidence)
    if active.env.error:
        return fail(f"{head}: HandlerEnvironment.json is unusable ({active.env.error}), so the "
                    "extension cannot find its folders", evidence)
    if active.state in ("NotInstalled", "FailedUpgrade"):
        return fail(f"{head} has HandlerState {active.state}", evidence)
    if hs is not None and not hs.error and hs.status.lower() == "notready":
        return fail(f"{head}: the agent reports the handler NotReady", evidence)
    if active.state != "Enabled":
        state = active.state or "without a HandlerState file (the agent counts it as not installed)"
        return warn(f"{head} is {state}, not Enabled (normal only while a backup is being set "
                    "up)", evidence)
    return ok(f"{head} is installed and Enabled", evidence)


# ---- extension.stuck_deletion ------------------------------------------------------------
@rule("extension.stuck_deletion", "No half-deleted or stuck backup extension install",
      error_codes=("ExtensionStuckInDeletionState",),
      remedy="Reset the extension: " + RESET_STEPS + ".")
def stuck_deletion(ctx):
    """An extension directory that lost its manifest or its code, or an old version the agent
    failed to remove, keeps the agent from finishing the extension's removal or update."""
    dirs = ctx.fact(ext_dirs)
    if not dirs:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "the backup extension is not installed")
    active = _active(dirs)
    broken, leftovers = [], []
    for d in dirs:
        missing = [name for name, present in (("HandlerManifest.json", d.manifest),
                                              ("main/handle.sh", d.handle_sh)) if not present]
        if not d.entries:
            broken.append(f"{d.path} is empty")
        elif missing:
            broken.append(f"{d.path} has no {' or '.join(missing)} (half deleted); it holds "
                          f"{', '.join(d.entries[:8])}")
        elif d.state == "NotInstalled":
            broken.append(f"{d.path} still exists with HandlerState NotInstalled")
        elif d is not active:
            leftovers.append(f"{d.path} (HandlerState {d.state or 'missing'}) is an older "
                             f"version left beside {active.version}")
    if broken:
        return fail(f"{len(broken)} backup extension director{'y is' if len(broken) == 1 else 'ies are'}"
                    " half deleted: the agent cannot finish removing or updating it",
                    broken + leftovers)
    if leftovers:
        return warn("an older version of the backup extension was not cleaned up", leftovers)
    return ok(f"one intact install ({active.version})")


# ---- extension.last_status ---------------------------------------------------------------
@dataclasses.dataclass
class StatusFile:
    """The newest status/<N>.status of an extension install: its path, N, mtime and report."""
    path: str
    seq: int
    mtime: float
    report: ExtStatus


def newest_status(host, active: ExtDir) -> Optional[StatusFile]:
    """The newest status/<N>.status of the install (None: the extension wrote none yet)."""
    best = None
    for path in host.glob(f"{active.path}/status", "*.status"):
        seq = os.path.basename(path)[:-len(".status")]
        if not _number(seq):
            continue
        try:
            mtime = host.stat(path).st_mtime
        except OSError:
            continue
        if best is None or (mtime, int(seq)) > (best[2], best[1]):
            best = (path, int(seq), mtime)
    if best is None:
        return None
    text = host.try_read_text(best[0], 512 * 1024)
    report = parse_status(text) if text is not None else ExtStatus(error="unreadable")
    return StatusFile(best[0], best[1], best[2], report)


def newest_settings(host, active: ExtDir) -> Optional[int]:
    seqs = [os.path.basename(p)[:-len(".settings")]
            for p in host.glob(f"{active.path}/config", "*.settings")]
    numbers = [int(s) for s in seqs if _number(s)]
    return max(numbers) if numbers else None


# Which azbdiag checks look at the cause behind an extension error code.
CAUSE_RULES: Dict[int, Tuple[str, ...]] = {
    2: ("freeze.*", "vmbackup_conf.integer_keys", "extension.processes"),
    4: ("extension.processes", "platform.wireserver"),
    16: ("agent.*",),
    76: ("platform.wireserver", "agent.*"),
    761: ("platform.wireserver", "agent.*"),
    85: ("vmbackup_conf.isanysnapshotfailed",),
    121: ("freeze.*", "vmbackup_conf.*", "extension.processes"),
    122: ("freeze.*", "vmbackup_conf.integer_keys"),
    123: ("freeze.*", "vmbackup_conf.mounts_to_skip"),
    124: ("extension.safefreeze",),
    402: ("agent.*",),
}
for _code in range(300, 319):
    CAUSE_RULES[_code] = ("extension.scripts_config", "extension.scripts_permissions")
OK_CODES = (0, 1, 3)
FREEZE_CODES = (121, 122, 123)
# The extension error codes the guest snapshot path writes over whatever failed before it
# (main/freezesnapshotter.py takeSnapshotFromFirstHostThenGuest: 761, or 76 when every blob
# failed), which is how a freeze failure reaches vmHealthStatusCode as 761.
GUEST_PATH_CODES = (76, 761)


def _catalogue(code: int) -> Tuple[str, str]:
    """(name, the Azure error it surfaces as) from azbdiag.catalogue, '' when unknown."""
    try:
        from azbdiag import catalogue
        entry = catalogue.extension_status(code)
    except Exception:  # noqa: BLE001 - the catalogue only adds names to the summary
        return "", ""
    if not isinstance(entry, dict):
        return "", ""
    return str(entry.get("name") or ""), str(entry.get("surfaces_as") or "")


def _explain(code: int) -> str:
    name, azure = _catalogue(code)
    text = f"{code}" + (f" ({name})" if name else "")
    if azure:
        text += f", reported by Azure as {azure}"
    causes = CAUSE_RULES.get(code)
    if causes:
        text += f"; see {', '.join(causes)}"
    return text


@rule("extension.last_status", "The backup extension's last run succeeded",
      error_codes=("UserErrorFsFreezeFailed", "UserErrorUnableToOpenMount",
                   "ExtensionSnapshotFailedNoNetwork", "ExtensionFailedSnapshotLimitReachedError",
                   "UserErrorVmProvisioningStateFailed", "BackUpOperationFailed"),
      remedy="Fix the cause the checks named in the summary point at, then run a backup again. "
             "A run stuck in progress means the extension's daemon died or hangs: look at "
             f"{LOG_DIR}/extension.log and the extension.processes check.")
@shared_facts.with_last_backup(lambda ctx: newest_status(ctx.host, _need_active(ctx)), CAUSE_RULES)
def last_status(ctx):
    """The newest status/<N>.status: its code, the error code inside the substatus report
    (vmHealthStatusCode), and what Azure shows for it."""
    active = _need_active(ctx)
    sf = newest_status(ctx.host, active)
    settings_seq = newest_settings(ctx.host, active)
    if sf is None:
        if settings_seq is None:
            raise SkipRule(SkipReason.NO_INPUT, "the extension has not run yet (no status or "
                                                "settings file)")
        return fail(f"the extension got request {settings_seq}.settings but wrote no status: it "
                    "never started or died at once (see extension.installed and the agent.* "
                    "checks)", [f"{active.path}/config/{settings_seq}.settings"])
    rep = sf.report
    age = _now(ctx) - sf.mtime
    where = f"{sf.path} (written {_age(age)} ago)"
    if rep.error:
        return fail(f"the newest status file does not parse ({rep.error})", [where])
    evidence = [where, f"status {rep.status or '?'}, code {rep.code}"
                + (f", real status {rep.real_status}" if rep.real_status else "")]
    if rep.health_code is not None:
        evidence.append(f"vmHealthStatusCode {_explain(rep.health_code)}")
    if rep.message:
        evidence.append(f"message: {rep.message}")
    if rep.consistency == 3:
        # HandlerUtil.do_status_report compares a string with an integer, so the field is 0
        # for every run but a crash-consistent one: only 3 says anything.
        evidence.append("snapshot consistency: crash consistent (snapshotConsistency 3)")
    for key in ("extensionVersion", "snapshotCreator", "hostStatusCodePreSnapshot",
                "hostStatusCodeDoSnapshot", "extErrorCode"):
        if rep.telemetry.get(key):
            evidence.append(f"{key}: {rep.telemetry[key]}")
    evidence += [f"snapshot error: {e}" for e in rep.snapshot_errors[:5]]
    if settings_seq is not None and settings_seq > sf.seq:
        evidence.append(f"newer request {settings_seq}.settings has no status yet")
    code = rep.code
    if code is None and rep.status.lower() == "transitioning":
        code = 4
    ext = rep.health_code if rep.health_code not in (None, 0, 1, code) else None
    if code == 4:
        if age > STUCK_AFTER:
            return fail(f"the last run has been 'in progress' (code 4) for {_age(age)} (more than "
                        f"the {STUCK_AFTER // 60} minutes a snapshot can take): the extension's "
                        "daemon crashed or hangs", evidence, codes=[4])
        return ok(f"a backup run is in progress (code 4, {_age(age)} old)", evidence)
    if code in OK_CODES:
        if ext is not None:
            return warn(f"the last backup succeeded with code {code} but hit error "
                        f"{_explain(ext)}", evidence, codes=[code, ext])
        kind = {0: "application consistent", 1: "file-system consistent",
                3: "already processed"}[code]
        return ok(f"the last run succeeded ({kind}, {_age(age)} ago)", evidence)
    if code is None:
        return fail("the newest status has no result code", evidence)
    # Read both codes: a freeze failure can be the top-level code (121) while the guest
    # snapshot path overwrote vmHealthStatusCode with 761, or the other way round.
    freeze = next((c for c in (code, ext) if c in FREEZE_CODES), None)
    main = freeze if freeze is not None else (ext if ext is not None else code)
    other = ext if main == code else code
    codes = [c for c in (code, ext) if c is not None]
    if freeze is not None and other in GUEST_PATH_CODES:
        evidence.append(f"{other} is what the guest snapshot path records after the freeze "
                        f"failed (the host snapshot was not available): a consequence, not the "
                        f"cause")
    return fail(f"the last run failed with {_explain(main)}", evidence, codes=codes, cause=main)


# ---- extension.safefreeze ----------------------------------------------------------------
SAFEFREEZE = {"x86_64": "main/safefreeze/bin/safefreeze",
              "aarch64": "main/safefreezeArm64/bin/safefreeze",
              "arm64": "main/safefreezeArm64/bin/safefreeze"}


@rule("extension.safefreeze", "The safefreeze binary for this CPU is present and executable",
      error_codes=("UserErrorFsFreezeFailed",),
      remedy="The binary ships inside the extension package: reset the extension so the agent "
             "unpacks it again (" + RESET_STEPS + "). If it is present but not executable, "
             "check that /var/lib/waagent is not on a noexec mount.")
def safefreeze(ctx):
    """The extension freezes file systems with its own static binary, picked by machine
    architecture; without it every backup fails with code 124."""
    active = _need_active(ctx)
    arch = ctx.host.facts().arch or ""
    rel = SAFEFREEZE.get(arch)
    if rel is None:
        raise SkipRule(SkipReason.NOT_APPLICABLE,
                       f"unknown machine architecture {arch or '(undetected)'}")
    path = f"{active.path}/{rel}"
    try:
        st = ctx.host.stat(path)
    except OSError:
        return fail(f"{path} is missing: backups fail with code {_explain(124)}",
                    [f"architecture {arch}", f"{active.path}/main holds: "
                     + ", ".join(ctx.host.listdir(f'{active.path}/main')[:12])])
    if not stat_mod.S_ISREG(st.st_mode):
        return fail(f"{path} is not a regular file", [f"mode {stat_mod.filemode(st.st_mode)}"])
    if not st.st_mode & 0o100:
        return fail(f"{path} is not executable (mode {stat_mod.S_IMODE(st.st_mode):04o}): the "
                    "freeze cannot start", [f"architecture {arch}"])
    return ok(f"{rel} is present and executable ({arch})")


# ---- extension.processes -----------------------------------------------------------------
SAFEFREEZE_MAX = 600        # safefreeze normally lives for about a minute


@dataclasses.dataclass
class Proc:
    """A safefreeze or extension daemon process now running, and its age in seconds."""
    pid: str
    kind: str           # safefreeze or daemon
    argv: List[str]
    state: str
    age: Optional[float]


def extension_processes(host, table) -> List[Proc]:
    """safefreeze and extension daemon processes, from the shared process table."""
    uptime = parse_uptime(host.try_read_text("/proc/uptime", 256))
    try:
        hz = os.sysconf("SC_CLK_TCK") or 100
    except (ValueError, OSError, AttributeError):
        hz = 100
    found = []
    for p in table:
        argv = p.argv
        if not argv:
            continue
        if os.path.basename(argv[0]) == "safefreeze":
            kind = "safefreeze"
        elif any(a.lstrip("-") == "daemon" for a in argv[1:]) and \
                shared_facts.runs_in_extension_dir(host, p.pid, argv):
            kind = "daemon"
        else:
            continue
        st = parse_proc_stat(p.stat)
        age = uptime - st.start_ticks / hz if st is not None and uptime is not None else None
        found.append(Proc(p.pid, kind, argv, st.state if st else "?", age))
    return found


@rule("extension.processes", "No safefreeze or extension daemon is left hanging",
      error_codes=("UserErrorFsFreezeFailed", "UserErrorBackupOperationInProgress"),
      live_only=True,
      remedy="Never kill safefreeze with SIGKILL: the file systems would stay frozen. Send it "
             "SIGUSR1 (`kill -USR1 <pid>`), which makes it thaw and exit. A daemon left hanging "
             "after that can be stopped; the next backup starts a new one. A process stuck in "
             "state D waits in the kernel: find what blocks the freeze (fapolicyd, NFS, a hung "
             "disk) before retrying.")
def processes(ctx):
    """A safefreeze that outlives its timeout, or a daemon older than a snapshot can take,
    means a hung backup; a lock on the safefreeze lock file blocks the next freeze."""
    table = ctx.fact(shared_facts.processes)
    procs = extension_processes(ctx.host, table)
    busy = shared_facts.backup_in_progress(ctx.host, table)
    locks = [line for line in busy if "locked by" in line]
    ours = {p.pid for p in procs}
    holders = [(re.search(r"locked by pid (\d+)", line), line) for line in locks]
    foreign = [line for m, line in holders if m and m.group(1) not in ours]
    hung, running = [], []
    for p in procs:
        age = "age unknown" if p.age is None else f"running {_age(p.age)}"
        line = f"pid {p.pid} {p.kind} state {p.state}, {age}: {' '.join(p.argv)[:200]}"
        limit = SAFEFREEZE_MAX if p.kind == "safefreeze" else STUCK_AFTER
        stuck_in_kernel = p.kind == "safefreeze" and p.state == "D" and (p.age or 0) > 120
        (hung if (p.age is not None and p.age > limit) or stuck_in_kernel else running).append(line)
    if hung:
        return fail(f"{len(hung)} backup process(es) hang; with safefreeze alive the file "
                    "systems may still be frozen", hung + running + locks)
    if foreign:
        return warn("the safefreeze lock file is held by a process that is not part of a "
                    "backup (Site Recovery?): the next backup's freeze fails with code 121",
                    foreign + running)
    if running:
        return ok("a backup snapshot is running right now", running + locks)
    return ok("no safefreeze or extension daemon process is running")
