"""Issue 11 items 13 and 15: SIGKILL at every step of `fix --vmbackup-conf` and `fix --freeze`.

azbdiag runs in a child process and is killed at an exact point of a step through the test
hook (AZBDIAG_TEST_HOOKS=1, AZBDIAG_TEST_KILL_AT=<step>:<phase>: pending = journaled, not
acted; tmp = new content written, not renamed; acted = done, not journaled; done = journaled,
run not closed), or while its e2fsck / xfs_repair runs (the test watches for that process).
Afterwards `check` reports the interrupted run (rule fix.interrupted), and `undo` or a second
`fix` brings everything back: the files exactly as they were (bytes, mode, owner), the file
system mounted and clean, or mounted read-only with a finding that says why.

The file systems are loop devices under tmp_path, set up both with losetup + mount and with
`mount -o loop` (whose device clears itself at unmount); the journal and the lock go to the
test's own AZBDIAG_STATE_DIR."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import sigint_as_at_a_terminal

from tests.fixtures_fix import tree
from tests.integration_fs import (
    checksums,
    ext4_state,
    fill,
    loop_fs,
    loop_mount_o,
    make_xfs_shut_down,
    mounted_at,
    sh,
    source_of,
)

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_for(state, kill_at=None):
    env = dict(os.environ, AZBDIAG_STATE_DIR=str(state), PYTHONPATH=ROOT)
    env.pop("AZBDIAG_TEST_KILL_AT", None)
    if kill_at:
        env.update(AZBDIAG_TEST_HOOKS="1", AZBDIAG_TEST_KILL_AT=kill_at)
    return env


def azbdiag(state, *args, kill_at=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "azbdiag", *map(str, args)], cwd=ROOT,
                          env=env_for(state, kill_at), capture_output=True, text=True,
                          timeout=timeout)


def _children(pid: int):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _descendant_named(pid: int, name: str):
    todo = _children(pid)
    while todo:
        child = todo.pop()
        try:
            with open(f"/proc/{child}/comm") as fh:
                if fh.read().strip() == name:
                    return child
        except OSError:
            continue
        todo += _children(child)
    return None


def killed_during(state, args, name, sig=signal.SIGKILL):
    """Run azbdiag and send it `sig` while its child `name` runs; returns (rc, child pid)."""
    if not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        pytest.skip("this kernel has no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)")
    proc = subprocess.Popen([sys.executable, "-m", "azbdiag", *map(str, args)], cwd=ROOT,
                            env=env_for(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=sigint_as_at_a_terminal)
    child = None
    end = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < end:
        child = _descendant_named(proc.pid, name)
        if child:
            proc.send_signal(sig)
            break
        time.sleep(0.0005)
    out, err = proc.communicate(timeout=300)
    assert child, f"{name} was never seen running: {out}{err}"
    return proc.returncode, child


def finding(state, *args):
    """The fix.interrupted result of a check (root: the rule reads root's journal)."""
    res = azbdiag(state, "check", "--only", "fix.interrupted", "--format", "json", *args)
    assert res.returncode in (0, 1), res.stderr
    (result,) = json.loads(res.stdout)["results"]
    return result


# ---- fix --vmbackup-conf --------------------------------------------------------------------

CONF = b"\xef\xbb\xbf[SnapshotThread]\nisanysnapshotfailed = True\ntimeout = 90\n"


@pytest.mark.parametrize("recovery", ["undo", "fix"])
@pytest.mark.parametrize("phase", ["1:pending", "1:tmp", "1:acted", "1:done"])
def test_sigkill_at_every_point_of_fix_vmbackup_conf(tmp_path, phase, recovery):
    state = tmp_path / "state"
    root = tmp_path / "root"
    (root / "etc/azure").mkdir(parents=True)
    conf = root / "etc/azure/vmbackup.conf"
    conf.write_bytes(CONF)
    os.chmod(conf, 0o640)
    if os.geteuid() == 0:
        os.chown(conf, 1234, 4321)
    original = tree(root)
    res = azbdiag(state, "fix", "--vmbackup-conf", "--yes", "--root", root, kill_at=phase)
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    data = json.loads(next((state / "journal").iterdir()).joinpath("journal.json").read_text())
    assert data["status"] == "applying" and data["actions"][0]["outcome"] in ("pending", "ok")
    if os.geteuid() == 0:
        found = finding(state, "--root", root)
        assert found["status"] == "fail" and "was interrupted" in found["summary"], found
    if recovery == "undo":
        res = azbdiag(state, "undo", "--yes", "--root", root)
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        res = azbdiag(state, "fix", "--vmbackup-conf", "--yes", "--root", root)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "was interrupted; settling it first" in res.stdout
        assert not conf.read_bytes().startswith(b"\xef\xbb\xbf")
        for _ in range(3):          # undo the runs, newest first, until none is left
            if azbdiag(state, "undo", "--yes", "--root", root).returncode != 0:
                break
    assert tree(root) == original
    assert not [n for n in os.listdir(root / "etc/azure") if n.startswith(".azbdiag-")]
    if os.geteuid() == 0:
        assert finding(state, "--root", root)["status"] == "ok"


# ---- fix --freeze ---------------------------------------------------------------------------

EXT4_POINTS = ["1:pending", "1:acted", "2:pending", "2:during", "2:acted", "3:pending",
               "3:acted", "3:done"]
XFS_POINTS = ["1:pending", "1:acted", "2:acted", "3:acted", "4:pending", "4:during",
              "4:acted", "5:pending", "5:acted", "5:done"]
CASES = [(fstype, how, point, "fix" if i % 2 == 0 else "undo")
         for fstype, points in (("ext4", EXT4_POINTS), ("xfs", XFS_POINTS))
         for how in ("losetup", "mount-o-loop")
         for i, point in enumerate(points)]


def _dirty(fstype, how, handle, point):
    if fstype == "xfs":
        make_xfs_shut_down(point)
        return
    sh("umount", point)
    target = handle if how == "mount-o-loop" else handle
    sh("debugfs", "-w", "-R", "ssv state 2", target)
    sh("debugfs", "-w", "-R", "ssv error_count 3", target)
    sh("mount", "-t", "ext4", *(["-o", "loop"] if how == "mount-o-loop" else []), target, point)


@pytest.mark.parametrize("fstype,how,phase,recovery", CASES)
def test_sigkill_at_every_step_of_fix_freeze(tmp_path, fstype, how, phase, recovery):
    state = tmp_path / "state"
    fixture = loop_fs if how == "losetup" else loop_mount_o
    with fixture(tmp_path, fstype) as (handle, point):
        sums = fill(point)
        _dirty(fstype, how, handle, point)
        args = ["fix", "--freeze", "--yes", "--mount", point]
        if phase.endswith(":during"):
            rc, child = killed_during(state, args, "e2fsck" if fstype == "ext4" else "xfs_repair")
        else:
            rc = azbdiag(state, *args, kill_at=phase).returncode
        assert rc == -signal.SIGKILL
        found = finding(state, "--mount", point)
        assert found["status"] == "fail" and "was interrupted" in found["summary"], found
        if not mounted_at(point):
            assert any(f"{point} is NOT mounted" in e for e in found["evidence"]), found
        if recovery == "fix":
            res = azbdiag(state, *args)
        else:
            res = azbdiag(state, "undo", "--yes")
        assert res.returncode in (0, 1), res.stdout + res.stderr
        assert "settling it first" in res.stdout, res.stdout
        assert mounted_at(point), res.stdout + res.stderr
        assert checksums(point, sums) == sums
        res = azbdiag(state, "check", "--only", "freeze.fs_state", "--only", "fix.interrupted",
                      "--mount", point, "--format", "json")
        results = {r["id"]: r for r in json.loads(res.stdout)["results"]}
        assert results["freeze.fs_state"]["status"] == "ok", results
        assert results["fix.interrupted"]["status"] == "ok", results
        if fstype == "ext4":
            assert ext4_state(source_of(point)) == "clean"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_during_the_repair_lets_it_finish_mounts_and_stops(tmp_path, sig):
    """What azbdiag does with its own e2fsck on SIGTERM (or Ctrl-C): it does not kill it; it
    waits for it, mounts the file system again, records the run as interrupted and exits
    128+signal."""
    state = tmp_path / "state"
    with loop_fs(tmp_path, "ext4") as (dev, point):
        sums = fill(point)
        _dirty("ext4", "losetup", dev, point)
        rc, _child = killed_during(state, ["fix", "--freeze", "--yes", "--mount", point],
                                   "e2fsck", sig)
        assert rc == 128 + sig
        assert mounted_at(point) and checksums(point, sums) == sums
        assert ext4_state(dev) == "clean"
        data = json.loads(next((state / "journal").iterdir()).joinpath("journal.json")
                          .read_text())
        assert data["status"] == "interrupted"
        assert [a["outcome"] for a in data["actions"]] == ["ok", "ok", "ok"]
        assert finding(state, "--mount", point)["status"] == "ok"
