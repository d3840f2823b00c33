"""agent.* rules from fixture trees and fake command tables."""

import datetime
import threading

import pytest
from conftest import make_host, run_rule

from azbdiag import engine
from azbdiag.runner import CommandResult

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n'
RHEL = 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n'
DPKG = "Package: waagent\nStatus: install ok installed\nVersion: {v}-1\n"
UNIT = ("[Unit]\nDescription=Azure Linux Agent\n[Service]\n"
        "ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon\n[Install]\n"
        "WantedBy=multi-user.target\n")
CLI = "#!/usr/bin/python3\nimport azurelinuxagent.agent\n"
VERSION_PY = "AGENT_VERSION = '{v}'\n"
MODULE = "/usr/lib/python3/dist-packages/azurelinuxagent/common/version.py"
WANTS = "/etc/systemd/system/multi-user.target.wants/walinuxagent.service"
CONF = "Provisioning.Agent=auto\nExtensions.Enabled=y\nAutoUpdate.Enabled=y\n"


def agent_files(version="2.7.3.0", os_release=DEBIAN, conf=CONF, **extra):
    files = {
        "/etc/os-release": os_release,
        "/var/lib/dpkg/status": DPKG.format(v=version),
        "/usr/sbin/waagent": CLI,
        MODULE: VERSION_PY.format(v=version),
        "/lib/systemd/system/walinuxagent.service": UNIT,
        "/var/lib/waagent": None,
        "/run/systemd/system": None,
    }
    if conf is not None:
        files["/etc/waagent.conf"] = conf
    files.update(extra)
    return files


def host(fs, files, commands=None, live=False, **kw):
    h = make_host(fs, files, commands, root="/" if live else "/disk", live=live, **kw)
    if "/usr/sbin/waagent" in files:
        import os
        os.chmod(h.path("/usr/sbin/waagent"), 0o755)
    return h


def version_cmd(installed, goal):
    return {"/usr/sbin/waagent --version":
            f"WALinuxAgent-{installed} running on debian 12\nPython: 3.11.2\n"
            f"Goal state agent: {goal}\n"}


def status(res):
    return res.status.value


# ---- agent.installed -------------------------------------------------------------------
def test_installed_ok_offline(fs):
    res = run_rule(host(fs, agent_files()), "agent.installed")
    assert status(res) == "ok"
    text = "\n".join(res.evidence)
    assert "waagent 2.7.3.0-1 (dpkg)" in text and "AGENT_VERSION 2.7.3.0" in text


def test_installed_fail_when_nothing(fs):
    res = run_rule(host(fs, {"/etc/os-release": DEBIAN}), "agent.installed")
    assert status(res) == "fail" and "AzureVmOffline" in res.error_codes


def test_installed_warn_module_only(fs):
    res = run_rule(host(fs, {"/etc/os-release": DEBIAN, MODULE: VERSION_PY.format(v="2.9.1.1")}),
                   "agent.installed")
    assert status(res) == "warn" and "no waagent command" in res.summary


def test_installed_skipped_on_empty_root(fs):
    res = run_rule(host(fs, {"/var/x": None}), "agent.installed")
    assert status(res) == "skipped"


# ---- agent.version ---------------------------------------------------------------------
def test_version_ok_offline_from_package(fs):
    res = run_rule(host(fs, agent_files("2.7.3.0")), "agent.version")
    assert status(res) == "ok" and "2.7.3.0" in res.summary


def test_version_fail_live_with_distro_command(fs):
    h = host(fs, agent_files("2.2.45"), version_cmd("2.2.45", "2.2.45"), live=True)
    res = run_rule(h, "agent.version")
    assert status(res) == "fail" and "2.2.53.1" in res.summary
    assert "apt-get install --only-upgrade -y waagent" in res.remedy
    assert res.data["package"] == "waagent" and res.fix == "agent"


def test_version_remedy_per_distro(fs):
    files = agent_files("2.2.45", os_release=RHEL)
    del files["/var/lib/dpkg/status"]
    res = run_rule(host(fs, files), "agent.version")
    assert status(res) == "fail" and "yum update -y WALinuxAgent" in res.remedy


def test_version_warn_when_goal_state_covers(fs):
    h = host(fs, agent_files("2.2.45"), version_cmd("2.2.45", "2.9.1.1"), live=True)
    res = run_rule(h, "agent.version")
    assert status(res) == "warn" and "2.9.1.1" in res.summary


def test_version_blacklisted_dir_is_ignored(fs):
    files = agent_files("2.2.45", **{
        "/var/lib/waagent/WALinuxAgent-2.9.1.1/error.json": '{"was_fatal": true, "reason": "x"}',
        "/var/lib/waagent/WALinuxAgent-2.2.50/HandlerManifest.json": "[]",
    })
    res = run_rule(host(fs, files), "agent.version")
    assert status(res) == "fail"
    assert any("blacklisted" in e for e in res.evidence)


MANIFEST = ('[{"name": "WALinuxAgent", "version": 1.0, "handlerManifest": {"enableCommand": '
            '"python -u bin/WALinuxAgent-2.9.1.1-py3.8.egg -run-exthandlers"}}]')


def test_version_usable_dir_counts(fs):
    files = agent_files("2.2.45", **{"/var/lib/waagent/WALinuxAgent-2.9.1.1/HandlerManifest.json":
                                     MANIFEST})
    res = run_rule(host(fs, files), "agent.version")
    assert status(res) == "warn" and res.data["effective"] == "2.9.1.1"


@pytest.mark.parametrize("manifest,why", [
    (None, "there is no HandlerManifest.json"), ("[]", "an empty list"),
    ('[{"handlerManifest": {"enableCommand": ""}}]', "no enableCommand"), ("{", "not valid JSON")])
def test_version_dir_without_a_loadable_manifest_is_not_usable(fs, manifest, why):
    """ga/guestagent.py _load_manifest: such a directory is deleted and never run."""
    extra = {"/var/lib/waagent/WALinuxAgent-2.9.1.1/bin/x.egg": "egg"}
    if manifest is not None:
        extra["/var/lib/waagent/WALinuxAgent-2.9.1.1/HandlerManifest.json"] = manifest
    res = run_rule(host(fs, agent_files("2.2.45", **extra)), "agent.version")
    assert status(res) == "fail" and res.data["effective"] == "2.2.45"
    assert any(why in e and "not usable" in e for e in res.evidence), res.evidence


@pytest.mark.parametrize("daemon,conf,effective", [
    # daemons before 2.15.0.1 read only AutoUpdate.Enabled (ga/update.py run_latest)
    ("2.2.46", "AutoUpdate.UpdateToLatestVersion=n\n", "2.9.1.1"),
    ("2.2.46", "AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=y\n", "2.2.46"),
    ("2.2.46", "AutoUpdate.Enabled=n\n", "2.2.46"),
    # 2.15.0.1 (#3404): UpdateToLatestVersion present runs the newest on disk
    ("2.15.0.1", "AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=n\n", "2.16.0.0"),
    ("2.15.0.1", "AutoUpdate.Enabled=n\n", "2.15.0.1"),
    ("2.15.0.1", "", "2.16.0.0"),
])
def test_version_which_agent_handles_extensions(fs, daemon, conf, effective):
    newest = "2.16.0.0" if daemon.startswith("2.15") else "2.9.1.1"
    files = agent_files(daemon, conf="Provisioning.Agent=auto\n" + conf, **{
        f"/var/lib/waagent/WALinuxAgent-{newest}/HandlerManifest.json": MANIFEST})
    res = run_rule(host(fs, files), "agent.version")
    assert res.data["effective"] == effective, res.evidence


def test_version_skipped_without_agent(fs):
    res = run_rule(host(fs, {"/etc/os-release": DEBIAN}), "agent.version")
    assert status(res) == "skipped"


# ---- agent.service ---------------------------------------------------------------------
def test_service_skipped_when_systemd_is_not_running(fs):
    files = agent_files()
    files.pop("/run/systemd/system", None)
    res = run_rule(host(fs, files, systemctl("inactive", "enabled"), live=True), "agent.service")
    assert status(res) == "skipped" and "systemd is not running" in res.summary


def systemctl(active, enabled):
    return {"systemctl --version": "systemd 252",
            "systemctl is-active walinuxagent.service": (0 if active == "active" else 3, active),
            "systemctl is-enabled walinuxagent.service": (0, enabled)}


def test_service_live_ok(fs):
    res = run_rule(host(fs, agent_files(), systemctl("active", "enabled"), live=True),
                   "agent.service")
    assert status(res) == "ok" and res.data["unit"] == "walinuxagent.service"


def test_service_live_inactive_fails(fs):
    res = run_rule(host(fs, agent_files(), systemctl("inactive", "enabled"), live=True),
                   "agent.service")
    assert status(res) == "fail" and res.data["active"] is False


def test_service_live_disabled_warns(fs):
    res = run_rule(host(fs, agent_files(), systemctl("active", "disabled"), live=True),
                   "agent.service")
    assert status(res) == "warn"


def test_service_live_masked_fails(fs):
    res = run_rule(host(fs, agent_files(), systemctl("inactive", "masked"), live=True),
                   "agent.service")
    assert status(res) == "fail" and "masked" in res.summary


def test_service_offline_enabled_link(fs):
    h = host(fs, agent_files())
    fs.create_symlink("/disk" + WANTS, "/lib/systemd/system/walinuxagent.service")
    res = run_rule(h, "agent.service")
    assert status(res) == "ok"


def test_service_offline_not_enabled(fs):
    res = run_rule(host(fs, agent_files()), "agent.service")
    assert status(res) == "fail" and res.data["wanted_by"] == ["multi-user.target"]


def test_service_offline_masked(fs):
    h = host(fs, agent_files())
    fs.create_symlink("/disk/etc/systemd/system/walinuxagent.service", "/dev/null")
    res = run_rule(h, "agent.service")
    assert status(res) == "fail" and "masked" in res.summary


def test_service_unit_name_per_distro(fs):
    files = agent_files(os_release=RHEL)
    files["/usr/lib/systemd/system/waagent.service"] = UNIT
    del files["/lib/systemd/system/walinuxagent.service"]
    res = run_rule(host(fs, files), "agent.service")
    assert res.data["unit"] == "waagent.service"


def test_service_skipped_without_agent(fs):
    res = run_rule(host(fs, {"/etc/os-release": DEBIAN}), "agent.service")
    assert status(res) == "skipped"


# ---- agent.disable_agent ---------------------------------------------------------------
def test_disable_agent(fs):
    h = host(fs, agent_files(**{"/var/lib/waagent/disable_agent": ""}))
    res = run_rule(h, "agent.disable_agent")
    assert status(res) == "fail" and res.data["path"] == "/var/lib/waagent/disable_agent"


def test_disable_agent_ok_and_skipped(fs):
    assert status(run_rule(host(fs, agent_files()), "agent.disable_agent")) == "ok"


def test_disable_agent_skipped(fs):
    assert status(run_rule(host(fs, {"/etc/os-release": DEBIAN}), "agent.disable_agent")) == "skipped"


# ---- agent.python_import ---------------------------------------------------------------
IMPORT = "/usr/bin/python3 -c import azurelinuxagent.agent"


def test_python_import_ok(fs):
    res = run_rule(host(fs, agent_files(), {IMPORT: ""}, live=True), "agent.python_import")
    assert status(res) == "ok"


def test_python_import_fail(fs):
    cmds = {IMPORT: (1, "", "ModuleNotFoundError: No module named 'azurelinuxagent'\n")}
    res = run_rule(host(fs, agent_files(), cmds, live=True), "agent.python_import")
    assert status(res) == "fail" and "ModuleNotFoundError" in res.evidence[0]


def test_python_import_uses_shebang_when_unit_does_not_say(fs):
    files = agent_files(**{"/lib/systemd/system/walinuxagent.service":
                           "[Service]\nExecStart=/usr/sbin/waagent -daemon\n",
                           "/usr/sbin/waagent": "#!/usr/bin/env python3\n"})
    cmds = {"/usr/bin/env python3 -c import azurelinuxagent.agent": ""}
    res = run_rule(host(fs, files, cmds, live=True), "agent.python_import")
    assert status(res) == "ok"


def test_python_import_skipped_offline(fs):
    res = run_rule(host(fs, agent_files()), "agent.python_import")
    assert status(res) == "skipped" and res.skip_reason == "offline root"


# ---- agent.heartbeat and agent.log_errors ----------------------------------------------
NOW = datetime.datetime(2025, 11, 20, 12, 0, tzinfo=datetime.timezone.utc)
BEAT = ("{t}Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent WALinuxAgent-2.15.0.1 is running as "
        "the goal state agent [DEBUG HeartbeatCounter: 1;HeartbeatId: x;UpdateGSErrors: {e};"
        "AutoUpdate: 1]\n")
LOG = "/var/log/waagent.log"


def log_host(fs, text):
    return host(fs, agent_files(**{LOG: text}))


def test_heartbeat_recent_ok(fs):
    res = run_rule(log_host(fs, BEAT.format(t="2025-11-20T11:50:00.000000", e=0)),
                   "agent.heartbeat", now=NOW)
    assert status(res) == "ok" and "10 min" in res.summary


def test_heartbeat_stale_fails(fs):
    text = BEAT.format(t="2025-11-20T08:00:00.000000", e=0)
    res = run_rule(log_host(fs, text), "agent.heartbeat", now=NOW)
    assert status(res) == "fail" and "4 h" in res.summary


def test_heartbeat_offline_measured_against_end_of_log(fs):
    text = (BEAT.format(t="2025-11-20T08:00:00.000000", e=0)
            + "2025-11-20T11:00:00.000000Z INFO Daemon Daemon still here\n")
    res = run_rule(log_host(fs, text), "agent.heartbeat")
    assert status(res) == "fail" and "end of the log" in res.summary


def test_heartbeat_update_errors_warn(fs):
    res = run_rule(log_host(fs, BEAT.format(t="2025-11-20T11:50:00.000000", e=4)),
                   "agent.heartbeat", now=NOW)
    assert status(res) == "warn" and "4 goal state" in res.summary


def test_heartbeat_none_warns(fs):
    res = run_rule(log_host(fs, "2025-11-20T11:50:00.000000Z INFO Daemon Daemon hello\n"),
                   "agent.heartbeat", now=NOW)
    assert status(res) == "warn"


def test_heartbeat_skipped_without_log(fs):
    assert status(run_rule(host(fs, agent_files()), "agent.heartbeat", now=NOW)) == "skipped"


def test_log_errors_grouped(fs):
    text = ("2025-11-19T01:00:00.000000Z ERROR ExtHandler ExtHandler old error outside window\n"
            + "".join(f"2025-11-20T1{i}:00:00.000000Z WARNING ExtHandler ExtHandler Error fetching "
                      f"the goal state: [ProtocolError] timed out\n" for i in range(3))
            + "2025-11-20T11:30:00.000000Z ERROR ExtHandler ExtHandler Something odd 42\n")
    res = run_rule(log_host(fs, text), "agent.log_errors", now=NOW)
    assert status(res) == "warn"
    assert res.evidence[0].startswith("3x goal state fetch failing")
    assert any("Something odd N" in e for e in res.evidence)
    assert not any("old error" in e for e in res.evidence)


def test_log_errors_ok_and_skipped(fs):
    res = run_rule(log_host(fs, BEAT.format(t="2025-11-20T11:50:00.000000", e=0)),
                   "agent.log_errors", now=NOW)
    assert status(res) == "ok"


def test_log_errors_skipped(fs):
    assert status(run_rule(host(fs, agent_files()), "agent.log_errors")) == "skipped"


def test_binary_log_is_a_finding_not_a_crash(fs):
    res = run_rule(log_host(fs, b"\x00\xff\xfe garbage\n\x89PNG"), "agent.heartbeat", now=NOW)
    assert status(res) == "warn"


# ---- waagent.conf rules ----------------------------------------------------------------
def test_extensions_enabled_fail(fs):
    h = host(fs, agent_files(conf="Provisioning.Agent=auto\nExtensions.Enabled=n\n"))
    res = run_rule(h, "agent.extensions_enabled")
    assert status(res) == "fail" and res.data == {"conf_path": "/etc/waagent.conf", "line": 2}
    assert "GuestAgentSnapshotTaskStatusError" in res.error_codes


def test_extensions_enabled_invalid_boolean_warns(fs):
    res = run_rule(host(fs, agent_files(conf="Extensions.Enabled=no\n")), "agent.extensions_enabled")
    assert status(res) == "warn" and "silently ignores" in res.summary


def test_extensions_enabled_default_ok(fs):
    res = run_rule(host(fs, agent_files(conf="# nothing\n")), "agent.extensions_enabled")
    assert status(res) == "ok" and "default" in res.summary


def test_extensions_enabled_skipped(fs):
    res = run_rule(host(fs, {"/etc/os-release": DEBIAN}), "agent.extensions_enabled")
    assert status(res) == "skipped"


def test_conf_warns_on_ignored_booleans_and_autoupdate(fs):
    conf = ("Provisioning.Agent=auto\nAutoUpdate.Enabled=n\nOS.EnableFirewall=true\n"
            "HttpProxy.Host=10.0.0.5\nHttpProxy.Port=3128\n")
    res = run_rule(host(fs, agent_files(conf=conf)), "agent.conf")
    assert status(res) == "warn"
    text = "\n".join(res.evidence)
    assert "line 3: OS.EnableFirewall=true is silently ignored" in text
    assert "HttpProxy.Host=10.0.0.5" in text
    # auto-update off is information while the agent it leaves running is supported
    assert res.summary.startswith("1 setting(s)") and "AutoUpdate.Enabled=n (line 2)" in text


def test_conf_autoupdate_off_counts_when_it_keeps_an_old_agent(fs):
    res = run_rule(host(fs, agent_files("2.2.45", conf="AutoUpdate.Enabled=n\n")), "agent.conf")
    assert status(res) == "warn" and res.evidence[0].startswith("line 1: AutoUpdate.Enabled=n "
                                                                "keeps the agent at 2.2.45")


def test_conf_strict_utf8_and_newlines_only(fs):
    """common/utils/fileutil.py read_file decodes strictly; common/conf.py splits on \\n."""
    res = run_rule(host(fs, agent_files(conf=b"# Ge\xe4ndert\nExtensions.Enabled=y\n")),
                   "agent.conf")
    assert status(res) == "fail" and "not UTF-8" in res.summary
    assert res.evidence == ["/etc/waagent.conf: byte 0xe4 at offset 4 (line 1) is not UTF-8"]
    assert "UserErrorGuestAgentStatusUnavailable" in res.error_codes


def test_conf_lone_cr_keeps_extensions_enabled(fs):
    h = host(fs, agent_files(conf="Logs.Verbose=n\rExtensions.Enabled=n\n"))
    assert status(run_rule(h, "agent.extensions_enabled")) == "ok"
    res = run_rule(h, "agent.conf")
    assert status(res) == "warn" and "carriage return" in res.evidence[0]


def test_conf_whitespace_loads_with_defaults(fs):
    res = run_rule(host(fs, agent_files(conf=" \n\t\n")), "agent.conf")
    assert status(res) == "ok" and "every setting takes its default" in res.evidence[0]


def test_conf_ok(fs):
    res = run_rule(host(fs, agent_files()), "agent.conf")
    assert status(res) == "ok" and "Provisioning.Agent=auto (line 1)" in res.evidence


def test_conf_empty_fails_and_missing_skips(fs):
    assert status(run_rule(host(fs, agent_files(conf="")), "agent.conf")) == "fail"


def test_conf_missing_skips(fs):
    assert status(run_rule(host(fs, agent_files(conf=None)), "agent.conf")) == "skipped"


# ---- noexec and disk space -------------------------------------------------------------
MOUNTINFO = ("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
             "30 22 8:2 / /var rw,{opts},relatime - ext4 /dev/sda2 rw\n")


def test_noexec_fails(fs):
    h = host(fs, agent_files(**{"/proc/self/mountinfo": MOUNTINFO.format(opts="noexec")}), live=True)
    res = run_rule(h, "agent.noexec")
    assert status(res) == "fail" and res.data["mount_point"] == "/var"


def test_noexec_ok(fs):
    h = host(fs, agent_files(**{"/proc/self/mountinfo": MOUNTINFO.format(opts="nodev")}), live=True)
    assert status(run_rule(h, "agent.noexec")) == "ok"


def test_noexec_offline_fstab_and_skipped(fs):
    h = host(fs, agent_files(**{"/etc/fstab": "UUID=1 / ext4 defaults 0 1\n"
                                              "UUID=2 /var ext4 defaults,noexec 0 2\n"}))
    assert status(run_rule(h, "agent.noexec")) == "fail"


def test_noexec_skipped(fs):
    assert status(run_rule(host(fs, agent_files()), "agent.noexec")) == "skipped"


def df(free_kib, pct, ifree=100000, ipct=5):
    root = {"df -P -k /": "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                          "/dev/sda1 30000000 1 20000000 1% /\n",
            "df -P -i /": "Filesystem Inodes IUsed IFree IUse% Mounted on\n"
                          "/dev/sda1 200000 1 190000 1% /\n"}
    return {**root,
        "df -P -k /var/lib/waagent": f"Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                                     f"/dev/sda2 10000000 1 {free_kib} {pct}% /var\n",
        "df -P -i /var/lib/waagent": f"Filesystem Inodes IUsed IFree IUse% Mounted on\n"
                                     f"/dev/sda2 200000 1 {ifree} {ipct}% /var\n",
        "df -P -k /var/log": f"Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                             f"/dev/sda2 10000000 1 {free_kib} {pct}% /var\n",
        "df -P -i /var/log": f"Filesystem Inodes IUsed IFree IUse% Mounted on\n"
                             f"/dev/sda2 200000 1 {ifree} {ipct}% /var\n",
    }


def space_host(fs, commands):
    files = agent_files(**{"/var/log": None, "/proc/self/mountinfo": MOUNTINFO.format(opts="nodev")})
    return host(fs, files, commands, live=True)


def test_disk_space_ok(fs):
    res = run_rule(space_host(fs, df(5_000_000, 50)), "agent.disk_space")
    # / and /var measured once each (/var/lib/waagent and /var/log share /var)
    assert status(res) == "ok" and len(res.evidence) == 2
    assert res.evidence[0].startswith("/: ") and res.evidence[1].startswith("/var/lib/waagent: ")


def test_disk_space_fail(fs):
    res = run_rule(space_host(fs, df(10_000, 100)), "agent.disk_space")
    assert status(res) == "fail"


def test_disk_space_inodes_warn(fs):
    res = run_rule(space_host(fs, df(5_000_000, 50, ifree=5000, ipct=97)), "agent.disk_space")
    assert status(res) == "warn"


class FakeStatvfs:
    """os.statvfs results by path, for the hosts of these tests (pyfakefs has none)."""

    def __init__(self, **by_path):
        self.by_path, self.calls = by_path, []

    def __call__(self, path):
        import collections
        self.calls.append(path)
        S = collections.namedtuple("S", "f_frsize f_blocks f_bfree f_bavail f_files f_ffree")
        return S(*self.by_path[path])


def test_disk_space_local_fs_uses_statvfs_not_df(fs):
    h = space_host(fs, {})
    # / : 4 KiB blocks, 30000000 KiB, 20000000 free; /var: 10 GB, 10000 KiB available
    h.statvfs = FakeStatvfs(**{"/": (4096, 7_500_000, 5_000_000, 5_000_000, 200_000, 190_000),
                               "/var/lib/waagent": (4096, 2_500_000, 2_500, 2_500, 200_000, 100),
                               "/var/log": (4096, 2_500_000, 2_500, 2_500, 200_000, 100)})
    res = run_rule(h, "agent.disk_space")
    assert h.runner.calls == []
    assert status(res) == "fail" and "/var/lib/waagent: almost no free space" in res.summary
    assert res.evidence[0] == ("/: 19531 MiB free of 29296 MiB (34% used), 190000 inodes free "
                               "(5% used)")
    assert len(res.evidence) == 2      # /var/lib/waagent and /var/log share /var


def test_disk_space_statvfs_only_on_local_types(fs):
    mi = ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
          "30 22 0:50 / /var rw - fuse.sshfs srv:/var rw\n")
    h = host(fs, agent_files(**{"/var/log": None, "/proc/self/mountinfo": mi}), df(5_000_000, 50),
             live=True)
    h.statvfs = FakeStatvfs(**{"/": (4096, 7_500_000, 5_000_000, 5_000_000, 200_000, 190_000)})
    res = run_rule(h, "agent.disk_space")
    assert h.statvfs.calls == ["/"] and h.runner.calls == []
    assert "not measured (remote)" in " ".join(res.evidence)


def test_disk_space_remote_fs_not_touched(fs):
    mi = ("22 1 8:1 / / rw - nfs4 srv:/ rw\n30 22 0:50 / /var rw - nfs4 srv:/var rw\n")
    h = host(fs, agent_files(**{"/var/log": None, "/proc/self/mountinfo": mi}), {}, live=True)
    res = run_rule(h, "agent.disk_space")
    assert status(res) == "skipped" and "remote" in res.summary
    assert h.runner.calls == []


def test_disk_space_root_full_fails(fs):
    cmds = df(5_000_000, 50)
    cmds["df -P -k /"] = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                          "/dev/sda1 30000000 29990000 10000 100% /\n")
    res = run_rule(space_host(fs, cmds), "agent.disk_space")
    assert status(res) == "fail" and "/: almost no free space" in res.summary


def test_disk_space_odd_df_output(fs):
    cmds = {k: "weird\noutput" for k in df(1, 1)}
    res = run_rule(space_host(fs, cmds), "agent.disk_space")
    assert status(res) == "skipped" and "cannot read df output" in res.summary


# ---- a hung command cannot stall the check beyond the rule's timeout -------------------
def test_hung_command_is_cut_by_rule_timeout(fs):
    release = threading.Event()

    def hang(argv, timeout):
        release.wait(30)
        return CommandResult(tuple(argv), None, timed_out=True)

    h = host(fs, agent_files(), {"/usr/sbin/waagent --version": hang}, live=True)
    rule = engine.load_rules()["agent.version"]
    try:
        res = engine.run_one(rule, engine.Context(h, {}), timeout=0.3)
    finally:
        release.set()
    assert res.status.value == "error" and "timed out" in res.summary


def test_command_timeout_reported_as_error_not_traceback(fs):
    def timed_out(argv, timeout):
        return CommandResult(tuple(argv), None, timed_out=True)

    h = host(fs, agent_files(), {"/usr/sbin/waagent --version": timed_out}, live=True)
    res = run_rule(h, "agent.version")
    assert res.status.value == "error" and "did not finish" in res.summary


@pytest.mark.parametrize("rule_id", sorted(r for r in engine.load_rules() if r.startswith("agent.")))
def test_every_agent_rule_can_be_skipped_by_the_user(fs, rule_id):
    h = host(fs, agent_files())
    ctx = engine.Context(h, {})
    res = engine.run_rules(ctx, only=[rule_id], skip=[rule_id])
    assert [r.status.value for r in res] == ["skipped"]


GARBAGE = b"\x00\xff\xfe\x89PNG\r\n\x1a\n=\n#\nExtensions.Enabled\x00=\xff\n[HEARTBEAT]\n\xc3("


@pytest.mark.parametrize("live", [False, True])
def test_garbage_everywhere_gives_findings_not_errors(fs, live):
    files = {p: GARBAGE for p in (
        "/etc/os-release", "/etc/waagent.conf", "/var/log/waagent.log", "/var/lib/dpkg/status",
        MODULE, "/lib/systemd/system/walinuxagent.service", "/usr/sbin/waagent",
        "/var/lib/waagent/WALinuxAgent-2.9.1.1/error.json", "/etc/environment", "/etc/fstab",
        "/proc/self/mountinfo", "/proc/stat", "/proc/meminfo", "/proc/7/comm", "/proc/7/cmdline",
        "/proc/7/environ", "/etc/azure/vmbackup.conf")}
    files["/run/systemd/system"] = None
    garbage_out = GARBAGE.decode("utf-8", "replace")
    commands = {k: (0, garbage_out, garbage_out) for k in (
        "/usr/sbin/waagent --version", "systemctl --version",
        "systemctl is-active walinuxagent.service", "systemctl is-enabled walinuxagent.service",
        "df -P -k /", "df -P -i /", "df -P -k /var/lib/waagent", "df -P -i /var/lib/waagent",
        "/usr/bin/python3 -c import azurelinuxagent.agent")}
    h = host(fs, files, commands, live=live)
    ctx = engine.Context(h, {"cpu_sample_seconds": 0})
    results = engine.run_rules(ctx, only=["agent", "platform"], skip=["platform.wireserver"])
    errors = [(r.id, r.summary) for r in results if r.status.value == "error"]
    assert not errors
    assert len(results) >= 17
