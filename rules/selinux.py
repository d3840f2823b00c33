"""SELinux and the backup extension (UserErrorVmNotInDesirableState / VmNotInDesirableState).

On a stock targeted policy the agent runs unconfined (unconfined_service_t) and its files under
/var/lib/waagent are plain var_lib_t, so SELinux normally does not get in the way. What does:
files mislabelled after an image build or a `mv` (unlabeled_t, default_t, user_tmp_t ...), an
agent started outside the normal domain transition, a policy without the unconfined module,
and denials against the agent, the extension or the freeze. There is no waagent_* type in the
stock policy, so nothing here ever suggests one.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat as stat_mod
from typing import List, Optional

from azbdiag.engine import rule
from azbdiag.facts import processes
from azbdiag.fix import RefuseFix, RunCommand, WriteFile, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.audit_avc import Avc, ioctl_name, parse_avcs
from azbdiag.parsers.file_contexts import FileContextSpec, expected_context, parse_file_contexts
from azbdiag.parsers.kernel_cmdline import Cmdline, parse_cmdline, parse_grub_cmdline
from azbdiag.parsers.restorecon import parse_relabels
from azbdiag.parsers.selinux_config import SelinuxConfig, parse_config
from azbdiag.parsers.selinux_context import context_type, parse_context, parse_proc_attr
from azbdiag.parsers.selinuxfs import parse_enforce

CONFIG = "/etc/selinux/config"
ENFORCE = "/sys/fs/selinux/enforce"
AGENT_DIR = "/var/lib/waagent"
# Paths the agent and the backup extension own, with the type the stock policy gives them.
LABEL_PATHS = {"/var/lib/waagent": "var_lib_t", "/etc/azure": "etc_t", "/var/log/azure": "var_log_t"}
# Types a file there only gets by accident: no label, or carried over by mv/cp -a/tar.
BAD_TYPES = {"unlabeled_t", "default_t", "file_t", "user_tmp_t", "tmp_t", "admin_home_t",
             "user_home_t", "user_home_dir_t", "container_file_t", "svirt_sandbox_file_t"}
AGENT_DOMAINS = ("unconfined_service_t", "unconfined_t")
AUTORELABEL = "/.autorelabel"
MAX_WALK = 20000
NOT_ENABLED = "SELinux not enabled"


# ---- state -------------------------------------------------------------------------------
@dataclasses.dataclass
class State:
    """Whether SELinux is on, in which mode, and the evidence (the config and the boot command
    line) for it."""
    enabled: bool
    mode: str                       # enforcing or permissive (now live; at next boot offline)
    config: Optional[SelinuxConfig]
    cmdline: Cmdline
    evidence: List[str]
    why_off: str = ""

    @property
    def enforcing(self) -> bool:
        return self.enabled and self.mode == "enforcing"


def _boot_cmdline(host) -> Cmdline:
    """Offline: the SELinux words on the kernel command line the disk boots with."""
    words = []
    grub = host.try_read_text("/etc/default/grub")
    if grub:
        words += parse_grub_cmdline(grub).words
    for entry in host.glob("/boot/loader/entries", "*.conf"):
        for line in (host.try_read_text(entry) or "").splitlines():
            if line.startswith("options "):
                words += parse_cmdline(line[len("options "):]).words
    return parse_cmdline(" ".join(words))


def selinux_state(host) -> State:
    text = host.try_read_text(CONFIG)
    config = parse_config(text) if text is not None else None
    evidence = []
    if config and config.mode_line:
        evidence.append(f"{CONFIG} line {config.mode_line}: SELINUX={config.mode_raw}")
    if host.live:
        cmdline = parse_cmdline(host.try_read_text("/proc/cmdline") or "")
        if cmdline.words:
            evidence.append("kernel command line: " + " ".join(cmdline.words))
        raw = host.try_read_text(ENFORCE)
        enforcing = parse_enforce(raw) if raw is not None else None
        if enforcing is None:
            why = "selinuxfs is not mounted (no policy loaded)"
            if cmdline.selinux is False:
                why = "selinux=0 on the kernel command line"
            elif config and config.mode == "disabled":
                why = f"SELINUX=disabled in {CONFIG}"
            return State(False, "disabled", config, cmdline, evidence, why)
        evidence.append(f"{ENFORCE} = {raw.strip()}")
        return State(True, "enforcing" if enforcing else "permissive", config, cmdline, evidence)
    cmdline = _boot_cmdline(host)
    if cmdline.words:
        evidence.append("boot command line: " + " ".join(cmdline.words))
    if config is None:
        return State(False, "disabled", None, cmdline, evidence, f"no {CONFIG} on this root")
    if config.mode in (None, "disabled"):
        return State(False, "disabled", config, cmdline, evidence,
                     f"SELINUX={config.mode_raw or '(not set)'} in {CONFIG}")
    if cmdline.selinux is False:
        return State(False, "disabled", config, cmdline, evidence, "selinux=0 on the boot command line")
    mode = config.mode
    if cmdline.enforcing is not None:
        mode = "enforcing" if cmdline.enforcing else "permissive"
    return State(True, mode, config, cmdline, evidence)


def _enabled(ctx) -> State:
    state = ctx.fact(selinux_state)
    if not state.enabled:
        raise SkipRule(SkipReason.NOT_ENABLED, NOT_ENABLED)
    return state


def _by_mode(state: State):
    """Enforcing: a finding blocks the backup (fail). Permissive: only logged (warn)."""
    return fail if state.enforcing else warn


@rule("selinux.mode", "SELinux mode is known and matches the boot configuration",
      error_codes=("UserErrorVmNotInDesirableState", "VmNotInDesirableState"),
      remedy="Keep /etc/selinux/config and the running mode in step. Do not disable SELinux to "
             "get backups working: if a later check finds a real block, fix that instead.")
def mode(ctx):
    """Reports enforcing or permissive, and warns when the running mode and the config differ
    (a reboot will change how SELinux treats the agent)."""
    state = _enabled(ctx)
    where = "now" if ctx.host.live else "at boot"
    conf_mode = state.config.mode if state.config else None
    if ctx.host.live and conf_mode and conf_mode != state.mode:
        if conf_mode == "disabled":
            why = ("the config says disabled; on kernels 6.4+ that only takes effect at the next "
                   "boot, and turning SELinux back on later needs a full relabel")
        else:
            why = f"the config says {conf_mode}: after the next reboot SELinux will be {conf_mode}"
        if state.cmdline.enforcing is not None:
            why += " (unless enforcing= stays on the kernel command line)"
        return warn(f"SELinux is {state.mode} now but {why}", state.evidence)
    if state.mode == "permissive":
        return ok(f"SELinux is permissive {where}: denials are only logged, so SELinux does not "
                  f"block the backup", state.evidence)
    return ok(f"SELinux is enforcing {where}", state.evidence)


# ---- policy ------------------------------------------------------------------------------
def _module_state(host, ptype: str, name: str) -> Optional[str]:
    """enabled, disabled or missing from the policy module store; None if no store is found."""
    for store in (f"/var/lib/selinux/{ptype}/active/modules", f"/etc/selinux/{ptype}/active/modules"):
        if not host.isdir(store):
            continue
        if host.exists(f"{store}/disabled/{name}"):
            return "disabled"
        for prio in host.listdir(store):
            if prio != "disabled" and host.isdir(f"{store}/{prio}/{name}"):
                return "enabled"
        return "missing"
    return None


@rule("selinux.policy", "The SELinux policy lets the agent run unconfined",
      error_codes=("UserErrorVmNotInDesirableState", "VmNotInDesirableState"),
      remedy="Use the distro's targeted policy with its unconfined module enabled "
             "(`semodule -e unconfined`); under mls or a site policy, the agent's domain must be "
             "allowed what the extension does (see selinux.avc).")
def policy(ctx):
    """SELINUXTYPE, whether that policy is installed, and whether its unconfined module (which
    gives the agent unconfined_service_t) is there and enabled."""
    state = _enabled(ctx)
    host = ctx.host
    ptype = (state.config.policy_type if state.config else None) or "targeted"
    evidence = list(state.evidence)
    if state.config and state.config.type_line:
        evidence.append(f"{CONFIG} line {state.config.type_line}: SELINUXTYPE={ptype}")
    if not host.isdir(f"/etc/selinux/{ptype}"):
        return _by_mode(state)(f"SELINUXTYPE={ptype}, but /etc/selinux/{ptype} does not exist: "
                               f"that policy is not installed", evidence)
    module = _module_state(host, ptype, "unconfined")
    if module in ("disabled", "missing"):
        return _by_mode(state)(
            f"the {ptype} policy's unconfined module is {module}: the agent does not get "
            f"unconfined_service_t and runs confined, so the extension's work can be denied",
            evidence)
    if ptype == "mls":
        return warn("the mls policy confines far more than targeted; the agent and the freeze "
                    "may be denied (check selinux.agent_domain and selinux.avc)", evidence)
    if module is None:
        evidence.append("policy module store not found; the unconfined module was not checked")
    return ok(f"policy {ptype}" + (", unconfined module enabled" if module == "enabled" else ""),
              evidence)


# ---- labels ------------------------------------------------------------------------------
def _walk(host, top: str, limit: int = MAX_WALK):
    """Guest paths under `top` (top included), not following symlinks, at most `limit`."""
    stack = [top]
    count = 0
    while stack and count < limit:
        path = stack.pop()
        try:
            st = host.lstat(path)
        except OSError:
            continue
        count += 1
        yield path
        if stat_mod.S_ISDIR(st.st_mode):
            stack.extend(os.path.join(path, n) for n in reversed(host.listdir(path)))


def _ftype(mode: int) -> str:
    for test, name in ((stat_mod.S_ISDIR, "dir"), (stat_mod.S_ISLNK, "symlink"),
                       (stat_mod.S_ISCHR, "char"), (stat_mod.S_ISBLK, "block"),
                       (stat_mod.S_ISSOCK, "socket"), (stat_mod.S_ISFIFO, "pipe")):
        if test(mode):
            return name
    return "file"


def file_contexts(host) -> List[FileContextSpec]:
    """The root's own file_contexts (and local additions), for the paths we look at."""
    state = host.try_read_text(CONFIG)
    ptype = (parse_config(state).policy_type if state else None) or "targeted"
    base = f"/etc/selinux/{ptype}/contexts/files/file_contexts"
    specs: List[FileContextSpec] = []
    for path in (base, base + ".local"):
        specs += parse_file_contexts(host.try_read_text(path, limit=32 * 1024 * 1024) or "")
    return [s for s in specs if any(r.startswith(s.stem) or s.stem.startswith(r) for r in LABEL_PATHS)]


def _scan_xattrs(host, roots: List[str], specs: List[FileContextSpec]) -> List[str]:
    """Compare each file's security.selinux attribute with what the root's own file_contexts
    expects (like restorecon, by type); without file_contexts, flag files with no label or a
    type they only get by accident."""
    problems = []
    for top in roots:
        for path in _walk(host, top):
            raw = host.getxattr(path, "security.selinux")
            ctx = parse_context(raw) if raw else None
            if ctx is None:
                problems.append(f"{path}: no SELinux label")
                continue
            if specs:
                try:
                    kind = _ftype(host.lstat(path).st_mode)
                except OSError:
                    continue
                spec = expected_context(specs, path, kind)
                want = context_type(spec.context) if spec and spec.context else None
                if want and ctx.type != want:
                    problems.append(f"{path}: labelled {ctx}, the policy expects {spec.context}")
            elif ctx.type in BAD_TYPES:
                problems.append(f"{path}: labelled {ctx} ({ctx.type} does not belong here)")
            elif path == top and ctx.type != LABEL_PATHS[top]:
                problems.append(f"{path}: labelled {ctx}, the stock policy gives {LABEL_PATHS[top]}"
                                f" (fine only if a local semanage rule wants it)")
    return problems


def label_roots(host) -> List[str]:
    return [p for p in LABEL_PATHS if host.exists(p)]


@rule("selinux.labels", "Agent and backup extension files carry the labels the policy expects",
      error_codes=("UserErrorVmNotInDesirableState", "VmNotInDesirableState",
                   "GuestAgentSnapshotTaskStatusError"),
      needs_root=True, fix="selinux", timeout=90,
      remedy="Restore the default labels: `restorecon -R -n -v /var/lib/waagent /etc/azure "
             "/var/log/azure` to preview, then the same without -n (`sudo azbdiag fix "
             "--selinux`). On an offline disk, create /.autorelabel so the VM relabels at boot.")
def labels(ctx):
    """Live, `restorecon -R -n -v` lists what differs from the policy; offline (or without
    restorecon), the security.selinux attributes are read directly."""
    state = _enabled(ctx)
    host = ctx.host
    roots = label_roots(host)
    if not roots:
        raise SkipRule(SkipReason.NOT_APPLICABLE, f"none of {', '.join(LABEL_PATHS)} exists")
    pending = host.exists(AUTORELABEL)
    note = " (a full relabel is already scheduled for the next boot: /.autorelabel exists)" \
        if pending else ""
    if host.live and host.which("restorecon"):
        res = host.run(["restorecon", "-R", "-n", "-v", *roots], timeout=80)
        if res.timed_out:
            raise CheckError(res.describe())
        relabels = parse_relabels(res.stdout + "\n" + res.stderr)
        if not res.ok and not relabels:
            raise CheckError(f"{res.describe()}: {(res.stderr.strip().splitlines() or [''])[-1]}")
        if not relabels:
            return ok(f"restorecon finds nothing to relabel under {', '.join(roots)}")
        evidence = [r.line for r in relabels[:40]]
        if len(relabels) > 40:
            evidence.append(f"... and {len(relabels) - 40} more")
        return _by_mode(state)(f"{len(relabels)} file(s) under {', '.join(roots)} are not labelled "
                               f"the way the policy expects{note}", evidence,
                               method="restorecon", roots=roots, count=len(relabels))
    specs = ctx.fact(file_contexts)
    problems = _scan_xattrs(host, roots, specs)
    basis = "the policy's file_contexts" if specs else "a plausibility check (no file_contexts)"
    if not problems:
        return ok(f"every file under {', '.join(roots)} is labelled as the policy's file_contexts "
                  f"expects" if specs else f"every file under {', '.join(roots)} has a plausible "
                  f"label (no file_contexts to compare with)")
    how = "offline root" if not host.live else "restorecon is not installed"
    evidence = problems[:40] + ([f"... and {len(problems) - 40} more"] if len(problems) > 40 else [])
    result = warn if pending else _by_mode(state)
    return result(f"{len(problems)} file(s) under {', '.join(roots)} look mislabelled ({how}; "
                  f"security.selinux attributes against {basis}){note}", evidence,
                  method="autorelabel" if not host.live else "none", roots=roots, pending=pending,
                  not_fixable=(f"a full relabel is already scheduled for the next boot "
                               f"({AUTORELABEL} exists)") if pending else None)


@fix("selinux", title="Restore the SELinux labels of the agent's and the extension's files",
     rules=("selinux.labels",), order=35, live_only=False)   # before agent (40): relabel, then restart
def plan_selinux(ctx, findings):
    """Relabel exactly the files restorecon's preview lists, each undoable with chcon back to
    its old label. Offline, schedule the guest's own boot-time relabel. Never changes the mode."""
    host = ctx.host
    data = findings[0].data if findings else {}
    method = data.get("method")
    if method == "autorelabel":
        if host.exists(AUTORELABEL):
            return []
        return [WriteFile(AUTORELABEL, b"", mode=0o644,
                          why="an offline disk cannot be relabelled with this machine's policy: "
                              "/.autorelabel makes the VM relabel every file with its own policy "
                              "at the next boot (that boot takes longer)")]
    if method != "restorecon":
        raise RefuseFix("restorecon is not installed (package policycoreutils); install it and "
                        "re-run, or create /.autorelabel and reboot")
    roots = data.get("roots") or label_roots(host)
    res = host.run(["restorecon", "-R", "-n", "-v", *roots], timeout=80)
    relabels = parse_relabels(res.stdout + "\n" + res.stderr)
    if res.timed_out or (not res.ok and not relabels):
        raise RefuseFix(f"the restorecon preview failed: {res.describe()}")
    if len(relabels) > 300:
        return [RunCommand(["restorecon", "-R", "-v", *roots], timeout=300,
                           why=f"preview (restorecon -R -n -v) lists {len(relabels)} files, e.g. "
                               f"{relabels[0].line}")]
    actions = []
    for r in relabels:
        old = parse_context(r.old)
        undo = ["chcon", "-h", str(old), r.path] if old else None
        actions.append(RunCommand(["restorecon", "-v", r.path], undo_argv=undo,
                                  why=f"preview: {r.line}"))
    return actions


# ---- the agent's domain ------------------------------------------------------------------
def agent_processes(table):
    """[(pid, argv)] of the agent daemon and its extension handler."""
    found = []
    for p in table:
        argv = p.argv
        if any(a.endswith("waagent") or "WALinuxAgent" in a for a in argv) and any(
                a in ("-daemon", "-run-exthandlers") or a.endswith("-run-exthandlers") for a in argv):
            found.append((int(p.pid), argv))
    return found


@rule("selinux.agent_domain", "The agent runs in an unconfined SELinux domain",
      error_codes=("UserErrorVmNotInDesirableState", "VmNotInDesirableState",
                   "GuestAgentSnapshotTaskStatusError"),
      live_only=True,
      remedy="Start the agent through its systemd unit from the distro package (the python "
             "interpreter and /usr/sbin/waagent labelled bin_t: `restorecon -v /usr/sbin/waagent "
             "/usr/bin/python3*`), so that it gets unconfined_service_t. Do not make init_t "
             "permissive.")
def agent_domain(ctx):
    """Reads /proc/<pid>/attr/current of the agent's processes."""
    state = _enabled(ctx)
    procs = agent_processes(ctx.fact(processes))
    if not procs:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "the agent is not running (see the agent checks)")
    evidence, bad = [], []
    for pid, argv in procs:
        try:
            raw = ctx.host.read_bytes(f"/proc/{pid}/attr/current", 4096)
        except OSError as exc:
            evidence.append(f"pid {pid}: cannot read its context ({exc.strerror})")
            continue
        con = parse_proc_attr(raw)
        shown = " ".join(argv)[:120]
        evidence.append(f"pid {pid} ({shown}): {con or 'no context'}")
        if con is None or con.type not in AGENT_DOMAINS:
            bad.append(con.type if con else "unknown")
    if not bad and all("cannot read" in e for e in evidence):
        raise CheckError("cannot read the agent's SELinux context")
    if bad:
        return _by_mode(state)(f"the agent runs as {', '.join(sorted(set(bad)))}, not "
                               f"unconfined_service_t: the extensions it starts inherit that "
                               f"confined domain", evidence)
    return ok("the agent runs unconfined, as the stock policy intends", evidence)


# ---- AVC denials -------------------------------------------------------------------------
AUDIT_LOG = "/var/log/audit/audit.log"
BACKUP_COMMS = {"safefreeze", "waagent", "handle.sh", "fsfreeze"}
SHELL_COMMS = {"python", "python3", "python2", "sh", "bash"}
BACKUP_PATHS = ("/var/lib/waagent", "/etc/azure", "/var/log/azure")


def _related(avc: Avc) -> bool:
    comm = avc.comm or ""
    target = avc.target or ""
    exe = avc.get("exe") or ""
    stype = context_type(avc.scontext or "") or ""
    if comm in BACKUP_COMMS or "VMSnapshot" in exe or "waagent" in exe:
        return True
    if ioctl_name(avc):
        return True
    on_paths = target.startswith(BACKUP_PATHS) or "waagent" in target or "VMSnapshot" in target
    if on_paths:
        return True
    if comm in SHELL_COMMS and (stype in AGENT_DOMAINS or
                                ("sys_admin" in avc.perms and avc.get("tclass") == "capability")):
        return True
    return False


def _when(avc: Avc) -> str:
    if avc.timestamp is None:
        return ""
    stamp = datetime.datetime.fromtimestamp(avc.timestamp, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%SZ ")


def avc_denials(host) -> List[Avc]:
    try:
        text = host.read_tail(AUDIT_LOG, 8 * 1024 * 1024)
    except OSError:
        text = None
    if text is None and host.live:
        res = host.run(["dmesg"], timeout=10)
        text = res.stdout if res.ok else None
    if text is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no readable {AUDIT_LOG} (auditd not installed?)")
    return [a for a in parse_avcs(text) if _related(a)]


def _avc_remedy(avcs: List[Avc]) -> str:
    domains = sorted({t for t in (context_type(a.scontext or "") for a in avcs) if t})
    steps = ["First make sure the labels are right (selinux.labels, `restorecon -R -v "
             "/var/lib/waagent /etc/azure /var/log/azure`)."]
    confined = [d for d in domains if d != "init_t" and not d.startswith("unconfined")]
    if confined:
        steps.append("If the denials go on, make only the denied domain permissive: "
                     + "; ".join(f"`semanage permissive -a {d}`" for d in confined)
                     + " (undo with `semanage permissive -d`).")
    comms = sorted({a.comm for a in avcs if a.comm})
    flt = " ".join(f"-c {c}" for c in comms[:3])
    steps.append(f"Or build a reviewed local module from these denials only: `ausearch -m AVC "
                 f"-ts recent {flt} | audit2allow -M azbackup_local`, read azbackup_local.te, "
                 f"then `semodule -i azbackup_local.pp`.")
    steps.append("Never disable SELinux or run setenforce 0 as a fix.")
    return " ".join(steps)


@rule("selinux.avc", "No SELinux denials against the agent, the extension or the freeze",
      error_codes=("UserErrorVmNotInDesirableState", "VmNotInDesirableState",
                   "UserErrorFsFreezeFailed"),
      needs_root=True, timeout=30)
def avc(ctx):
    """AVC denials in the audit log that name safefreeze, the agent, handle.sh, fsfreeze, the
    agent's paths or the FIFREEZE/FITHAW ioctl."""
    state = _enabled(ctx)
    found = ctx.fact(avc_denials)
    if not found:
        return ok("no SELinux denials naming the agent, the backup extension or the freeze")
    enforced = [a for a in found
                if a.permissive is False or (a.permissive is None and state.enforcing)]
    freeze = [a for a in found if ioctl_name(a) or a.comm in ("safefreeze", "fsfreeze")]
    evidence = [f"{_when(a)}{a.line[:400]}" for a in found[-15:]]
    what = "the freeze (safefreeze/FIFREEZE)" if freeze else "the agent or the backup extension"
    if enforced:
        res = fail(f"{len(enforced)} SELinux denial(s) blocked {what}", evidence)
    else:
        res = warn(f"{len(found)} SELinux denial(s) against {what} were logged in permissive "
                   f"mode only; they will block once SELinux enforces", evidence)
    res.remedy = _avc_remedy(found)
    return res
