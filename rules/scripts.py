"""The backup extension's application-consistent pre/post scripts: their configuration
(/etc/azure/VMSnapshotPluginHost.conf, /etc/azure/VMSnapshotScriptPluginConfig.json), the
scripts themselves, the owner and mode the extension demands of each, and `fix --scripts`,
which sets them."""

from __future__ import annotations

import dataclasses
import os
import stat as stat_mod
from typing import List, Optional, Tuple

from azbdiag.engine import rule
from azbdiag.facts import active_ext_path
from azbdiag.fix import Chmod, Chown, fix
from azbdiag.model import SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.plugin_config import (
    HOST_TIMEOUT_CAP,
    PLUGIN_CONFIG,
    PluginConfig,
    parse_plugin_config,
)
from azbdiag.parsers.pluginhost_conf import PLUGIN_HOST_CONF, PluginHostConf, parse_pluginhost_conf
from azbdiag.parsers.workload_conf import parse_workload_name

WORKLOAD_CONF = "/etc/azure/workload.conf"
BUNDLED_HOST_CONF = "main/VMSnapshotPluginHost.conf"
# How the extension goes on when the script setup is wrong (main/handle.py daemon, after
# PluginHost.pre_check): it cannot load the setup (304, 305, 313, 314, 316, 317: a
# file-system-consistent backup, never a failure); validate_scripts rejects a script (302, 303,
# 306, 307: the backup goes on unless continueBackupOnFailure is false); a script fails when
# it runs (the backup stops when continueBackupOnFailure is false, or when fsFreezeEnabled is
# false: "g_fsfreeze_on == False and anyScriptFailed").
LOAD_CODES = (304, 305, 313, 314, 316, 317)
VALIDATE_CODES = (302, 303, 306, 307)


# ---- facts -------------------------------------------------------------------------------
@dataclasses.dataclass
class FileInfo:
    """One file of the pre/post script setup, its stat, and the extension status codes it causes
    when missing or with wrong permissions."""
    role: str                 # plugin host conf, plugin config, pre-script, post-script
    path: str
    st: Optional[os.stat_result]
    code_missing: Optional[int]
    code_perms: int


@dataclasses.dataclass
class ScriptSetup:
    """The pre/post script setup as the extension's PluginHost finds it: the plugin host conf,
    the plugin config and the scripts it names."""
    host_conf: Optional[FileInfo]
    host_conf_parsed: Optional[PluginHostConf]
    config: FileInfo
    parsed: Optional[PluginConfig]
    unreadable: Optional[str]          # why the plugin config could not be read
    scripts: List[FileInfo]


def _stat(host, path) -> Optional[os.stat_result]:
    try:
        return host.stat(path)
    except OSError:
        return None


def scripts_fact(host) -> ScriptSetup:
    """The pre/post script setup as main/PluginHost.py pre_check and load_modules find it:
    /etc/azure/VMSnapshotPluginHost.conf, else the bundled ./main/VMSnapshotPluginHost.conf of
    the extension directory the agent runs, each checked the same way; the plugin config it
    names; the scripts that config names."""
    workload = parse_workload_name(host.try_read_text(WORKLOAD_CONF, 64 * 1024))
    if workload:
        raise SkipRule(SkipReason.NOT_APPLICABLE, f"{WORKLOAD_CONF} selects the {workload} "
                                                  "workload flow, which replaces pre/post scripts")
    host_conf = host_parsed = None
    config_path = PLUGIN_CONFIG
    cap = HOST_TIMEOUT_CAP
    conf_path, role = PLUGIN_HOST_CONF, "plugin host config"
    st = _stat(host, conf_path)
    if st is None or not stat_mod.S_ISREG(st.st_mode):
        active = active_ext_path(host)
        if active is not None:
            conf_path, role = f"{active}/{BUNDLED_HOST_CONF}", "bundled plugin host config"
            st = _stat(host, conf_path)
    if st is not None:
        host_conf = FileInfo(role, conf_path, st, 313, 314)
        try:
            host_parsed = parse_pluginhost_conf(host.read_bytes(conf_path, 65536))
        except OSError as exc:
            if not host.is_root:
                raise SkipRule(SkipReason.NOT_ROOT, f"cannot read {conf_path}: "
                                                    "re-run as root") from None
            host_parsed = PluginHostConf(error=f"unreadable ({exc.strerror})")
        if host_parsed.plugin_config.startswith("/") and not host_parsed.error:
            config_path = host_parsed.plugin_config
        cap = host_parsed.timeout
    config = FileInfo("plugin config", config_path, _stat(host, config_path), 316, 317)
    parsed, unreadable, scripts = None, None, []
    if config.st is not None and stat_mod.S_ISREG(config.st.st_mode):
        try:
            parsed = parse_plugin_config(host.read_bytes(config_path, 1024 * 1024), cap=cap)
        except OSError as exc:
            unreadable = exc.strerror or str(exc)
    if parsed is not None and parsed.error is None:
        for role, path, missing, perms in (("pre-script", parsed.pre, 302, 306),
                                           ("post-script", parsed.post, 303, 307)):
            if path:   # a relative path would be looked up from the extension's directory
                st = _stat(host, path) if path.startswith("/") else None
                scripts.append(FileInfo(role, path, st, missing, perms))
    return ScriptSetup(host_conf, host_parsed, config, parsed, unreadable, scripts)


def _perm_problem(info: FileInfo) -> Optional[str]:
    """What the extension objects to in the owner and mode of `info` (None if nothing)."""
    mode = stat_mod.S_IMODE(info.st.st_mode)
    owner, group, other = mode >> 6 & 7, mode >> 3 & 7, mode & 7
    problems = []
    if info.role.endswith("plugin host config"):
        if group not in (0, 4) or other not in (0, 4):
            problems.append(f"mode {mode:04o}: group and others may at most read it")
    elif info.role == "plugin config":
        if owner % 2 or group or other:
            problems.append(f"mode {mode:04o}: only the owner may have access, and not execute")
    elif group or other:
        problems.append(f"mode {mode:04o}: group and others must have no access")
    if info.st.st_uid != 0:
        problems.append(f"owned by uid {info.st.st_uid}, not root")
    return "; ".join(problems) or None


def _wanted_mode(info: FileInfo) -> int:
    mode = stat_mod.S_IMODE(info.st.st_mode)
    if info.role.endswith("plugin host config"):
        return mode & ~0o033
    if info.role == "plugin config":
        return mode & ~0o177
    return mode & ~0o077


# ---- extension.scripts_config ------------------------------------------------------------
@rule("extension.scripts_config", "Pre/post script configuration is valid for the extension",
      error_codes=("ExtensionConfigParsingFailure", "BackUpOperationFailed"),
      remedy="Edit /etc/azure/VMSnapshotScriptPluginConfig.json: preScriptLocation and "
             "postScriptLocation as full paths to existing scripts, timeoutInSeconds as a "
             "number of at most 1800, continueBackupOnFailure and fsFreezeEnabled as true or "
             "false (not strings), the *Params keys as lists of strings.")
def scripts_config(ctx):
    """VMSnapshotScriptPluginConfig.json with the keys and JSON types the extension's code
    needs, scripts that exist, and a timeoutInSeconds within the extension's limit."""
    setup = ctx.fact(scripts_fact)
    evidence: List[str] = []
    hp = setup.host_conf_parsed
    if hp is not None and hp.error:
        return warn(f"{PLUGIN_HOST_CONF} {hp.error}: the extension skips the scripts "
                    f"(code 304) and backups are only file-system consistent")
    if hp is not None and hp.plugins <= 0:
        return ok(f"{PLUGIN_HOST_CONF} configures no script plugin")
    cfg = setup.config
    if cfg.st is None:
        return ok(f"no pre/post scripts are configured ({cfg.path} is absent): backups are "
                  "file-system consistent")
    if not stat_mod.S_ISREG(cfg.st.st_mode):
        return warn(f"{cfg.path} is not a regular file: the extension ignores it (code 316)")
    if setup.unreadable is not None:
        if not ctx.host.is_root:
            raise SkipRule(SkipReason.NOT_ROOT, f"cannot read {cfg.path}: re-run as root")
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {cfg.path}: {setup.unreadable}")
    parsed = setup.parsed
    if parsed.error:
        return warn(f"the extension cannot load {cfg.path}: {parsed.error} (code "
                    f"{parsed.error_code}); the scripts never run and backups are only "
                    "file-system consistent")
    stops = not parsed.continue_on_failure                          # 302/303 and script runs
    stops_run = stops or parsed.data.get("fsFreezeEnabled") is False    # script runs only
    worst = "ok"

    def note(severity: str) -> None:
        nonlocal worst
        if severity == "fail" or worst == "ok":
            worst = severity

    for problem in parsed.problems:
        code = f" (code {problem.code})" if problem.code else ""
        evidence.append(f"{problem.text}{code}")
        if problem.code in LOAD_CODES:
            note("warn")            # the extension takes a file-system-consistent backup
        elif problem.code in VALIDATE_CODES:
            note("fail" if stops else "warn")
        else:
            note("fail" if problem.severity == "fail" and stops_run else "warn")
    for script in setup.scripts:
        if script.st is None or not stat_mod.S_ISREG(script.st.st_mode):
            evidence.append(f"the {script.role} {script.path} does not exist or is not a file "
                            f"(code {script.code_missing})")
            note("fail" if stops else "warn")
        else:
            sh_note = _shell_note(ctx.host, script.path)
            if sh_note:
                evidence.append(sh_note[0])
                note("fail" if sh_note[1] and stops_run else "warn")
    timeout = parsed.timeout(setup.host_conf_parsed.timeout if hp else HOST_TIMEOUT_CAP)
    summary_tail = (f"; each script may run {timeout:g} s" if timeout is not None else "")
    if parsed.data.get("fsFreezeEnabled") is False:
        evidence.append("fsFreezeEnabled is false: no file system freeze, and a script that "
                        "fails when it runs fails the backup")
    if not parsed.continue_on_failure:
        evidence.append("continueBackupOnFailure is false: a missing or rejected script, or a "
                        "script that fails, fails the backup")
    if worst == "fail":
        return fail(f"the pre/post script setup in {cfg.path} will not work as written", evidence)
    if worst == "warn":
        return warn(f"{cfg.path} has settings that do not do what they seem to{summary_tail}; "
                    f"where the extension cannot use them it takes a file-system-consistent "
                    f"backup instead of an application-consistent one", evidence)
    return ok(f"{cfg.path} is valid{summary_tail}", evidence)


def _shell_note(host, path) -> Optional[Tuple[str, bool]]:
    """The extension runs scripts as `sh <script>`, so the #! line is ignored. Returns a note
    and whether the script cannot work at all that way (None when all is well)."""
    try:
        head = host.read_bytes(path, 256)
    except OSError:
        return None
    if head.startswith(b"\x7fELF"):
        return f"{path} is a compiled program, but the extension runs it with sh", True
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if not first.startswith("#!"):
        return None
    if any(word in first for word in ("python", "perl", "ruby", "node")):
        return (f"{path} starts with {first!r}, but the extension runs it as `sh {path}`, which "
                "ignores that line: it cannot work", True)
    try:
        shell = host.readlink("/bin/sh") if host.islink("/bin/sh") else "sh"
    except OSError:
        shell = "sh"
    if any(word in first for word in ("bash", "zsh", "ksh")) and "bash" not in shell:
        return (f"{path} starts with {first!r}, but the extension runs it as `sh {path}` "
                f"(/bin/sh is {shell}), which ignores that line: shell features beyond POSIX "
                "sh fail", False)
    return None


# ---- extension.scripts_permissions and fix --scripts -------------------------------------
@rule("extension.scripts_permissions", "Pre/post script files have the owner and mode the "
      "extension demands",
      error_codes=("BackUpOperationFailed",), fix="scripts",
      remedy="Make the files root-owned: `chown root:root` them, `chmod 600` "
             "/etc/azure/VMSnapshotScriptPluginConfig.json, `chmod 700` the scripts, and allow "
             "at most read access to group and others on /etc/azure/VMSnapshotPluginHost.conf "
             "(`sudo azbdiag fix --scripts` does this).")
def scripts_permissions(ctx):
    """The extension refuses a plugin config that group or others can access or the owner can
    execute (317), scripts group or others can access (306/307), a plugin host config group or
    others can write or execute (314), and any of them not owned by root."""
    setup = ctx.fact(scripts_fact)
    files = [f for f in (setup.host_conf, setup.config) if f is not None] + setup.scripts
    files = [f for f in files if f.st is not None and stat_mod.S_ISREG(f.st.st_mode)]
    if setup.config.st is None:
        return ok("no pre/post scripts are configured")
    evidence, repairs, seen, codes = [], [], set(), []
    for info in files:
        problem = _perm_problem(info)
        if not problem:
            continue
        evidence.append(f"{info.role} {info.path}: {problem} (code {info.code_perms})")
        codes.append(info.code_perms)
        real = ctx.host.path(info.path)
        if real in seen:
            continue
        seen.add(real)
        repairs.append({"path": info.path, "role": info.role,
                        "chown": info.st.st_uid != 0 or info.st.st_gid != 0,
                        "mode": _wanted_mode(info),
                        "old_mode": stat_mod.S_IMODE(info.st.st_mode)})
    if not evidence:
        if setup.unreadable is not None and not ctx.host.is_root:
            raise SkipRule(SkipReason.NOT_ROOT, f"cannot read {setup.config.path} to find the "
                                                "scripts: re-run as root")
        return ok(f"{len(files)} file(s) have the owner and mode the extension demands")
    parsed = setup.parsed
    stops = parsed is not None and parsed.error is None and not parsed.continue_on_failure
    if stops and any(c in (306, 307) for c in codes):
        return fail("the extension rejects the pre/post scripts and, with "
                    "continueBackupOnFailure false, fails the backup", evidence, repairs=repairs)
    return warn("the extension rejects the pre/post script files, so backups are only "
                "file-system consistent", evidence, repairs=repairs)


@fix("scripts", title="Owner and mode of the pre/post script files",
     rules=("extension.scripts_permissions",), order=30)
def plan_scripts(ctx, findings):
    """chown root:root and chmod the files scripts_permissions found."""
    actions = []
    for res in findings:
        for item in res.data.get("repairs", []):
            if item["chown"]:
                actions.append(Chown(item["path"], 0, 0,
                                     why=f"the extension wants the {item['role']} owned by root"))
            if item["mode"] != item["old_mode"]:
                actions.append(Chmod(item["path"], item["mode"],
                                     why=f"{item['role']}: remove the access the extension "
                                         f"rejects ({item['old_mode']:04o} -> {item['mode']:04o})"))
    return actions
