"""Planted faults on the realistic roots of tests/corpus.py: one case for each point of the two
"Corrections" sections (reference/vmbackup-extension.md = "extension Correction N",
reference/walinuxagent.md = "agent Correction N") and for the cases issue 13 names. Each case
says which rule must answer, with which status, and which Azure error code that rule names.

Where today's rules decide differently from the agent or the extension, the case is
xfail(strict=True) with the reason; it flips once the rule follows the upstream source. Cases
without a mark already hold and guard the behaviour the fix must keep."""

import dataclasses
import datetime
import json
import os
from typing import Callable, Optional, Tuple

import corpus
import pytest
from corpus import HANDLER, Root, build, check


@dataclasses.dataclass
class Fault:
    name: str
    distro: str
    plant: Callable[[Root], None]
    rule: str
    status: Tuple[str, ...]              # accepted statuses
    code: Optional[str] = None           # Azure error code the rule must name
    says: Tuple[str, ...] = ()           # words the summary must hold
    evidence_lacks: Tuple[str, ...] = ()
    extra: Optional[Callable] = None     # more assertions: extra(report, root)
    xfail: Optional[str] = None
    needs_root: bool = False
    ref: str = ""                        # "extension N", "agent N" or "issue 13"


def nothing(root):
    pass


# ---- plants ------------------------------------------------------------------------------

def fstab_line_twice(root):
    line = next(ln for ln in root.read("/etc/fstab").splitlines() if "/datadrive" in ln)
    root.fstab_append(line)


def fstab_bind_mount(root):
    root.fstab_append("/srv/data/www /var/www none bind,nofail 0 0")


def fstab_loop_image(root):
    root.write("/srv/data/images/scratch.ext4", b"\0" * 4096)
    root.fstab_append("/srv/data/images/scratch.ext4 /srv/scratch ext4 loop,nofail 0 2")


def fstab_image_without_loop_option(root):
    root.write("/srv/data/images/raw.ext4", b"\0" * 4096)
    root.fstab_append("/srv/data/images/raw.ext4 /srv/raw ext4 defaults,nofail 0 2")


def not_frozen(point, why=""):
    def extra(rep, root):
        res = rep.result("freeze.mount_list")
        assert point not in rep.freeze_list(), res
        assert any(e.startswith(f"not frozen: {point} ") and e.endswith(why)
                   for e in res["evidence"]), res
    return extra


def frozen_once(expected, also):
    """The freeze list is `expected` and each of `also` is listed as frozen with it."""
    def extra(rep, root):
        res = rep.result("freeze.mount_list")
        assert rep.freeze_list_matches(expected), res
        covered = [e.split(": ", 1)[1].split(" [")[0] for e in res["evidence"]
                   if e.startswith("also frozen, with ")]
        assert sorted(covered) == sorted(set(also) - set(rep.freeze_list())), res
    return extra


def freeze_list_is(*points):
    def extra(rep, root):
        assert rep.freeze_list_matches(points), rep.result("freeze.mount_list")
    return extra


def vmbackup(text):
    def plant(root):
        root.vmbackup_conf(text)
    return plant


def vmbackup_utf8_with_locale(lang):
    """A UTF-8 comment in vmbackup.conf on a disk whose /etc/locale.conf (what systemd passes
    to the agent, and so to the extension) says LANG=`lang`."""
    def plant(root):
        root.vmbackup_conf("[SnapshotThread]\n# Sicherung für /home: nicht einfrieren\n"
                           "MountsToSkip = /home\n")
        root.write("/etc/locale.conf", f"LANG={lang}\n")
    return plant


def failed_guest_freeze(root):
    """A run on the guest path (host pre-snapshot unavailable) whose freeze failed: the status
    keeps `code` 121 and the extension error code is overwritten with 761
    (freezesnapshotter.py takeSnapshotFromFirstHostThenGuest)."""
    root.write_status(code=121, health_code=761, real_status="error",
                      message="snapshotCreator=guestExtension, hostStatusCodePreSnapshot=555, ",
                      ext_error="FailedRetryableSnapshotFailedRestrictedNetwork", age_minutes=30)
    when = root.now - datetime.timedelta(minutes=31)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    prefix = f"[{HANDLER}-1.0]"
    binary = f"{root.ext_dir}/main/safefreeze/bin/safefreeze"
    lines = ["****** 1. Starting Freeze Binary ",
             "arg : " + repr([binary, "60", "/datadrive", "/"]),
             "****** 2. Binary Freeze Started", "Freezing: /datadrive",
             "Failed to FIFREEZE: /datadrive with error message: Device or resource busy",
             "Failed to FITHAW: /datadrive with error message: Invalid argument",
             "freeze failed for some mount",
             "T:S Enable failed with error: freeze failed for some mount"]
    root.append(f"{corpus.EXT_LOG_DIR}/extension.log",
                "".join(f"{stamp} {prefix}{ln}\n" for ln in lines))


def guest_path_code_is_a_consequence(rep, root):
    ev = rep.result("extension.last_status")["evidence"]
    assert any(e.startswith("vmHealthStatusCode 761") for e in ev), ev
    assert any("761 is what the guest snapshot path records" in e for e in ev), ev


def transitioning(minutes):
    def plant(root):
        root.write_status(code=4, health_code=0, status="success", real_status="transitioning",
                          message="Transitioning state in extension", age_minutes=minutes)
    return plant


def set_conf(**pairs):
    def plant(root):
        for key, value in pairs.items():
            root.set_waagent_conf(key.replace("__", "."), value)
    return plant


def update_to_latest_disabled(root):
    """The agent's own test configuration for this case, appended to the distribution's."""
    text = corpus.upstream_text(
        "WALinuxAgent/tests/data/config/waagent_update_to_latest_version_disabled.conf")
    line = next(ln for ln in text.splitlines() if ln.startswith("AutoUpdate.UpdateToLatestVersion"))
    root.append("/etc/waagent.conf", "\n" + line + "\n")


def agent_manifest(content):
    def plant(root):
        path = f"{root.agent_dir('2.11.1.4')}/HandlerManifest.json"
        if content is None:
            root.remove(path)
        else:
            root.write(path, content)
    return plant


def agent_blacklisted(root):
    root.write(f"{root.agent_dir('2.11.1.4')}/error.json", json.dumps({
        "last_failure": (root.now - datetime.timedelta(hours=2)).timestamp(),
        "failure_count": 3, "was_fatal": False,
        "reason": "Agent WALinuxAgent-2.11.1.4 launched with command 'python3 -u bin/"
                  "WALinuxAgent-2.11.1.4-py3.8.egg -run-exthandlers' failed with return code: 1"}))


def waagent_conf_bytes(transform):
    def plant(root):
        root.write("/etc/waagent.conf", transform(root.read_bytes("/etc/waagent.conf")))
    return plant


def latin1_comment(data: bytes) -> bytes:
    return "# Geändert: Logs.Verbose für die Fehlersuche\n".encode("latin-1") + data


def lone_cr_before_extensions_disabled(data: bytes) -> bytes:
    # An editor that ended one line with a bare CR: the agent reads "Logs.Verbose=n\r
    # Extensions.Enabled=n" as one line whose key is Logs.Verbose.
    assert b"Logs.Verbose=n\n" in data
    return data.replace(b"Logs.Verbose=n\n", b"Logs.Verbose=n\rExtensions.Enabled=n\n", 1)


def python_3_14(root):
    root.use_python("3.14")


def python_3_14_with_extension(version):
    def plant(root):
        root.use_python("3.14")
        root.set_extension_version(version)
    return plant


def python_3_14_with_an_older_python_first(root):
    """The workaround of azure-linux-extensions#2172: a Python 3.11 that handle.sh's list
    reaches before python3."""
    root.use_python("3.14")
    root.write("/usr/local/bin/python3.11", corpus.ELF_X86_64, 0o755)
    root.symlink("/usr/local/bin/python3.8", "python3.11")


def extension_version(version):
    def plant(root):
        root.set_extension_version(version)
    return plant


def plugin(changes=None, **kw):
    def plant(root):
        root.script_plugin(changes, **kw)
    return plant


def plugin_bundled_host_conf_writable(root):
    root.script_plugin()
    os.chmod(root.p(f"{root.ext_dir}/main/VMSnapshotPluginHost.conf"), 0o666)


def bundled_conf_named(rep, root):
    ev = rep.result("extension.scripts_permissions")["evidence"]
    assert ev == [f"bundled plugin host config {root.ext_dir}/main/VMSnapshotPluginHost.conf: "
                  f"mode 0666: group and others may at most read it (code 314)"], ev


def fs_consistent(rep, root):
    assert "file-system-consistent" in rep.result("extension.scripts_config")["summary"]


def evidence_has_package(name):
    def extra(rep, root):
        ev = rep.result("agent.installed")["evidence"]
        assert any(e.startswith(f"package: {name} ") for e in ev), ev
    return extra


def conf_problems_have_lines(rep, root):
    """Every setting the summary counts is shown with the line it is on."""
    res = rep.result("agent.conf")
    count = int(res["summary"].split()[0])
    located = [e for e in res["evidence"] if e.startswith("line ")]
    assert count == len(located), res


def freeze_keeps_root(rep, root):
    assert rep.freeze_list()[-1:] == ["/"], rep.result("freeze.mount_list")
    res = rep.result("vmbackup_conf.mounts_to_skip")
    assert any("no-op" in e for e in res["evidence"]), res


def other_keys_read(rep, root):
    """The % costs LoggingOff only: SafeFreezeWaitInSeconds = 120 is read, and the integer
    check does not report LoggingOff a second time."""
    assert rep.result("vmbackup_conf.integer_keys")["status"] == "ok"
    assert rep.result("freeze.mount_list")["status"] == "ok"


# ---- the cases ---------------------------------------------------------------------------

def F(ref, *args, **kw) -> Fault:
    return Fault(*args, ref=ref, **kw)


E, A = "extension Correction", "agent Correction"

FAULTS = [
    # extension Correction 1: order (see also test_corpus_healthy: every root)
    F("extension 1", "two_data_disks_in_reverse_mount_order", "ubuntu2404", nothing, "freeze.mount_list",
          ("ok",), extra=freeze_list_is("/data2", "/data1", "/")),
    # extension Correction 2: duplicates
    F("extension 2", "fstab_line_written_twice", "ubuntu2204", fstab_line_twice, "freeze.stacked_mounts",
          ("ok",), extra=freeze_list_is("/datadrive", "/")),
    F("extension 2", "sles_btrfs_subvolumes", "sles15", nothing, "freeze.same_superblock", ("ok",),
          says=("freezes each once",),
          extra=frozen_once(corpus.DISTROS["sles15"].freeze_order,
                            ("/",) + corpus.SLES_BTRFS_SUBVOLS)),
    F("extension 2", "bind_mount_of_a_data_disk", "debian12", fstab_bind_mount, "freeze.same_superblock",
          ("ok",), extra=frozen_once(("/srv/data", "/"), ("/var/www",))),
    # extension Correction 3: loop devices
    F("extension 3", "loop_mounted_image_file", "debian12", fstab_loop_image, "freeze.mount_list", ("ok",),
          extra=not_frozen("/srv/scratch", ": loop device")),
    F("extension 3", "image_file_mounted_without_loop_option", "debian12",
          fstab_image_without_loop_option, "freeze.mount_list", ("ok",),
          extra=not_frozen("/srv/raw", ": loop device")),
    # extension Correction 4: MountsToSkip = /
    F("extension 4", "mountstoskip_root", "ubuntu2204", vmbackup("[SnapshotThread]\nMountsToSkip = /\n"),
          "vmbackup_conf.mounts_to_skip", ("ok",), extra=freeze_keeps_root),
    # extension Correction 5: SafeFreezeWaitInSeconds floor
    F("extension 5", "safefreezewait_2", "ubuntu2404",
          vmbackup("[SnapshotThread]\ntimeout = 60\nSafeFreezeWaitInSeconds = 2\n"),
          "vmbackup_conf.integer_keys", ("fail",), code="UserErrorFsFreezeTimeout",
          says=("SafeFreezeWaitInSeconds",)),
    F("extension 5", "safefreezewait_4_can_work", "ubuntu2404",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 4\n"),
          "vmbackup_conf.integer_keys", ("warn",)),
    # the boundaries: 1 and 3 always time out, 5 can work, 6 is enough
    F("extension 5", "safefreezewait_1", "ubuntu2404",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 1\n"),
          "vmbackup_conf.integer_keys", ("fail",), code="UserErrorFsFreezeTimeout",
          says=("SafeFreezeWaitInSeconds",)),
    F("extension 5", "safefreezewait_3", "ubuntu2404",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 3\n"),
          "vmbackup_conf.integer_keys", ("fail",), code="UserErrorFsFreezeTimeout",
          says=("SafeFreezeWaitInSeconds",)),
    F("extension 5", "safefreezewait_5_can_work", "ubuntu2404",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 5\n"),
          "vmbackup_conf.integer_keys", ("warn",)),
    F("extension 5", "safefreezewait_6", "ubuntu2404",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 6\n"),
          "vmbackup_conf.integer_keys", ("ok",)),
    # extension Correction 6: 121 reported with 761
    F("extension 6", "freeze_failure_reported_with_761", "ubuntu2204", failed_guest_freeze,
          "extension.last_status", ("fail",), code="UserErrorFsFreezeFailed",
          says=("121", "UserErrorFsFreezeFailed"), extra=guest_path_code_is_a_consequence),
    F("extension 6", "freeze_failure_in_extension_log", "ubuntu2204", failed_guest_freeze,
          "freeze.extension_log", ("fail",), code="UserErrorFsFreezeFailed",
          says=("/datadrive",)),
    # extension Correction 7: UTF-8 vmbackup.conf
    F("extension 7", "vmbackup_conf_utf8_comment", "ubuntu2204",
          vmbackup("[SnapshotThread]\n# Sicherung für /datadrive: nicht einfrieren\n"
                   "MountsToSkip = /datadrive\n"),
          "vmbackup_conf.parses", ("ok",)),
    F("extension 7", "vmbackup_conf_utf8_platform_python_c_locale", "rhel8",
          vmbackup_utf8_with_locale("C"), "vmbackup_conf.parses", ("warn",),
          says=("/usr/libexec/platform-python", "Python 3.6")),
    F("extension 7", "vmbackup_conf_utf8_platform_python_utf8_locale", "rhel8",
          vmbackup_utf8_with_locale("en_US.UTF-8"), "vmbackup_conf.parses", ("ok",),
          says=("LANG=en_US.UTF-8",)),
    F("extension 7", "vmbackup_conf_bom", "ubuntu2204",
          vmbackup("\ufeff[SnapshotThread]\nMountsToSkip = /datadrive\n"),
          "vmbackup_conf.parses", ("fail",),
          code="VMBackupLinuxExtensionConfFileWrongEncodingFormat"),
    # extension Correction 8: a % costs one key
    F("extension 8", "vmbackup_conf_percent_in_one_key", "debian12",
          vmbackup("[SnapshotThread]\nSafeFreezeWaitInSeconds = 120\n"
                   "LoggingOff = 0 ; log 100% of the run\n"),
          "vmbackup_conf.parses", ("warn",), says=("LoggingOff",), extra=other_keys_read),
    # extension Correction 9: interpreter fallback
    F("extension 9", "rhel8_platform_python_only", "rhel8", nothing, "extension.python", ("ok",),
          says=("/usr/libexec/platform-python",)),
    # extension Correction 10: pre/post errors the backup survives
    F("extension 10", "prepost_timeout_as_string", "rhel9", plugin({"timeoutInSeconds": "60"}),
          "extension.scripts_config", ("warn",), needs_root=True, extra=fs_consistent),
    F("extension 10", "prepost_missing_script_no_freeze", "rhel9",
          plugin({"fsFreezeEnabled": False}, pre=False), "extension.scripts_config", ("warn",),
          needs_root=True),
    F("extension 10", "prepost_missing_script_continue", "rhel9", plugin(pre=False),
          "extension.scripts_config", ("warn",), needs_root=True),
    F("extension 10", "prepost_missing_script_stop", "rhel9",
          plugin({"continueBackupOnFailure": False}, pre=False), "extension.scripts_config",
          ("fail",), code="BackUpOperationFailed", needs_root=True),
    # extension Correction 11: the bundled PluginHost conf is checked too
    F("extension 11", "bundled_pluginhost_conf_writable", "rhel9", plugin_bundled_host_conf_writable,
          "extension.scripts_permissions", ("warn",), needs_root=True, extra=bundled_conf_named),
    # extension Correction 12: snapshotConsistency is always 0
    F("extension 12", "snapshot_consistency_zero_is_no_finding", "ubuntu2404", nothing,
          "extension.last_status", ("ok",), evidence_lacks=("consistency: none",)),
    # extension Correction 13: a transitioning status says success, code 4
    F("extension 13", "transitioning_stuck_for_hours", "ubuntu2404", transitioning(200),
          "extension.last_status", ("fail",), says=("code 4",)),
    F("extension 13", "transitioning_now", "ubuntu2404", transitioning(5), "extension.last_status", ("ok",),
          says=("in progress",)),
    # agent Correction 1: UpdateToLatestVersion=n still runs the newest agent on disk
    F("agent 1", "update_to_latest_version_n_version", "ubuntu2204", update_to_latest_disabled,
          "agent.version", ("warn",), says=("2.11.1.4",)),
    F("agent 1", "update_to_latest_version_n_conf", "ubuntu2204", update_to_latest_disabled,
          "agent.conf", ("ok",)),
    # Not what the Correction's parenthesis says: with the legacy AutoUpdate.Enabled=n alone the
    # daemon runs the package's agent. Daemons before 2.15.0.1 test only AutoUpdate.Enabled
    # (ga/update.py run_latest at v2.2.46 ... v2.14.0.1); 2.15.0.1 (#3404) also runs the newest
    # agent on disk when AutoUpdate.UpdateToLatestVersion is present, whatever its value.
    F("agent 1", "autoupdate_enabled_n_runs_the_package", "ubuntu2204",
          set_conf(AutoUpdate__Enabled="n"), "agent.version", ("fail",),
          code="UserErrorGuestAgentStatusUnavailable", says=("2.2.46",)),
    # agent Correction 2: a usable agent directory has a valid manifest, not blacklisted
    F("agent 2", "agent_dir_without_manifest", "ubuntu2204", agent_manifest(None), "agent.version",
          ("fail",), code="UserErrorGuestAgentStatusUnavailable", says=("2.2.46",)),
    F("agent 2", "agent_dir_with_empty_manifest", "ubuntu2204", agent_manifest("[]"), "agent.version",
          ("fail",), code="UserErrorGuestAgentStatusUnavailable", says=("2.2.46",)),
    F("agent 2", "agent_dir_blacklisted", "ubuntu2204", agent_blacklisted, "agent.version", ("fail",),
          code="UserErrorGuestAgentStatusUnavailable", says=("2.2.46",)),
    # agent Correction 3: strict UTF-8
    F("agent 3", "waagent_conf_not_utf8", "ubuntu2404", waagent_conf_bytes(latin1_comment),
          "agent.conf", ("fail",), code="UserErrorGuestAgentStatusUnavailable"),
    # agent Correction 4: lines split on \n only; only a zero-byte file is empty
    F("agent 4", "waagent_conf_lone_cr", "ubuntu2404",
          waagent_conf_bytes(lone_cr_before_extensions_disabled), "agent.extensions_enabled",
          ("ok",)),
    F("agent 4", "waagent_conf_whitespace_only", "ubuntu2404",
          waagent_conf_bytes(lambda data: b"\n  \n\t\n"), "agent.conf", ("ok",)),
    F("agent 4", "waagent_conf_zero_bytes", "ubuntu2404", waagent_conf_bytes(lambda data: b""),
          "agent.conf", ("fail",), code="UserErrorGuestAgentStatusUnavailable"),
    # agent Correction 5: offline rpm needs --dbpath
    F("agent 5", "rpm_package_rhel9", "rhel9", nothing, "agent.installed", ("ok",),
          extra=evidence_has_package("WALinuxAgent")),
    F("agent 5", "rpm_package_sles_sysimage", "sles15", nothing, "agent.installed", ("ok",),
          extra=evidence_has_package("python-azure-agent")),
    # issue 13: a distribution's stock settings are information, counts match the evidence
    F("issue 13", "debian_stock_settings_are_information", "debian12", nothing, "agent.conf", ("ok",)),
    F("issue 13", "rhel9_cloud_init_keyfile_bound_by_mac", "rhel9", nothing, "dhcp.config",
      ("ok",), says=("DHCP",)),
    F("issue 13", "summary_count_matches_evidence", "debian12", set_conf(Logs__Verbose="yes"),
          "agent.conf", ("warn",), extra=conf_problems_have_lines),
    # issue 13: the extension versions and the Python they start on
    F("issue 13", "python312_with_extension_9218", "ubuntu2404", extension_version("1.0.9218.0"),
          "extension.python", ("warn",), says=("1.0.9218.0",)),
    F("issue 13", "python314_with_extension_9225", "ubuntu2404",
          python_3_14, "extension.python", ("fail",),
          says=("3.14", "1.0.9225.0")),
    F("issue 13", "python314_with_a_newer_extension", "ubuntu2404",
          python_3_14_with_extension("1.0.9230.0"), "extension.python", ("warn",),
          says=("1.0.9230.0", "not known to start", "#2177")),
    F("issue 13", "python314_with_python38_link_first", "ubuntu2404",
          python_3_14_with_an_older_python_first, "extension.python", ("ok",),
          says=("/usr/local/bin/python3.8 (Python 3.11)",)),
]


def _param(f: Fault):
    marks = []
    if f.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=f.xfail))
    if f.needs_root:
        marks.append(pytest.mark.skipif(os.geteuid() != 0, reason="the extension's owner checks "
                                        "need files owned by root: run as root"))
    return pytest.param(f, id=f.name, marks=marks)


@pytest.mark.parametrize("fault", [_param(f) for f in FAULTS])
def test_planted_fault(tmp_path, fault):
    root = build(tmp_path, fault.distro)
    fault.plant(root)
    if root.labels:
        # files made on a running SELinux system get their label from the policy
        corpus.label_tree(root)
    rep = check(root)
    res = rep.result(fault.rule)
    assert res["status"] in fault.status, (res, corpus.describe(rep))
    if fault.code:
        assert fault.code in res["error_codes"], res
    for word in fault.says:
        assert word in res["summary"], res
    for word in fault.evidence_lacks:
        assert not any(word in e for e in res["evidence"]), res
    if fault.extra:
        fault.extra(rep, root)
    assert not rep.with_status("error"), corpus.describe(rep, ("error",))


def test_every_correction_has_a_case():
    """Both Corrections sections, point by point: extension 1-13 here (14 is the catalogue
    test below), agent 1-5, and the issue's own cases."""
    refs = {f.ref for f in FAULTS}
    wanted = {f"extension {n}" for n in range(1, 14)} | {f"agent {n}" for n in range(1, 6)}
    assert wanted | {"issue 13"} == refs
    assert len({f.name for f in FAULTS}) == len(FAULTS)


def test_explain_122_says_the_azure_name_is_inferred():
    """No public source maps 122 to UserErrorFsFreezeTimeout: explain says it is azbdiag's
    inference, from either side (extension Correction 14)."""
    for query in ("122", "UserErrorFsFreezeTimeout"):
        code, text = corpus.explain(query)
        assert code == 0 and "UserErrorFsFreezeTimeout" in text and "122" in text
        assert "azbdiag's inference" in text, text
