"""Real file systems on loop devices: check finds them not clean, fix --freeze repairs them,
--freeze-test freezes and thaws, and the watchdog thaws after azbdiag is SIGKILLed.

Every azbdiag command here is limited with --mount to the test's own loop mounts; the journal
and lock go to the test's tmp dir (AZBDIAG_STATE_DIR)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.fix.run import run_fix
from azbdiag.host import Host
from azbdiag.model import Result, Status
from azbdiag.state import STATE_ENV
from tests.integration_fs import (
    checksums,
    ext4_state,
    fill,
    loop_fs,
    loop_mount_o,
    make_ext4_dirty,
    make_xfs_shut_down,
    mounted_at,
    sh,
    source_of,
)

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def state(tmp_path, monkeypatch):
    d = tmp_path / "state"
    monkeypatch.setenv(STATE_ENV, str(d))
    return d


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def check_json(point, only="freeze.fs_state", *extra):
    res = cli("check", "--only", only, "--mount", point, "--format", "json", *extra)
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.output)
    return {r["id"]: r for r in doc["results"]}


def journal(state_dir):
    runs = sorted(os.listdir(state_dir / "journal"))
    assert len(runs) == 1
    with open(state_dir / "journal" / runs[0] / "journal.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("fstype", ["ext4", "xfs"])
def test_not_clean_is_found_and_repaired(tmp_path, state, fstype):
    with loop_fs(tmp_path, fstype) as (dev, point):
        sums = fill(point)
        if fstype == "ext4":
            make_ext4_dirty(dev, point)
            assert "not clean" in ext4_state(dev)
        else:
            make_xfs_shut_down(point)
        res = check_json(point)["freeze.fs_state"]
        assert res["status"] == "fail", res
        assert "UserErrorFsFreezeFailed" in res["error_codes"]
        assert any(point in e for e in res["evidence"])

        out = cli("fix", "--freeze", "--yes", "--mount", point)
        assert out.exit_code == 0, out.output
        assert "freeze.fs_state: fail -> ok" in out.output

        assert mounted_at(point)
        assert check_json(point)["freeze.fs_state"]["status"] == "ok"
        assert checksums(point, sums) == sums
        if fstype == "ext4":
            assert ext4_state(dev) == "clean"
        data = journal(state)
        assert data["status"] == "applied" and data["fixes"] == ["freeze"]
        done = [(a["role"], a["outcome"]) for a in data["actions"]]
        assert done[0] == ("umount", "ok") and ("repair", "ok") in done
        assert done[-1] == ("mount", "ok")
        assert not any(a["reversible"] for a in data["actions"])
        (m,) = data["mounts"]
        assert (m["point"], m["device"], m["fstype"], m["state"]) == (point, dev, fstype,
                                                                      "mounted-again")
        repair = "e2fsck -f -y" if fstype == "ext4" else "xfs_repair"
        assert f"run: {repair} {dev}" in out.output and "[cannot be undone]" in out.output
        # A second run has nothing to do.
        again = cli("fix", "--freeze", "--yes", "--mount", point)
        assert again.exit_code == 0 and "--freeze: nothing to do" in again.output
        assert len(os.listdir(state / "journal")) == 1
        # Undo has nothing it can revert: every step is marked as such, and the fs stays.
        undone = cli("undo", "--yes")
        assert undone.exit_code == 0 and "cannot be undone" in undone.output
        assert mounted_at(point) and checksums(point, sums) == sums


def test_dry_run_changes_nothing(tmp_path, state):
    with loop_fs(tmp_path, "ext4") as (dev, point):
        sums = fill(point)
        make_ext4_dirty(dev, point)
        before = (ext4_state(dev), sorted(os.listdir(point)))
        out = cli("fix", "--freeze", "--dry-run", "--mount", point)
        assert out.exit_code == 0, out.output
        assert f"run: umount {point}" in out.output and "e2fsck -f -y" in out.output
        assert "[cannot be undone]" in out.output and "Dry run" in out.output
        assert mounted_at(point)
        assert (ext4_state(dev), sorted(os.listdir(point))) == before
        assert checksums(point, sums) == sums
        assert not state.exists()


def test_no_yes_without_tty_changes_nothing(tmp_path, state):
    with loop_fs(tmp_path, "ext4") as (dev, point):
        make_ext4_dirty(dev, point)
        out = cli("fix", "--freeze", "--mount", point)
        assert out.exit_code == 4 and "--yes" in out.output
        assert mounted_at(point) and "not clean" in ext4_state(dev)


def test_busy_mount_is_refused(tmp_path, state):
    with loop_fs(tmp_path, "ext4") as (dev, point):
        sums = fill(point)
        make_ext4_dirty(dev, point)
        holder = subprocess.Popen(["sleep", "600"], cwd=point)
        try:
            out = cli("fix", "--freeze", "--yes", "--mount", point)
            assert out.exit_code == 3, out.output
            assert f"{point} is busy" in out.output
            assert f"sleep (pid {holder.pid}: cwd)" in out.output
            assert mounted_at(point) and "not clean" in ext4_state(dev)
            assert checksums(point, sums) == sums
            assert not (state / "journal").exists()
        finally:
            holder.kill()
            holder.wait()


def test_root_is_refused_with_alternatives(tmp_path, state):
    """The planner refuses an xfs / before any action: a check result for / is handed to the
    real fixer on the live host, and nothing is changed or journalled. (An ext4 / gets a check
    at the next boot, planned on a test root only: tests/test_boot_check.py.)"""

    def fake_check(host, only=(), options=None):
        from azbdiag import engine

        ctx = engine.Context(host, options or {})
        res = Result(Status.FAIL, "not clean", id="freeze.fs_state", fix="freeze",
                     data={"bad": [{"mount_point": "/", "device": "/dev/sda1", "fstype": "xfs",
                                    "options": ["rw"], "super_options": [], "detail": "x"}]})
        return ctx, [res], None

    msgs = []
    code = run_fix(Host("/"), ["freeze"], check=fake_check, yes=True,
                         out=msgs.append, err=msgs.append)
    assert code == 3
    text = "\n".join(msgs)
    assert "/ cannot be unmounted" in text and "next boot" in text and "rescue VM" in text
    assert "xfs cannot be repaired at boot" in text
    assert not (state / "journal").exists()      # the lock was taken, nothing journaled


def test_same_mount_twice_is_found(tmp_path):
    """Information since the extension keeps one mount point per device (mounts.py Mounts):
    both mount points are named under one device. A loop device is never frozen (fsfreezer.py
    should_skip: lsblk TYPE loop), so the evidence says not frozen rather than frozen once."""
    with loop_fs(tmp_path, "ext4") as (dev, point):
        second = tmp_path / "again"
        second.mkdir()
        sh("mount", dev, second)
        try:
            res = check_json(point, "freeze.same_superblock")["freeze.same_superblock"]
            assert res["status"] == "ok", res
            assert any(point in e and str(second) in e and dev in e and "not frozen" in e
                       for e in res["evidence"]), res
        finally:
            sh("umount", second)


def test_freeze_test_freezes_and_thaws(tmp_path):
    with loop_fs(tmp_path, "ext4") as (_dev, point):
        res = check_json(point, "freeze.freeze_test", "--freeze-test")["freeze.freeze_test"]
        assert res["status"] == "ok", res
        assert any(point in e and "froze in" in e and "thawed in" in e for e in res["evidence"])
        # Thawed: a write in a child completes (bounded so that a failure cannot hang the run).
        assert sh("timeout", "60", "sh", "-c", f"echo ok > {point}/after",
                  check=False).returncode == 0


def test_watchdog_thaws_after_sigkill(tmp_path):
    with loop_fs(tmp_path, "ext4") as (_dev, point):
        # The watchdog's bound runs from before the freeze: it must outlast the window until
        # the EBUSY check below, which a loaded machine can stretch to seconds.
        env = dict(os.environ, AZBDIAG_TEST_FREEZE_HOLD="300", AZBDIAG_FREEZE_WATCHDOG="10",
                   PYTHONPATH=ROOT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "azbdiag", "check", "--only", "freeze.freeze_test",
             "--freeze-test", "--mount", point], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            assert f"frozen {point}" in line, line
            # It is frozen now: a second freeze is refused with EBUSY.
            again = sh("fsfreeze", "-f", point, check=False)
            if again.returncode == 0:      # thawed already: never leave our own freeze behind
                sh("fsfreeze", "-u", point, check=False)
            assert again.returncode != 0 and "busy" in again.stderr.lower(), again.stderr
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # Nobody thaws it but the watchdog: this write blocks until it does.
        res = sh("timeout", "120", "sh", "-c", f"echo ok > {point}/after-kill", check=False)
        assert res.returncode == 0, res.stderr
        with open(os.path.join(point, "after-kill"), encoding="utf-8") as fh:
            assert fh.read() == "ok\n"


# ---- issue 11 item 13: a file system is never left unmounted and invisible -------------------

class Injecting:
    """The real runner, except for the commands given in `answers` (argv[0] -> exit code,
    not run) and with `after` (argv[0] -> callable) run once the real command returned."""

    def __init__(self, answers=None, after=None):
        from azbdiag.runner import ShRunner

        self.real = ShRunner()
        self.answers = answers or {}
        self.after = after or {}
        self.calls = []

    def run(self, argv, timeout=10.0, input=None, env=None):
        from azbdiag.runner import CommandResult

        argv = tuple(str(a) for a in argv)
        self.calls.append(argv)
        if argv[0] in self.answers:
            return CommandResult(argv, self.answers[argv[0]], "", f"{argv[0]}: simulated failure\n")
        res = self.real.run(argv, timeout=timeout, input=input, env=env)
        hook = self.after.pop(argv[0], None)
        if hook is not None:
            hook(argv)
        return res


def fix_freeze(point, runner):
    from azbdiag.report import run_check

    msgs = []
    code = run_fix(Host("/", runner=runner), ["freeze"], check=run_check, yes=True,
                   options={"mounts": [point], "deadline": 180.0, "fixing": True},
                   out=msgs.append, err=msgs.append)
    return code, "\n".join(msgs)


def mount_options(point):
    point = os.path.realpath(point)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if fields[4] == point:
                return fields[5].split(",")
    return []


@pytest.mark.parametrize("fstype", ["ext4", "xfs"])
def test_mount_o_loop_is_checked_through_its_backing_file_and_mounted_again(tmp_path, state,
                                                                           fstype):
    """`mount -o loop` sets up a loop device that clears itself at umount: the check and the
    mount again use the image, and the file system ends up mounted and clean."""
    with loop_mount_o(tmp_path, fstype) as (image, point):
        sums = fill(point)
        if fstype == "ext4":
            sh("umount", point)
            sh("debugfs", "-w", "-R", "ssv state 2", image)
            sh("mount", "-o", "loop", image, point)
        else:
            make_xfs_shut_down(point)
        out = cli("fix", "--freeze", "--yes", "--mount", point)
        assert out.exit_code == 0, out.output
        assert f"{image}" in out.output and "loop" in out.output
        assert mounted_at(point) and checksums(point, sums) == sums
        assert check_json(point)["freeze.fs_state"]["status"] == "ok"
        if fstype == "ext4":
            assert ext4_state(source_of(point)) == "clean"


@pytest.mark.parametrize("fstype,tool,code", [("ext4", "e2fsck", 8), ("ext4", "e2fsck", 4),
                                              ("xfs", "xfs_repair", 1)])
def test_a_failed_repair_mounts_back_read_only_and_check_says_why(tmp_path, state, fstype,
                                                                  tool, code):
    with loop_fs(tmp_path, fstype) as (dev, point):
        sums = fill(point)
        if fstype == "ext4":
            make_ext4_dirty(dev, point)
        else:
            make_xfs_shut_down(point)
        rc, text = fix_freeze(point, Injecting(answers={tool: code}))
        assert rc == 1, text
        assert mounted_at(point) and "ro" in mount_options(point), text
        assert f"mounted {point} read-only" in text and f"exit {code}" in text
        assert checksums(point, sums) == sums
        res = check_json(point, "fix.interrupted")["fix.interrupted"]
        assert res["status"] == "fail" and "read-only" in res["summary"], res
        data = journal(state)
        assert data["status"] == "failed" and data["mounts"][0]["state"] == "mounted-ro"


def test_a_device_that_vanishes_is_mounted_back_from_its_backing_file(tmp_path, state):
    """losetup + mount; the loop device is detached right after azbdiag's umount: e2fsck on
    it fails, and azbdiag mounts the image read-only from the journal's backing file."""
    with loop_fs(tmp_path, "ext4") as (dev, point):
        sums = fill(point)
        make_ext4_dirty(dev, point)
        image = os.path.join(str(tmp_path), "fs.img")
        rc, text = fix_freeze(point, Injecting(after={"umount": lambda argv: sh("losetup", "-d",
                                                                                  dev)}))
        assert rc == 1, text
        assert mounted_at(point) and "ro" in mount_options(point), text
        assert "loop" in text and image in text
        assert checksums(point, sums) == sums
        res = check_json(point, "fix.interrupted")["fix.interrupted"]
        assert res["status"] == "fail", res


def test_a_file_system_that_cannot_be_mounted_again_is_not_invisible(tmp_path, state):
    """Nothing mounts it back (every mount fails): the fix says so, with the command, and
    `check` keeps reporting it; the next fix mounts it back, then repairs it."""
    with loop_fs(tmp_path, "ext4") as (dev, point):
        make_ext4_dirty(dev, point)
        rc, text = fix_freeze(point, Injecting(answers={"e2fsck": 8, "mount": 32}))
        assert rc == 1 and not mounted_at(point)
        assert f"{point} is NOT mounted" in text and "mount -t ext4 -o ro" in text, text
        res = check_json(point, "fix.interrupted")["fix.interrupted"]
        assert res["status"] == "fail" and f"{point} is NOT mounted" in res["summary"], res
        assert journal(state)["mounts"][0]["state"] == "lost"
        # Once mounting works again, the next fix mounts it back (read-only: not repaired),
        # then checks it, finds it not clean, and repairs it for real.
        out = cli("fix", "--freeze", "--yes", "--mount", point)
        assert out.exit_code == 0, out.output
        assert "could not mount" in out.output and f"mounted {point} read-only" in out.output
        runs = sorted(os.listdir(state / "journal"))
        with open(state / "journal" / runs[0] / "journal.json", encoding="utf-8") as fh:
            assert json.load(fh)["mounts"][0]["state"] == "mounted-ro"
        assert mounted_at(point) and "rw" in mount_options(point)
        assert ext4_state(dev) == "clean"
        assert check_json(point, "fix.interrupted")["fix.interrupted"]["status"] == "ok"
