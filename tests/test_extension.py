"""The backup extension rules (rules/extension.py) and their parser (azbdiag/parsers/extension.py)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import make_host, run_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import (
    extension_dir,
    handler_environment,
    handler_state,
    handler_status,
    plugin_config,
    pluginhost_conf,
    proc,
    status_file,
    workload_conf,
)

try:  # load the error catalogue before any test swaps in a fake file system
    from azbdiag import catalogue as _catalogue

    _catalogue.entries()
except (ImportError, AttributeError):  # pragma: no cover - the catalogue is another module
    pass

H = extension_dir.HANDLER
VER = "1.0.9220.0"
EXT = f"/var/lib/waagent/{H}-{VER}"
NOW = 1_800_000_000.0
PLUGIN = "/etc/azure/VMSnapshotScriptPluginConfig.json"


def status_doc(code=1, health=0, message="snapshotCreator=backupHostService, ", consistency=1,
               snapshot_errors=(), telemetry=None):
    """An N.status the way the extension writes it for an ARM VM."""
    tele = [{"Key": k, "Value": v} for k, v in (telemetry or {"extensionVersion": VER}).items()]
    inner = [{"version": "1.0", "timestampUTC": "\\/Date(1768429050000)\\/", "status": {
        "name": H, "operation": "Enable", "status": "success" if code in (0, 1) else "error",
        "code": str(code), "telemetryData": tele,
        "snapshotInfo": [{"isSuccessful": False, "snapshotUri": None, "errorMessage": e,
                          "blobUri": "https://acct.blob.core.windows.net/vhds/osdisk.vhd"}
                         for e in snapshot_errors],
        "vmHealthInfo": {"vmHealthState": 128, "vmHealthStatusCode": health}}}]
    return json.dumps([{"version": "1.0", "timestampUTC": "2027-01-14T22:17:30Z", "status": {
        "name": H, "operation": "Enable", "status": "success", "code": str(code),
        "formattedMessage": {"lang": "en-US", "message": json.dumps(
            {"messageStr": message, "snapshotConsistency": consistency, "jobMessage": ""})},
        "substatus": [{"code": "0", "status": "success", "formattedMessage": None,
                       "name": json.dumps(inner)}]}}])


HANDLER_ENV = json.dumps([{"name": H, "version": 1.0, "handlerEnvironment": {
    "logFolder": f"/var/log/azure/{H}", "configFolder": f"{EXT}/config",
    "statusFolder": f"{EXT}/status", "heartbeatFile": f"{EXT}/heartbeat.log"}}])


def ext_files(ext=EXT, state="Enabled", status=None, seq=3, handler_status=None, env=HANDLER_ENV,
              safefreeze=True):
    files = {
        f"{ext}/HandlerManifest.json": "[]",
        f"{ext}/main/handle.sh": "#!/bin/sh\n",
        f"{ext}/config/{seq}.settings": "{}",
    }
    if env is not None:
        files[f"{ext}/HandlerEnvironment.json"] = env
    if state is not None:
        files[f"{ext}/config/HandlerState"] = state
    if handler_status is not None:
        files[f"{ext}/config/HandlerStatus"] = handler_status
    if status is not None:
        files[f"{ext}/status/{seq}.status"] = status
    if safefreeze:
        files[f"{ext}/main/safefreeze/bin/safefreeze"] = b"\x7fELF"
    return files


def host(fs, files, live=False, mtime=None, **kw):
    h = make_host(fs, files, root="/" if live else "/mnt/disk", live=live, **kw)
    if mtime is not None:
        for path in files:
            if "/status/" in path:
                os.utime(h.path(path), (mtime, mtime))
    sf = h.path(f"{EXT}/main/safefreeze/bin/safefreeze")
    if os.path.exists(sf):
        os.chmod(sf, 0o755)
    return h


# ---- parser ------------------------------------------------------------------------------
def test_parse_status_real_result_is_in_the_substatus():
    rep = status_file.parse_status(status_doc(code=121, health=121, snapshot_errors=["boom"]))
    assert rep.error is None
    assert rep.status == "success" and rep.code == 121
    assert rep.health_code == 121 and rep.real_status == "error"
    assert rep.consistency == 1 and "backupHostService" in rep.message
    assert rep.telemetry["extensionVersion"] == VER
    assert rep.snapshot_errors == ["boom"]


@pytest.mark.parametrize("text,error", [
    ("", "empty"), ("{", "JSON"), ("[]", "no status"), ('[{"status": 3}]', "no status"),
    ("\x00\x01binary", "JSON"),
])
def test_parse_status_bad_input(text, error):
    assert error in status_file.parse_status(text).error


def test_parse_status_plain_message_and_int_code():
    rep = status_file.parse_status('[{"status": {"status": "transitioning", "code": 4, '
                          '"formattedMessage": {"message": "Transitioning state in extension"}}}]')
    assert rep.code == 4 and rep.message == "Transitioning state in extension"
    assert rep.health_code is None


def test_dir_version_and_handler_files():
    assert extension_dir.dir_version(f"{H}-1.0.9220.0") == "1.0.9220.0"
    assert extension_dir.dir_version(f"{H}-latest") is None
    assert extension_dir.dir_version("Microsoft.OSTCExtensions.VMAccessForLinux-1.5") is None
    assert handler_state.parse_handler_state("Enabled\n") == "Enabled"
    hs = handler_status.parse_handler_status('{"status": "NotReady", "code": 1009, "message": "x"}')
    assert (hs.status, hs.code, hs.message) == ("NotReady", 1009, "x")
    env = handler_environment.parse_handler_environment(HANDLER_ENV)
    assert env.error is None and env.folders["statusFolder"].endswith("/status")
    assert handler_environment.parse_handler_environment('[{"name": "x"}]').error


def test_plugin_config_types():
    good = {"pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/pre.sh",
            "postScriptLocation": "/etc/azure/post.sh", "preScriptParams": [],
            "postScriptParams": [], "timeoutInSeconds": 30, "continueBackupOnFailure": True,
            "fsFreezeEnabled": True, "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0}
    conf = plugin_config.parse_plugin_config(json.dumps(good).encode())
    assert conf.error is None and conf.problems == [] and conf.timeout() == 30
    bad = dict(good, timeoutInSeconds="30", continueBackupOnFailure="false",
               preScriptParams="-v", timeout=5)
    conf = plugin_config.parse_plugin_config(json.dumps(bad).encode())
    keys = {p.key: p for p in conf.problems}
    # 304: the extension stops loading the plugin and backs up file-system consistent
    assert keys["timeoutInSeconds"].severity == "warn" and keys["timeoutInSeconds"].code == 304
    assert "treats it as true" in keys["continueBackupOnFailure"].text
    assert "each character" in keys["preScriptParams"].text
    assert "timeoutInSeconds" in keys["timeout"].text
    assert conf.continue_on_failure is True     # "false" is a non-empty string
    over = plugin_config.parse_plugin_config(json.dumps(dict(good, timeoutInSeconds=3600)).encode())
    assert over.timeout() == 1800 and over.problems[0].severity == "warn"
    missing = plugin_config.parse_plugin_config(b'{"preScriptLocation": "/a"}')
    assert missing.error_code == 305 and "postScriptLocation" in missing.error
    assert plugin_config.parse_plugin_config(b"\xef\xbb\xbf{}").error_code == 305
    assert plugin_config.parse_plugin_config(b"[1, 2]").error_code == 304


def test_pluginhost_conf_and_workload():
    conf = pluginhost_conf.parse_pluginhost_conf("[pre_post]\ntimeoutInSeconds: 3600\nnumberOfPlugins: 1\n"
                                    "pluginName0: ScriptRunner\npluginPath0: /etc/azure\n"
                                    "pluginConfigPath0: /etc/azure/my.json\n")
    assert conf.error is None and conf.timeout == 1800 and conf.plugin_config == "/etc/azure/my.json"
    assert pluginhost_conf.parse_pluginhost_conf("[pre_post]\ntimeoutInSeconds: soon\n").error
    assert workload_conf.parse_workload_name("[workload]\nworkload_name = Oracle\n") == "oracle"
    assert workload_conf.parse_workload_name("[workload]\nworkload_name =\n") is None


def test_proc_parsers():
    assert proc.parse_cmdline(b"/x/safefreeze\x0060\x00/data\x00") == ["/x/safefreeze", "60", "/data"]
    stat = "123 (safe freeze) D " + " ".join(["0"] * 18) + " 4200 0 0"
    parsed = proc.parse_proc_stat(stat)
    assert parsed.state == "D" and parsed.start_ticks == 4200
    assert proc.parse_proc_stat("garbage") is None
    assert proc.parse_uptime("345.6 100.0\n") == 345.6 and proc.parse_uptime("nan") is None


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["status", "code", "substatus", "name", "vmHealthInfo",
                         "vmHealthStatusCode", "formattedMessage", "message", "telemetryData",
                         "snapshotInfo", "Key", "Value", "handlerEnvironment", "timeoutInSeconds",
                         "preScriptLocation", "postScriptLocation", "preScriptParams",
                         "continueBackupOnFailure", "errorMessage", "isSuccessful"]),
        inner, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_fuzz_json_parsers_never_raise(value):
    text = json.dumps(value)
    for candidate in (text, json.dumps([{"status": {"substatus": [{"name": text}]}}])):
        assert isinstance(status_file.parse_status(candidate), status_file.ExtStatus)
    handler_status.parse_handler_status(text)
    handler_environment.parse_handler_environment(text)
    conf = plugin_config.parse_plugin_config(text.encode())
    conf.timeout()
    assert isinstance(conf.continue_on_failure, bool)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_every_parser_on_bytes(raw):
    text = raw.decode("utf-8", "replace")
    status_file.parse_status(raw)
    status_file.parse_status(text)
    handler_state.parse_handler_state(raw)
    handler_status.parse_handler_status(text)
    handler_environment.parse_handler_environment(raw)
    plugin_config.parse_plugin_config(raw)
    pluginhost_conf.parse_pluginhost_conf(text)
    workload_conf.parse_workload_name(text)
    proc.parse_cmdline(raw)
    proc.parse_proc_stat(text)
    proc.parse_uptime(text)
    extension_dir.dir_version(text)
    extension_dir.version_tuple(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["[pre_post]", "[workload]", "timeoutInSeconds: 10",
                                 "numberOfPlugins: x", "numberOfPlugins: 2", "pluginConfigPath0:",
                                 "workload_name = mysql", "  indented", "%(x)s", "=", "[", ""]),
                max_size=10))
def test_fuzz_ini_parsers(lines):
    text = "\n".join(lines)
    assert isinstance(pluginhost_conf.parse_pluginhost_conf(text), pluginhost_conf.PluginHostConf)
    workload_conf.parse_workload_name(text)


# ---- extension.installed -----------------------------------------------------------------
def test_installed_ok(fs):
    res = run_rule(host(fs, ext_files()), "extension.installed")
    assert res.status.value == "ok" and VER in res.summary


def test_installed_not_installed_warns(fs):
    res = run_rule(host(fs, {"/var/lib/waagent/ovf-env.xml": "x"}), "extension.installed")
    assert res.status.value == "warn" and "not installed" in res.summary


def test_installed_skipped_without_waagent_dir(fs):
    res = run_rule(host(fs, {"/etc/hostname": "vm\n"}), "extension.installed")
    assert res.status.value == "skipped"


@pytest.mark.parametrize("kw,words", [
    ({"state": "FailedUpgrade"}, "FailedUpgrade"),
    ({"env": None}, "HandlerEnvironment.json is missing"),
    ({"env": "[{]"}, "unusable"),
    ({"handler_status": '{"status": "NotReady", "code": 1009, "message": "enable failed"}'},
     "NotReady"),
])
def test_installed_fail(fs, kw, words):
    res = run_rule(host(fs, ext_files(**kw)), "extension.installed")
    assert res.status.value == "fail" and words in res.summary


def test_installed_picks_enabled_of_two_versions(fs):
    files = ext_files()
    files.update(ext_files(ext=f"/var/lib/waagent/{H}-1.0.9184.0", state="Installed"))
    res = run_rule(host(fs, files), "extension.installed")
    assert res.status.value == "ok" and VER in res.summary
    assert any("2 versions" in e for e in res.evidence)


def test_installed_state_missing_warns(fs):
    res = run_rule(host(fs, ext_files(state=None)), "extension.installed")
    assert res.status.value == "warn"


# ---- extension.stuck_deletion ------------------------------------------------------------
def test_stuck_deletion_ok(fs):
    assert run_rule(host(fs, ext_files()), "extension.stuck_deletion").status.value == "ok"


def test_stuck_deletion_half_deleted(fs):
    files = ext_files()
    files.update({f"/var/lib/waagent/{H}-1.0.9184.0/config/HandlerState": "NotInstalled",
                  f"/var/lib/waagent/{H}-1.0.9184.0/mrseq": "2"})
    res = run_rule(host(fs, files), "extension.stuck_deletion")
    assert res.status.value == "fail"
    assert "half deleted" in res.evidence[0] and "ExtensionStuckInDeletionState" in res.error_codes


def test_stuck_deletion_old_version_left_warns(fs):
    files = ext_files()
    files.update(ext_files(ext=f"/var/lib/waagent/{H}-1.0.9184.0", state="Installed"))
    res = run_rule(host(fs, files), "extension.stuck_deletion")
    assert res.status.value == "warn" and "1.0.9184.0" in res.evidence[0]


def test_stuck_deletion_skipped_when_not_installed(fs):
    res = run_rule(host(fs, {"/var/lib/waagent/x": "1"}), "extension.stuck_deletion")
    assert res.status.value == "skipped"


# ---- extension.last_status ---------------------------------------------------------------
def test_last_status_success(fs):
    res = run_rule(host(fs, ext_files(status=status_doc(1)), mtime=NOW - 3600),
                   "extension.last_status", now=NOW)
    assert res.status.value == "ok" and "file-system consistent" in res.summary


@pytest.mark.parametrize("code,health,pointer", [
    (121, 121, "freeze.*"),
    (76, 76, "platform.wireserver"),
    (124, 124, "extension.safefreeze"),
])
def test_last_status_failure_points_at_the_rule(fs, code, health, pointer):
    res = run_rule(host(fs, ext_files(status=status_doc(code, health)), mtime=NOW - 60),
                   "extension.last_status", now=NOW)
    assert res.status.value == "fail"
    assert f"failed with {health}" in res.summary and pointer in res.summary
    assert res.data["codes"][-1] == health


@pytest.mark.parametrize("code,health", [(121, 761), (761, 121), (122, 76)])
def test_last_status_names_the_freeze_when_either_code_says_so(fs, code, health):
    """freezesnapshotter.py takeSnapshotFromFirstHostThenGuest overwrites the extension error
    code with 761 (76) on the guest path: the freeze is the cause either way."""
    res = run_rule(host(fs, ext_files(status=status_doc(code, health)), mtime=NOW - 60),
                   "extension.last_status", now=NOW)
    freeze = code if code in (121, 122, 123) else health
    assert res.status.value == "fail" and f"failed with {freeze}" in res.summary
    assert "freeze.*" in res.summary and sorted(res.data["codes"]) == sorted([code, health])
    assert res.data["cause"] == freeze
    assert any("a consequence, not the cause" in e for e in res.evidence)


@pytest.mark.parametrize("consistency,shown", [(0, False), (1, False), (2, False), (3, True)])
def test_last_status_consistency_only_when_crash_consistent(fs, consistency, shown):
    res = run_rule(host(fs, ext_files(status=status_doc(1, consistency=consistency)),
                        mtime=NOW - 60), "extension.last_status", now=NOW)
    assert res.status.value == "ok"
    assert any("consistency" in e for e in res.evidence) == shown


def test_last_status_names_the_azure_error_from_the_catalogue(fs):
    catalogue = pytest.importorskip("azbdiag.catalogue")
    if not hasattr(catalogue, "extension_status"):
        pytest.skip("azbdiag.catalogue.extension_status is not there yet")
    res = run_rule(host(fs, ext_files(status=status_doc(121, 121)), mtime=NOW - 60),
                   "extension.last_status", now=NOW)
    assert "UserErrorFsFreezeFailed" in res.summary


def test_last_status_success_with_script_error_warns(fs):
    res = run_rule(host(fs, ext_files(status=status_doc(1, 317)), mtime=NOW - 60),
                   "extension.last_status", now=NOW)
    assert res.status.value == "warn" and "extension.scripts_permissions" in res.summary


def test_last_status_stuck_in_progress(fs):
    stuck = '[{"status": {"status": "transitioning", "code": "4", "formattedMessage": ' \
            '{"lang": "en-US", "message": "Transitioning state in extension"}}}]'
    old = run_rule(host(fs, ext_files(status=stuck), mtime=NOW - 5 * 3600),
                   "extension.last_status", now=NOW)
    assert old.status.value == "fail" and "crashed or hangs" in old.summary


@pytest.mark.parametrize("stuck", ['[{"status": {"status": "transitioning", "code": "4"}}]',
                                   '[{"status": {"status": "transitioning"}}]'])
def test_last_status_in_progress_recent_is_ok(fs, stuck):
    res = run_rule(host(fs, ext_files(status=stuck), mtime=NOW - 300),
                   "extension.last_status", now=NOW)
    assert res.status.value == "ok" and "in progress" in res.summary


def test_last_status_newest_by_mtime(fs):
    files = ext_files(status=status_doc(121, 121), seq=3)
    files[f"{EXT}/status/4.status"] = status_doc(1)
    h = host(fs, files)
    os.utime(h.path(f"{EXT}/status/3.status"), (NOW - 100, NOW - 100))
    os.utime(h.path(f"{EXT}/status/4.status"), (NOW - 50, NOW - 50))
    res = run_rule(h, "extension.last_status", now=NOW)
    assert res.status.value == "ok" and "4.status" in res.evidence[0]


def test_last_status_unparseable_file_fails(fs):
    res = run_rule(host(fs, ext_files(status="\x00\xff garbage"), mtime=NOW),
                   "extension.last_status", now=NOW)
    assert res.status.value == "fail" and "does not parse" in res.summary


def test_last_status_settings_without_status_fails(fs):
    res = run_rule(host(fs, ext_files()), "extension.last_status", now=NOW)
    assert res.status.value == "fail" and "wrote no status" in res.summary


def test_last_status_skipped_when_not_installed(fs):
    res = run_rule(host(fs, {"/var/lib/waagent/x": "1"}), "extension.last_status", now=NOW)
    assert res.status.value == "skipped"


# ---- extension.safefreeze ----------------------------------------------------------------
ELF_X86 = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + b"\x3e\x00"
ELF_ARM = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + b"\xb7\x00"


def test_safefreeze_ok_x86(fs):
    files = ext_files()
    files["/bin/sh"] = ELF_X86
    res = run_rule(host(fs, files), "extension.safefreeze")
    assert res.status.value == "ok" and "x86_64" in res.summary


def test_safefreeze_arm_needs_the_arm64_binary(fs):
    files = ext_files()
    files["/bin/sh"] = ELF_ARM
    res = run_rule(host(fs, files), "extension.safefreeze")
    assert res.status.value == "fail" and "safefreezeArm64" in res.summary
    assert "124" in res.summary


def test_safefreeze_not_executable(fs):
    files = ext_files()
    files["/bin/sh"] = ELF_X86
    h = host(fs, files)
    os.chmod(h.path(f"{EXT}/main/safefreeze/bin/safefreeze"), 0o644)
    res = run_rule(h, "extension.safefreeze")
    assert res.status.value == "fail" and "not executable" in res.summary


def test_safefreeze_skipped_unknown_arch_or_not_installed(fs):
    res = run_rule(host(fs, ext_files()), "extension.safefreeze")   # no /bin/sh: arch unknown
    assert res.status.value == "skipped"
    res = run_rule(host(fs, {"/var/lib/waagent/x": "1"}), "extension.safefreeze")
    assert res.status.value == "skipped"


# ---- extension.processes -----------------------------------------------------------------
def proc_files(procs, uptime=10_000.0):
    files = {"/proc/uptime": f"{uptime} 100.0\n", "/proc/locks": ""}
    hz = os.sysconf("SC_CLK_TCK")
    for pid, (argv, state, started) in procs.items():
        files[f"/proc/{pid}/cmdline"] = ("\0".join(argv) + "\0").encode()
        files[f"/proc/{pid}/comm"] = os.path.basename(argv[0])[:15] + "\n"
        files[f"/proc/{pid}/stat"] = (f"{pid} (x) {state} " + " ".join(["0"] * 18)
                                      + f" {int(started * hz)} 0 0\n")
    return files


SF = [f"{EXT}/main/safefreeze/bin/safefreeze", "60", "/data", "/"]
DAEMON = ["/usr/bin/python3", "main/handle.py", "-seqNo:3", "-daemon"]
OTHER_DAEMON = ["/usr/bin/python3", "main/handle.py", "-seqNo:3", "-daemon"]


def test_processes_none_ok(fs):
    h = host(fs, proc_files({"1": (["/sbin/init"], "S", 1)}), live=True)
    res = run_rule(h, "extension.processes")
    assert res.status.value == "ok" and "no safefreeze" in res.summary


def test_processes_running_now_ok(fs):
    h = host(fs, proc_files({"900": (SF, "S", 9_990), "800": (DAEMON, "S", 9_900)}), live=True)
    fs.create_symlink("/proc/800/cwd", EXT)
    res = run_rule(h, "extension.processes")
    assert res.status.value == "ok" and "running right now" in res.summary
    assert len(res.evidence) == 2


def test_processes_hung_safefreeze_fails(fs):
    h = host(fs, proc_files({"900": (SF, "D", 5_000)}), live=True)
    res = run_rule(h, "extension.processes")
    assert res.status.value == "fail" and "frozen" in res.summary
    assert "SIGUSR1" in res.remedy and "pid 900" in res.evidence[0]


def test_processes_hung_daemon_fails(fs):
    h = host(fs, proc_files({"800": (DAEMON, "S", 10.0)}, uptime=20_000.0), live=True)
    fs.create_symlink("/proc/800/cwd", EXT)
    res = run_rule(h, "extension.processes")
    assert res.status.value == "fail" and "daemon" in res.evidence[0]


def test_processes_other_extensions_daemon_is_ignored(fs):
    h = host(fs, proc_files({"700": (OTHER_DAEMON, "S", 10.0)}, uptime=20_000.0), live=True)
    fs.create_symlink("/proc/700/cwd", "/var/lib/waagent/Microsoft.Azure.Other.Thing-1.0")
    assert "no safefreeze" in run_rule(h, "extension.processes").summary


def test_processes_skipped_offline(fs):
    res = run_rule(host(fs, ext_files()), "extension.processes")
    assert res.status.value == "skipped" and res.skip_reason == "offline root"


# ---- whole rules on garbage files: a finding, never an error -----------------------------
GARBAGE = st.one_of(st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode()))
EXT_RULES = ("extension.installed", "extension.stuck_deletion", "extension.last_status",
             "extension.python",
             "extension.safefreeze", "extension.scripts_config", "extension.scripts_permissions")


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({
    "config/HandlerState": GARBAGE, "config/HandlerStatus": GARBAGE,
    "HandlerEnvironment.json": GARBAGE, "status/3.status": GARBAGE, "config/3.settings": GARBAGE,
    "plugin": GARBAGE, "pluginhost": GARBAGE, "workload": GARBAGE}))
def test_rules_on_garbage_never_error(contents):
    import tempfile

    from azbdiag.host import Host
    from azbdiag.runner import FakeRunner

    with tempfile.TemporaryDirectory() as tmp:
        ext = os.path.join(tmp, EXT.lstrip("/"))
        azure = os.path.join(tmp, "etc", "azure")
        os.makedirs(azure)
        targets = {"plugin": os.path.join(azure, "VMSnapshotScriptPluginConfig.json"),
                   "pluginhost": os.path.join(azure, "VMSnapshotPluginHost.conf"),
                   "workload": os.path.join(azure, "workload.conf")}
        for name, data in contents.items():
            path = targets.get(name) or os.path.join(ext, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
        h = Host(root=tmp, runner=FakeRunner({}), is_root=True, live=False)
        for rid in EXT_RULES:
            res = run_rule(h, rid, now=NOW)
            assert res.status.value != "error", (rid, res.summary)


LOCK = "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile"


def lock_line(h, pid):
    st = os.stat(h.path(LOCK))
    return (f"1: POSIX  ADVISORY  WRITE {pid} {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:"
            f"{st.st_ino} 0 EOF\n")


def test_processes_lock_held_by_a_stranger_warns(fs):
    files = proc_files({"1": (["/sbin/init"], "S", 1)})
    files[LOCK] = ""
    h = host(fs, files, live=True)
    with open("/proc/locks", "w") as fh:
        fh.write(lock_line(h, 4242))
    res = run_rule(h, "extension.processes")
    assert res.status.value == "warn" and "pid 4242" in res.evidence[0]


def test_processes_lock_held_by_the_extension_daemon_is_ok(fs):
    files = proc_files({"800": (DAEMON, "S", 9_900)})
    files[LOCK] = ""
    h = host(fs, files, live=True)
    fs.create_symlink("/proc/800/cwd", EXT)
    with open("/proc/locks", "w") as fh:
        fh.write(lock_line(h, 800))
    res = run_rule(h, "extension.processes")
    assert res.status.value == "ok" and any("locked by pid 800" in e for e in res.evidence)


def test_installed_reads_old_agent_handler_state_dir(fs):
    files = ext_files(state=None)
    files[f"/var/lib/waagent/handler_state/{H}-{VER}/state"] = "Enabled"
    res = run_rule(host(fs, files), "extension.installed")
    assert res.status.value == "ok"


@pytest.mark.parametrize("rid", ["extension.installed", "extension.last_status",
                                 "extension.stuck_deletion", "extension.safefreeze"])
def test_not_root_and_waagent_dir_closed_is_skipped(fs, rid):
    h = host(fs, ext_files(status=status_doc(1)), is_root=False)
    os.chmod(h.path("/var/lib/waagent"), 0o700)
    os.chown(h.path("/var/lib/waagent"), 4321, 4321)    # someone else's, whoever runs the test
    res = run_rule(h, rid, now=NOW)
    assert res.status.value == "skipped" and res.skip_reason == "not root"


# ---- extension.python --------------------------------------------------------------------
def test_python_ok_follows_symlinks_to_the_version(fs):
    files = ext_files()
    files["/usr/bin/python3.11"] = b"\x7fELF"
    h = host(fs, files)
    os.chmod(h.path("/usr/bin/python3.11"), 0o755)
    fs.create_symlink(h.path("/usr/bin/python3"), "python3.11")
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "/usr/bin/python3 (Python 3.11)" in res.summary


def test_python_missing_fails_with_shell_log_evidence(fs):
    files = ext_files()
    files["/usr/libexec/platform-python3.6"] = b"\x7fELF"
    files[f"/var/log/azure/{H}/shell.log"] = "2026-11-25 enable: python version unknown\n"
    res = run_rule(host(fs, files), "extension.python")
    assert res.status.value == "fail" and "python version unknown" in res.evidence[0]


def test_python_312_with_old_extension_warns(fs):
    old = f"/var/lib/waagent/{H}-1.0.9184.0"
    files = ext_files(ext=old)
    files["/usr/bin/python3.12"] = b"\x7fELF"
    h = host(fs, files)
    os.chmod(h.path("/usr/bin/python3.12"), 0o755)
    fs.create_symlink(h.path("/usr/bin/python3"), "/usr/bin/python3.12")
    res = run_rule(h, "extension.python")
    assert res.status.value == "warn" and "1.0.9184.0" in res.summary


def test_python_not_root_still_judges_the_interpreter(fs):
    files = {"/var/lib/waagent/x": "1", "/usr/bin/python3.8": b"\x7fELF"}
    h = host(fs, files, is_root=False)
    os.chmod(h.path("/usr/bin/python3.8"), 0o755)
    os.chmod(h.path("/var/lib/waagent"), 0o700)
    os.chown(h.path("/var/lib/waagent"), 4321, 4321)
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "3.8" in res.summary


def test_odd_digit_characters_in_names_and_proc_stat(fs):
    files = ext_files(status=status_doc(1))
    files[f"{EXT}/status/\u00b9.status"] = status_doc(121, 121)
    files[f"{EXT}/config/\u00b2.settings"] = "{}"
    res = run_rule(host(fs, files, mtime=NOW), "extension.last_status", now=NOW)
    assert res.status.value == "ok" and "3.status" in res.evidence[0]
    assert proc.parse_proc_stat("1 (x) S " + " ".join(["0"] * 18) + " \u00b9 0") is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6).filter(lambda t: not any(c.isspace() for c in t)),
                min_size=18, max_size=24))
def test_fuzz_proc_stat_fields(fields):
    parsed = proc.parse_proc_stat("42 (name) " + " ".join(fields))
    assert parsed is None or parsed.start_ticks >= 0
