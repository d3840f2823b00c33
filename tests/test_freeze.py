"""freeze.* rules, the --freeze-test logic and the fix --freeze planner, on fake hosts."""

from __future__ import annotations

import os

import pytest

from azbdiag.fix import RefuseFix
from azbdiag.model import Result, Status, fail
from azbdiag.runner import CommandResult, FakeRunner
from tests.conftest import make_host, run_rule

MI = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 27 8:17 / /data rw,relatime - ext4 /dev/sdb1 rw,errors=remount-ro,seclabel
31 27 8:33 / /logs rw,relatime - xfs /dev/sdc1 rw,attr2
"""
CLEAN = "Filesystem state:         clean\nFilesystem features:      has_journal extent\n"
DIRTY = ("Filesystem state:         not clean with errors\nFilesystem features:      has_journal\n"
         "FS Error count:           4\n")
BLOCK = {"/sys/dev/block/8:1": "../../devices/x/block/sda/sda1",
         "/sys/dev/block/8:17": "../../devices/x/block/sdb/sdb1",
         "/sys/dev/block/8:33": "../../devices/x/block/sdc/sdc1"}


class Runner(FakeRunner):
    """FakeRunner that also answers the open probe (any `sh -c` script) from `probe`."""

    def __init__(self, table, probe=None):
        super().__init__(table)
        self.probe = probe or {}

    def run(self, argv, timeout=10, input=None, env=None):
        argv = tuple(str(a) for a in argv)
        if argv[:2] == ("sh", "-c") and "azbdiag-open-probe" in argv:
            self.calls.append(argv)
            points = argv[argv.index("azbdiag-open-probe") + 1:]
            out = "".join(f"{self.probe.get(p, 'ok')}\t{p}\t\n" for p in points)
            return CommandResult(argv, 0, out)
        return super().run(argv, timeout, input, env)


def host(fs, files=None, commands=None, probe=None, mountinfo=MI, **kw):
    files = dict(files or {})
    files.setdefault("/proc/self/mountinfo", mountinfo)
    kw.setdefault("live", True)
    root = kw.get("root", "/")
    for path, content in files.items():
        real = root.rstrip("/") + path
        if fs.exists(real):
            fs.remove_object(real)
        if isinstance(content, bytes):
            fs.create_file(real, contents=content)
        else:
            fs.create_file(real, contents=content, encoding="utf-8")
    h = make_host(fs, {}, None, **kw)
    if kw["live"]:
        for link, target in BLOCK.items():
            if not os.path.lexists(link):
                fs.create_symlink(link, target)
    table = {"tune2fs -l /dev/sda1": CLEAN, "tune2fs -l /dev/sdb1": CLEAN, "dmesg": "",
             **(commands or {})}
    h.runner = Runner(table, probe)
    return h


# ---- list --------------------------------------------------------------------------------

def test_mount_list_live(fs):
    res = run_rule(host(fs), "freeze.mount_list")
    assert res.status == Status.OK
    # reverse mount order, "/" last (mounts.py Mounts.__init__, fsfreezer.py freeze_safe)
    assert res.evidence[:3] == ["1. /logs (/dev/sdc1, xfs)", "2. /data (/dev/sdb1, ext4)",
                                "3. / (/dev/sda1, ext4)"]


def test_mount_list_offline_uses_fstab(fs):
    h = make_host(fs, {"/etc/fstab": "UUID=1 / ext4 defaults 0 1\nUUID=2 /mnt/resource ext4 "
                                     "defaults 0 2\n", "/etc/azure/vmbackup.conf":
                       "[SnapshotThread]\nMountsToSkip = /nope\n"}, root="/disk")
    res = run_rule(h, "freeze.mount_list")
    assert res.status == Status.OK and res.evidence[0] == "1. / (UUID=1, ext4)"
    assert any("resource disk" in e for e in res.evidence)


def test_mount_list_nothing(fs):
    res = run_rule(host(fs, mountinfo="22 27 0:21 / /proc rw - proc proc rw\n"),
                   "freeze.mount_list")
    assert res.status == Status.OK and "nothing to freeze" in res.summary


def test_mount_list_missing_input_skips(fs):
    res = run_rule(make_host(fs, {}, root="/disk"), "freeze.mount_list")
    assert res.status == Status.SKIPPED


# ---- state -------------------------------------------------------------------------------

def test_fs_state_not_clean_fails(fs):
    res = run_rule(host(fs, commands={"tune2fs -l /dev/sdb1": DIRTY}), "freeze.fs_state")
    assert res.status == Status.FAIL
    assert "UserErrorFsFreezeFailed" in res.error_codes and res.fix == "freeze"
    assert res.data["bad"][0]["mount_point"] == "/data"
    assert res.data["bad"][0]["device"] == "/dev/sdb1"
    assert any("4 error(s)" in e for e in res.evidence)


def test_fs_state_clean(fs):
    res = run_rule(host(fs), "freeze.fs_state")
    assert res.status == Status.OK, res.evidence
    assert res.fix is None


def test_fs_state_xfs_shut_down(fs):
    dmesg = ("[1.0] XFS (sdc1): Mounting V5 Filesystem\n"
             "[2.0] XFS (sdc1): Log I/O Error (0x6) detected.  Shutting down filesystem.\n")
    res = run_rule(host(fs, commands={"dmesg": dmesg}), "freeze.fs_state")
    assert res.status == Status.FAIL
    assert [b["mount_point"] for b in res.data["bad"]] == ["/logs"]


def test_fs_state_limited_by_mount_option(fs):
    h = host(fs, commands={"tune2fs -l /dev/sda1": DIRTY})
    res = run_rule(h, "freeze.fs_state", mounts=["/data/"])
    assert res.status == Status.OK
    assert ("tune2fs", "-l", "/dev/sda1") not in h.runner.calls
    res = run_rule(h, "freeze.fs_state", mounts=["/nowhere"])
    assert res.status == Status.SKIPPED


def test_fs_state_cannot_read_is_error(fs):
    h = host(fs, {f"/dev/sd{x}1": "" for x in "abc"},
             commands={"tune2fs -l /dev/sda1": (1, "", "Operation not permitted\n"),
                       "tune2fs -l /dev/sdb1": (1, "", "Operation not permitted\n")},
             mountinfo=MI.replace("xfs", "ext4"))
    h.runner.table["tune2fs -l /dev/sdc1"] = (1, "", "Operation not permitted\n")
    res = run_rule(h, "freeze.fs_state")
    assert res.status == Status.ERROR and "Operation not permitted" in res.summary


def test_fs_state_cannot_read_names_tune2fs_reason(fs):
    """tune2fs prints why it failed, then a generic line (output of e2fsprogs 1.47 on a
    device it may not open): the summary names the reason, not the generic line."""
    denied = (1, "tune2fs 1.47.0 (5-Feb-2023)\n",
              "tune2fs: Operation not permitted while trying to open /dev/sda1\n"
              "Couldn't find valid filesystem superblock.\n")
    h = host(fs, {f"/dev/sd{x}1": "" for x in "abc"},
             commands={f"tune2fs -l /dev/sd{x}1": denied for x in "abc"},
             mountinfo=MI.replace("xfs", "ext4"))
    res = run_rule(h, "freeze.fs_state")
    assert res.status == Status.ERROR, res
    assert "tune2fs: Operation not permitted while trying to open /dev/sda1" in res.summary


def test_fs_checks_docstring_examples_pass():
    import doctest

    from azbdiag.facts import fs_checks

    assert doctest.testmod(fs_checks, report=False).attempted
    assert doctest.testmod(fs_checks, report=False).failed == 0


def test_fs_state_without_device_nodes_skips(fs):
    """A container (systemd-nspawn, LXC) sees the host's mounts but has no node for their
    devices: nothing to read is a skip with the reason, not an error; a device that is there
    but unreadable stays an error (above)."""
    gone = (1, "", "tune2fs: Couldn't find valid filesystem superblock.\n")
    h = host(fs, commands={f"tune2fs -l /dev/sd{x}1": gone for x in "ab"},
             mountinfo=MI.replace("xfs", "ext4"))
    h.runner.table["tune2fs -l /dev/sdc1"] = gone
    res = run_rule(h, "freeze.fs_state")
    assert res.status == Status.SKIPPED and res.skip_reason == "input missing", res
    assert "/dev/sda1 is not in /dev" in res.summary and "container" in res.summary
    fs.create_file("/dev/sdb1")
    res = run_rule(h, "freeze.fs_state")
    assert res.status == Status.ERROR and "tune2fs -l /dev/sdb1" in res.summary


def test_fs_state_skipped_offline_and_not_root(fs):
    assert run_rule(host(fs, live=False, root="/disk"), "freeze.fs_state").status == Status.SKIPPED
    assert run_rule(host(fs, is_root=False), "freeze.fs_state").skip_reason == "not root"


def test_read_only_after_errors(fs):
    mi = MI.replace("8:17 / /data rw,relatime - ext4 /dev/sdb1 rw,", "8:17 / /data ro,relatime "
                    "- ext4 /dev/sdb1 ro,")
    h = host(fs, {"/etc/fstab": "/dev/sdb1 /data ext4 defaults 0 2\n"}, mountinfo=mi)
    res = run_rule(h, "freeze.read_only")
    assert res.status == Status.FAIL and res.fix == "freeze"
    assert res.data["bad"][0]["mount_point"] == "/data"
    h2 = host(fs, mountinfo=MI)
    assert run_rule(h2, "freeze.read_only").status == Status.OK


def test_kernel_errors(fs):
    dmesg = ("[1.0] EXT4-fs (sdb1): mounted filesystem x r/w\n"
             "[2.0] EXT4-fs error (device sdb1): ext4_lookup:1: bad inode\n")
    res = run_rule(host(fs, commands={"dmesg": dmesg}), "freeze.kernel_errors")
    assert res.status == Status.FAIL and "/data" in res.evidence[0]
    assert run_rule(host(fs), "freeze.kernel_errors").status == Status.OK
    old = "[0.5] EXT4-fs error (device sdb1): x\n[1.0] EXT4-fs (sdb1): mounted filesystem x\n"
    assert run_rule(host(fs, commands={"dmesg": old}), "freeze.kernel_errors").status == Status.WARN


def test_kernel_log_unreadable_is_error(fs):
    h = host(fs, commands={"dmesg": (1, "", "dmesg: read kernel buffer failed")})
    assert run_rule(h, "freeze.kernel_errors").status == Status.ERROR


# ---- duplicates --------------------------------------------------------------------------

def test_same_superblock(fs):
    # a bind mount is information: the extension freezes the device once, through the
    # mount point lsblk names (the one whose root is "/")
    mi = MI + "40 27 8:17 /sub /bind rw - ext4 /dev/sdb1 rw\n"
    res = run_rule(host(fs, mountinfo=mi), "freeze.same_superblock")
    assert res.status == Status.OK and "several mount points" in res.summary
    assert res.evidence == ["/dev/sdb1 (ext4) is mounted at /data, /bind [/sub]: frozen once, "
                            "through /data"]
    listed = run_rule(host(fs, mountinfo=mi), "freeze.mount_list").evidence
    assert "also frozen, with /data (the same file system): /bind [/sub]" in listed
    assert run_rule(host(fs), "freeze.same_superblock").evidence == []


def test_stacked(fs):
    mi = MI + "41 30 8:49 / /data rw - ext4 /dev/sdd1 rw\n"
    res = run_rule(host(fs, mountinfo=mi), "freeze.stacked_mounts")
    assert res.status == Status.WARN and "/dev/sdd1 (ext4) under /dev/sdb1" in res.evidence[0]
    assert "only /dev/sdd1 is frozen" in res.evidence[0]
    assert run_rule(host(fs), "freeze.stacked_mounts").status == Status.OK
    # the same device mounted twice on one path (an fstab line written twice): information
    mi = MI + "41 30 8:17 / /data rw - ext4 /dev/sdb1 rw\n"
    res = run_rule(host(fs, mountinfo=mi), "freeze.stacked_mounts")
    assert res.status == Status.OK and "the same /dev/sdb1 (ext4) 2 times" in res.evidence[0]


# ---- open probe, iSCSI, processes ----------------------------------------------------------

def test_mounts_open(fs):
    mi = MI + "50 27 0:60 / /nfs rw - nfs4 srv:/e rw\n"
    res = run_rule(host(fs, mountinfo=mi, probe={"/nfs": "hung"}), "freeze.mounts_open")
    assert res.status == Status.FAIL and "UserErrorUnableToOpenMount" in res.error_codes
    assert "/nfs" in res.evidence[0] and "hung" in res.evidence[0]
    res = run_rule(host(fs, mountinfo=mi), "freeze.mounts_open")
    assert res.status == Status.OK and len(res.evidence) == 4


def test_mounts_open_probe_broken_is_error(fs):
    h = host(fs)

    def broken(argv, timeout=10, input=None, env=None):
        return CommandResult(tuple(argv), None, not_found=True)

    h.runner.run = broken
    assert run_rule(h, "freeze.mounts_open").status == Status.ERROR


def test_iscsi_mounts(fs):
    h = host(fs, {"/sys/class/iscsi_session/session3/targetname": "iqn.2016-01.x:backup\n"})
    fs.create_symlink("/sys/class/block/sdc1",
                      "../../devices/platform/host3/session3/target3:0:0/3:0:0:0/block/sdc/sdc1")
    fs.create_symlink("/sys/class/block/sdb1", "../../devices/pci0000:00/x/block/sdb/sdb1")
    res = run_rule(h, "freeze.iscsi_mounts")
    assert res.status == Status.WARN and "session3" in res.evidence[0]
    assert "iqn.2016-01.x:backup" in res.evidence[0]


def test_iscsi_none(fs):
    assert run_rule(host(fs), "freeze.iscsi_mounts").status == Status.OK


def proc(pid, comm, state="S", cmd=None):
    return {f"/proc/{pid}/stat": f"{pid} ({comm}) {state} 1 1 1",
            f"/proc/{pid}/cmdline": (cmd or comm).replace(" ", "\0")}


def test_fapolicyd(fs):
    res = run_rule(host(fs, proc(300, "fapolicyd", cmd="/usr/sbin/fapolicyd")), "freeze.fapolicyd")
    assert res.status == Status.WARN and "/var/lib/fapolicyd is on /" in res.summary
    assert run_rule(host(fs, proc(300, "systemd")), "freeze.fapolicyd").status == Status.OK


def test_lingering_safefreeze(fs):
    res = run_rule(host(fs, proc(400, "safefreeze", "D", "/x/safefreeze 60 /data /")),
                   "freeze.lingering_safefreeze")
    assert res.status == Status.FAIL and "pid 400 state D" in res.evidence[0]


def test_lingering_safefreeze_running_and_none(fs):
    h = host(fs, proc(400, "safefreeze", "S"))
    assert run_rule(h, "freeze.lingering_safefreeze").status == Status.WARN
    fs.remove_object("/proc/400/stat")
    fs.remove_object("/proc/400/cmdline")
    assert run_rule(host(fs, {}), "freeze.lingering_safefreeze").status == Status.OK


# ---- extension log -----------------------------------------------------------------------

LOG = "/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"


def test_extension_log_first_fifreeze(fs):
    text = ("x ****** 1. Starting Freeze Binary\nx Failed to FIFREEZE: /data with error message: "
            "Input/output error\nx Failed to FITHAW: / with error message : Invalid argument\n")
    res = run_rule(host(fs, {LOG: text}), "freeze.extension_log")
    assert res.status == Status.FAIL and "first on /data" in res.summary
    assert "Input/output error" in res.summary and "consequence" in res.evidence[1]


def test_extension_log_open_failure(fs):
    text = "x arg : ['sf', '60', '/nfs']\nx Failed to open: /nfs with error: -1 and error message: Stale\n"
    res = run_rule(host(fs, {LOG: text}), "freeze.extension_log")
    assert res.status == Status.FAIL and "UserErrorUnableToOpenMount" in res.error_codes


def test_extension_log_ok_and_missing(fs):
    text = ("x ****** 1. Starting Freeze Binary\nx Failed to FIFREEZE: /a with error message: x\n"
            "x ****** 1. Starting Freeze Binary\nx Freezing: /\nx Thawing: /\n")
    res = run_rule(host(fs, {LOG: text}), "freeze.extension_log")
    assert res.status == Status.OK and "1 earlier" in res.evidence[0]
    fs.remove_object(LOG)
    assert run_rule(host(fs), "freeze.extension_log").status == Status.SKIPPED


def test_extension_log_binary(fs):
    res = run_rule(host(fs, {LOG: b"\x00\xff\xfe" * 100}), "freeze.extension_log")
    assert res.status == Status.OK


# ---- freeze test -------------------------------------------------------------------------

def ft_commands(freeze=(0, ""), thaw=(0, "")):
    return {"setsid -f sh -c " + __import__("azbdiag.freeze", fromlist=["x"])._WATCHDOG +
            f" azbdiag-watchdog {p} 10": (0, "4242\n") for p in ("/data", "/logs", "/")} | {
        "fsfreeze -f /data": freeze, "fsfreeze -u /data": thaw, "kill -TERM -- -4242": (0, ""),
        "fsfreeze -f /logs": (0, ""), "fsfreeze -u /logs": (0, ""),
        "fsfreeze -f /": (0, ""), "fsfreeze -u /": (0, "")}


def test_freeze_test_opt_in(fs):
    res = run_rule(host(fs), "freeze.freeze_test")
    assert res.status == Status.SKIPPED and "--freeze-test" in res.summary


def test_freeze_test_ok(fs, monkeypatch):
    monkeypatch.delenv("AZBDIAG_FREEZE_WATCHDOG", raising=False)
    monkeypatch.delenv("AZBDIAG_TEST_FREEZE_HOLD", raising=False)
    h = host(fs, commands=ft_commands())
    res = run_rule(h, "freeze.freeze_test", freeze_test=True, mounts=["/data"])
    assert res.status == Status.OK, res.evidence
    calls = [c for c in h.runner.calls if c[0] in ("fsfreeze", "kill", "setsid")]
    assert [c[:2] for c in calls] == [("setsid", "-f"), ("fsfreeze", "-f"), ("fsfreeze", "-u"),
                                      ("kill", "-TERM")]
    assert not any(c[-1] == "/" for c in calls)


def test_freeze_test_failure(fs, monkeypatch):
    monkeypatch.delenv("AZBDIAG_FREEZE_WATCHDOG", raising=False)
    monkeypatch.delenv("AZBDIAG_TEST_FREEZE_HOLD", raising=False)
    h = host(fs, commands=ft_commands(freeze=(1, "", "fsfreeze: /data: freeze failed: Device or "
                                                     "resource busy\n")))
    res = run_rule(h, "freeze.freeze_test", freeze_test=True)
    assert res.status == Status.FAIL and "/data" in res.summary
    assert "Device or resource busy" in res.evidence[1]       # /logs is frozen first
    assert ("kill", "-TERM", "--", "-4242") in h.runner.calls


def test_freeze_test_no_watchdog_no_freeze(fs, monkeypatch):
    monkeypatch.delenv("AZBDIAG_TEST_FREEZE_HOLD", raising=False)
    h = host(fs, commands={"fsfreeze -f /data": (0, "")})
    res = run_rule(h, "freeze.freeze_test", freeze_test=True, mounts=["/data"])
    assert res.status == Status.FAIL and "watchdog" in res.evidence[0]
    assert not any(c[:2] == ("fsfreeze", "-f") for c in h.runner.calls)


def test_freeze_test_refused_while_backup_runs(fs):
    h = host(fs, proc(99, "safefreeze", "S", "/x/safefreeze 60 /"))
    res = run_rule(h, "freeze.freeze_test", freeze_test=True)
    assert res.status == Status.SKIPPED and "snapshot is running" in res.summary


# ---- fix --freeze planner ----------------------------------------------------------------

def finding(fs, *entries):
    return [Result(Status.FAIL, "x", data={"bad": list(entries)}, id="freeze.fs_state",
                   fix="freeze")]


def entry(point, dev, fstype="ext4"):
    return {"mount_point": point, "device": dev, "fstype": fstype, "options": ["rw", "relatime"],
            "super_options": ["rw", "errors=remount-ro", "seclabel"], "detail": "not clean"}


class Ctx:
    def __init__(self, h):
        self.host = h
        self.options = {}


def step_argvs(h, actions):
    """The commands the fix machinery runs for the planner's RepairFilesystem actions."""
    from azbdiag.fix import mounts

    out, n = [], 1
    for i, action in enumerate(actions):
        m, recs = mounts.expand(h, action, i, "freeze", n)
        n += len(recs)
        out += [mounts.step_argv(r, m) for r in recs]
    return out


def test_plan_ext4(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    from azbdiag.fix import RepairFilesystem

    h = host(fs)
    actions = plan_freeze(Ctx(h), finding(fs, entry("/data", "/dev/sdb1")))
    assert all(isinstance(a, RepairFilesystem) and not a.reversible for a in actions)
    assert step_argvs(h, actions) == [["umount", "/data"], ["e2fsck", "-f", "-y", "/dev/sdb1"],
                                      ["mount", "-t", "ext4", "-o", "rw,relatime,errors=remount-ro",
                                       "/dev/sdb1", "/data"]]


def test_plan_xfs_replays_log_first(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    h = host(fs)
    actions = plan_freeze(Ctx(h), finding(fs, entry("/logs", "/dev/sdc1", "xfs")))
    assert [a[0] for a in step_argvs(h, actions)] == ["umount", "mount", "umount", "xfs_repair",
                                                      "mount"]


def test_plan_refuses_root(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    with pytest.raises(RefuseFix) as exc:
        plan_freeze(Ctx(host(fs)), finding(fs, entry("/", "/dev/sda1")))
    assert "next boot" in str(exc.value) and "tune2fs -c -1" in str(exc.value)
    assert "rescue VM" in str(exc.value)


def test_plan_refuses_busy(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    h = host(fs, {"/proc/55/comm": "postgres\n", "/data/db/file": "x"})
    fs.create_symlink("/proc/55/cwd", "/data/db")
    with pytest.raises(RefuseFix) as exc:
        plan_freeze(Ctx(h), finding(fs, entry("/data", "/dev/sdb1")))
    assert "postgres (pid 55: cwd)" in str(exc.value)


def test_plan_refuses_open_file_and_child_mount(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    mi = MI + "60 30 8:49 / /data/sub rw - ext4 /dev/sdd1 rw\n"
    h = host(fs, {"/proc/56/comm": "vim\n", "/data/notes": "x"}, mountinfo=mi)
    fs.create_symlink("/proc/56/fd/3", "/data/notes")
    with pytest.raises(RefuseFix) as exc:
        plan_freeze(Ctx(h), finding(fs, entry("/data", "/dev/sdb1")))
    assert "vim (pid 56: open file)" in str(exc.value) and "/data/sub" in str(exc.value)


def test_plan_refuses_btrfs(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    with pytest.raises(RefuseFix):
        plan_freeze(Ctx(host(fs)), finding(fs, entry("/b", "/dev/sde1", "btrfs")))


def test_fix_freeze_offline_repairs_only_what_is_mounted_under_the_root(tmp_path):
    # --root is a rescue VM's repair (rules/fs_rescue.py): a plain directory holds no file
    # system of an OS disk, so there is nothing to do, and nothing of this machine is touched
    from typer.testing import CliRunner

    from azbdiag.cli import app

    res = CliRunner().invoke(app, ["fix", "--freeze", "--yes", "--root", str(tmp_path)])
    assert res.exit_code == 0 and "--freeze: nothing to do" in res.output, res.output


def test_boot_advice_by_family(fs):
    from azbdiag.rules.fs_errors import boot_check_advice

    h = host(fs)
    h._facts = type("F", (), {"distro_id": "rhel", "distro_like": "fedora"})()
    assert "grubby" in boot_check_advice(h, "xfs", "/dev/sda2")
    h._facts = type("F", (), {"distro_id": "ubuntu", "distro_like": "debian"})()
    assert "update-grub" in boot_check_advice(h, "xfs", "/dev/sda2")


def test_fail_helper_is_used():
    assert fail("x").status == Status.FAIL


def test_plan_uses_fstab_when_the_mount_is_there(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    h = host(fs, {"/etc/fstab": "UUID=abc /data ext4 defaults 0 2\n"})
    e = dict(entry("/data", "/dev/dm-0"), source="/dev/mapper/vg-data")
    actions = plan_freeze(Ctx(h), finding(fs, e))
    assert step_argvs(h, actions) == [["umount", "/data"], ["e2fsck", "-f", "-y", "/dev/dm-0"],
                                      ["mount", "/data"]]


def test_plan_mounts_by_source_path(fs):
    from azbdiag.rules.fs_errors import plan_freeze

    e = dict(entry("/data", "/dev/dm-0"), source="/dev/mapper/vg-data")
    h = host(fs)
    actions = plan_freeze(Ctx(h), finding(fs, e))
    assert step_argvs(h, actions)[-1][-2:] == ["/dev/mapper/vg-data", "/data"]


def test_open_probe_never_waits_for_a_hung_mount(tmp_path):
    """The real probe script with a `stat` that hangs on one path: azbdiag gets 'hung' for it
    and 'ok' for the others, without waiting for the hung child."""
    from azbdiag.rules.freeze import open_probe

    from azbdiag.host import Host

    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    fake = bindir / "stat"
    fake.write_text(f'#!/bin/sh\ncase "$3" in *bad) echo $$ >> {pids}; exec sleep 120;; esac\n'
                    f'exit 0\n')
    fake.chmod(0o755)
    h = Host("/")
    path = f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"
    h.runner.env["PATH"] = path
    try:
        res = open_probe(h, [str(good), str(bad), str(tmp_path / "missing")], wait=1)
    finally:
        for pid in (pids.read_text().split() if pids.exists() else []):
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
    assert res[str(good)][0] == "ok"
    assert res[str(bad)][0] == "hung"
    assert res[str(tmp_path / "missing")][0] == "fail"


def test_mount_list_uses_lsblk_live(fs):
    lsblk = ('NAME="sda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/"\n'
             'NAME="sdc1" TYPE="part" FSTYPE="xfs" MOUNTPOINT="/logs"\n')
    h = host(fs, commands={"lsblk -b -n -P -o NAME,TYPE,FSTYPE,MOUNTPOINT": lsblk})
    res = run_rule(h, "freeze.mount_list")
    assert res.evidence[:2] == ["1. /logs (/dev/sdc1, xfs)", "2. / (/dev/sda1, ext4)"]
    assert any(e.startswith("not frozen: /data") and "lsblk" in e for e in res.evidence)


def test_fs_state_xfs_without_kernel_log_is_unknown(fs):
    h = host(fs, commands={"dmesg": (1, "", "dmesg: read kernel buffer failed: Operation not "
                                            "permitted")})
    res = run_rule(h, "freeze.fs_state")
    assert res.status == Status.WARN
    assert any(e.startswith("unknown /logs") for e in res.evidence)


def test_kernel_log_prefers_the_journal(fs):
    journal = ("[1.0] host kernel: EXT4-fs (sdb1): mounted filesystem x\n"
               "[2.0] host kernel: EXT4-fs error (device sdb1): ext4_lookup:1: bad\n")
    h = host(fs, commands={
        "journalctl -k -b -q --no-pager -o short-monotonic": journal, "dmesg": ""})
    assert run_rule(h, "freeze.kernel_errors").status == Status.FAIL
