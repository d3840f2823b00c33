"""A real OS disk on a rescue VM: a GPT loop image with / on ext4 and /var on xfs, both made not
clean, checked mounted under a fake /rescue (`check --root`) and unmounted (`check --disk`).

Every device and mount here is the test's own (tests/integration_fs.py), torn down on failure
too. The image's fixtures are shared with the repair tests."""

from __future__ import annotations

import glob
import json
import os

import pytest
from typer.testing import CliRunner

from azbdiag.cli import app
from tests.integration_fs import (
    _partition_nodes,
    checksums,
    corrupt_xfs_victim,
    ext4_state,
    list_mounts_of,
    mark_ext4_not_clean,
    partitioned_disk,
    populate_guest,
    read_victim,
    rescue_mounts,
    sh,
    source_of,
)

pytestmark = pytest.mark.integration


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def results(res):
    assert res.exit_code in (0, 1), res.output
    return {r["id"]: r for r in json.loads(res.output)["results"]}


@pytest.fixture
def broken_disk(tmp_path):
    """The OS disk, populated, then / made 'not clean with errors' and one XFS inode of /var
    corrupted, all unmounted."""
    with partitioned_disk(tmp_path) as disk:
        rescue = str(tmp_path / "rescue")
        populate_guest(disk, rescue)
        mark_ext4_not_clean(disk.part("/").device)
        corrupt_xfs_victim(disk, str(tmp_path))
        assert "not clean" in ext4_state(disk.part("/").device)
        yield disk, rescue


def test_check_root_reports_both_with_guest_mount_points(broken_disk):
    disk, rescue = broken_disk
    with rescue_mounts(disk, rescue):
        read_victim(disk, rescue)
        res = results(cli("check", "--root", rescue, "--only", "freeze.rescue_fs_state",
                          "--format", "json"))["freeze.rescue_fs_state"]
    assert res["status"] == "fail", res
    assert "UserErrorFsFreezeFailed" in res["error_codes"]
    root, var = disk.part("/").device, disk.part("/var").device
    ev = res["evidence"]
    assert any(e.startswith(f"NOT CLEAN / = {root} (ext4) at {rescue}:") and "errors" in e
               for e in ev), ev
    assert any(e.startswith(f"NOT CLEAN /var = {var} (xfs) at {rescue}/var:")
               and "corruption" in e.lower() for e in ev), ev
    # the guest's cifs line is noauto: nothing said about it; nothing left mounted
    assert not list_mounts_of(root) and not list_mounts_of(var)


def test_check_root_whole_report_and_clean_disk(tmp_path):
    with partitioned_disk(tmp_path) as disk:
        rescue = str(tmp_path / "rescue")
        populate_guest(disk, rescue)
        with rescue_mounts(disk, rescue):
            res = cli("check", "--root", rescue, "--format", "json")
            got = results(res)
    r = got["freeze.rescue_fs_state"]
    assert r["status"] == "ok", r
    assert r["summary"] == f"2 file system(s) of the OS disk under {rescue} are clean"
    assert got["freeze.disk_fs_state"]["status"] == "skipped"
    assert got["freeze.fs_state"]["status"] == "skipped"        # live only


def test_check_disk_on_the_unmounted_image(broken_disk):
    disk, _ = broken_disk
    res = cli("check", "--disk", disk.device, "--format", "json")
    got = results(res)
    assert res.exit_code == 1
    assert list(got) == ["freeze.disk_fs_state"]                # the rescue VM's rules: not run
    r = got["freeze.disk_fs_state"]
    assert r["status"] == "fail", r
    root, var = disk.part("/").device, disk.part("/var").device
    assert any(e.startswith(f"NOT CLEAN / = {root} (ext4)") for e in r["evidence"]), r
    assert any(e.startswith(f"NOT CLEAN /var = {var} (xfs)") and "xfs_repair -n found" in e
               for e in r["evidence"]), r
    assert any(e.startswith("the guest's fstab: /etc/fstab of ") and "ro,noload" in e
               for e in r["evidence"]), r
    # read-only: still broken, nothing mounted, no private mount point left
    assert "not clean with errors" in ext4_state(root)
    assert sh("xfs_repair", "-n", var, check=False).returncode == 1
    assert not list_mounts_of(root) and not list_mounts_of(var)
    assert not glob.glob("/run/azbdiag-fstab-*")


def test_check_disk_refuses_a_disk_mounted_outside_the_root(broken_disk, tmp_path):
    disk, rescue = broken_disk
    with rescue_mounts(disk, rescue):
        res = cli("check", "--disk", disk.device)
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"azbdiag: refusing --disk {disk.device}")
        # with --root the same disk is fine: what is mounted under it is the rescue rule's
        res = cli("check", "--root", rescue, "--disk", disk.device, "--only", "freeze",
                  "--format", "json")
        got = results(res)
    assert got["freeze.rescue_fs_state"]["status"] == "fail"
    d = got["freeze.disk_fs_state"]
    assert d["status"] == "skipped" and "checked by freeze.rescue_fs_state" in d["summary"]


def test_check_disk_refuses_a_volume_group_named_like_this_machines(tmp_path):
    """Two disks from the same image: the second's VG has the first's name (no device-mapper
    needed: the refusal comes before any activation)."""
    if not os.path.exists("/sbin/pvcreate") and not os.path.exists("/usr/sbin/pvcreate"):
        pytest.skip("lvm2 is not installed (see tools/deps/rescue.apt)")
    env = dict(os.environ, DM_DISABLE_UDEV="1")
    layout = (("/", "ext4", 40), ("/srv", "ext4", 40))
    vg = f"azbdiagtest{os.getpid()}"
    with partitioned_disk(tmp_path, layout, "imagea") as a:
        pv = a.part("/srv").device
        sh("wipefs", "-q", "-a", pv)
        cfg = ["--config", f'devices {{ use_devicesfile = 0 filter = [ "a|^{pv}$|", "r|.*|" ] }}']
        sh("pvcreate", "-q", *cfg, pv, env=env)
        try:
            sh("vgcreate", "-q", *cfg, vg, pv, env=env)
            sh("cp", "--sparse=always", a.image, str(tmp_path / "imageb.img"))
            b = sh("losetup", "-f", "--show", "-P", str(tmp_path / "imageb.img")).stdout.strip()
            made = []
            try:
                made = [path for path, new in _partition_nodes(b, 2) if new]
                res = cli("check", "--disk", b)
                assert res.exit_code == 2, res.output
                assert f"volume group {vg} has the same name as this machine's" in res.output
            finally:
                sh("losetup", "-d", b, check=False)
                for path in made:
                    os.unlink(path)
        finally:
            sh("vgremove", "-q", "-f", *cfg, vg, env=env, check=False)
            sh("pvremove", "-q", "-f", *cfg, pv, env=env, check=False)


# ---- fix --freeze --root / --disk: the repair from the rescue VM ----------------------------

def data_unchanged(disk, rescue):
    for point, sums in disk.sums.items():
        where = os.path.join(rescue, point.lstrip("/"))
        assert checksums(where, sums) == sums, point


def xfs_clean(dev):
    return sh("xfs_repair", "-n", dev, check=False).returncode == 0


def test_fix_root_repairs_both_and_mounts_them_back(broken_disk):
    disk, rescue = broken_disk
    root, var = disk.part("/").device, disk.part("/var").device
    with rescue_mounts(disk, rescue):
        read_victim(disk, rescue)
        before = {p: sh("findmnt", "-n", "-o", "OPTIONS", p).stdout.strip()
                  for p in (rescue, rescue + "/var")}
        res = cli("fix", "--freeze", "--yes", "--root", rescue)
        assert res.exit_code == 0, res.output
        out = res.output
        plan = out.split("Journal:")[0]
        # /var (inside /) unmounted and repaired first, then /; mounted back / first
        expected = [f"umount {rescue}/var", f"{var} {rescue}/var", f"umount {rescue}/var",
                    f"xfs_repair {var}", f"umount {rescue}", f"e2fsck -f -y {root}",
                    f"{root} {rescue}", f"{var} {rescue}/var"]
        steps = [ln for ln in plan.splitlines() if ln.startswith("  ") and ". run: " in ln]
        assert len(steps) == len(expected), plan
        for step, what in zip(steps, expected):
            assert step.split(". run: ", 1)[1].split("   [")[0].endswith(what), (step, what)
        assert out.count(": done") == len(expected), out
        assert "freeze.rescue_fs_state: fail -> ok" in out, out
        assert source_of(rescue) == root and source_of(rescue + "/var") == var
        after = {p: sh("findmnt", "-n", "-o", "OPTIONS", p).stdout.strip()
                 for p in (rescue, rescue + "/var")}
        assert after == before
        data_unchanged(disk, rescue)
        assert not os.path.exists(os.path.join(rescue, disk.victim.lstrip("/")))
    assert ext4_state(root) == "clean" and xfs_clean(var)


def test_fix_disk_repairs_the_unmounted_image(broken_disk, tmp_path):
    disk, rescue = broken_disk
    root, var = disk.part("/").device, disk.part("/var").device
    res = cli("fix", "--freeze", "--yes", "--disk", disk.device)
    assert res.exit_code == 0, res.output
    assert f"e2fsck -f -y {root}" in res.output and f"xfs_repair {var}" in res.output
    assert "freeze.disk_fs_state: fail -> ok" in res.output, res.output
    assert "  freeze.fs_state:" not in res.output and "  freeze.read_only:" not in res.output
    assert not list_mounts_of(root) and not list_mounts_of(var)     # left unmounted
    assert ext4_state(root) == "clean" and xfs_clean(var)
    with rescue_mounts(disk, rescue):
        data_unchanged(disk, rescue)


def test_fix_refuses_a_busy_file_system_naming_the_process(broken_disk):
    import subprocess

    disk, rescue = broken_disk
    with rescue_mounts(disk, rescue):
        read_victim(disk, rescue)
        holder = subprocess.Popen(["sleep", "300"], cwd=os.path.join(rescue, "var"))
        try:
            res = cli("fix", "--freeze", "--yes", "--root", rescue)
        finally:
            holder.kill()
            holder.wait()
        assert res.exit_code == 3, res.output
        assert f"{rescue}/var" in res.output and f"sleep (pid {holder.pid}: cwd)" in res.output
        assert "nothing was changed" in res.output
        assert source_of(rescue) == disk.part("/").device
    assert "not clean" in ext4_state(disk.part("/").device)


def test_fix_refuses_a_disk_mounted_outside_the_root(broken_disk, tmp_path):
    disk, rescue = broken_disk
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    var = disk.part("/var").device
    with rescue_mounts(disk, rescue):
        sh("umount", rescue + "/var")
        sh("mount", "-t", "xfs", var, str(outside))
        try:
            res = cli("fix", "--freeze", "--yes", "--root", rescue)
        finally:
            sh("umount", str(outside))
        assert res.exit_code == 3, res.output
        assert f"is mounted at {outside} on this machine, outside {rescue}" in res.output
        assert "nothing was changed" in res.output
        # and --disk refuses the disk outright
        res = cli("fix", "--freeze", "--yes", "--disk", disk.device)
        assert res.exit_code == 2, res.output
    assert "not clean" in ext4_state(disk.part("/").device)


def test_fix_never_touches_the_rescue_machines_own_file_systems(tmp_path):
    """--root on a directory of this machine's own file system: nothing of an OS disk is
    mounted there, so nothing is planned, whatever this machine's own state."""
    root = tmp_path / "notadisk"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "fstab").write_text("/dev/sda1 / ext4 defaults 0 1\n")
    res = cli("fix", "--freeze", "--yes", "--root", root)
    assert res.exit_code == 0, res.output
    assert "--freeze: nothing to do" in res.output


def test_fix_root_killed_with_the_root_unmounted_is_finished_by_the_next_fix(broken_disk, tmp_path):
    """SIGKILL right after /rescue itself was unmounted (step 5: /var is unmounted and repaired
    already): the root is an empty folder of this machine now. `check --root` says so, and the
    next `fix --freeze --root` finishes the run: / repaired, / and /var mounted back."""
    from tests.test_fix_kill import azbdiag

    disk, rescue = broken_disk
    root, var = disk.part("/").device, disk.part("/var").device
    state = tmp_path / "state"
    with rescue_mounts(disk, rescue):
        read_victim(disk, rescue)
        res = azbdiag(state, "fix", "--freeze", "--yes", "--root", rescue, kill_at="5:acted")
        assert res.returncode == -9, res.stdout + res.stderr
        assert not source_of(rescue) and not source_of(rescue + "/var")
        res = azbdiag(state, "check", "--root", rescue, "--only", "fix", "--format", "json")
        found = json.loads(res.stdout)["results"][0]
        assert found["status"] == "fail" and any(
            f"{rescue} is NOT mounted" in e for e in found["evidence"]), found
        res = azbdiag(state, "fix", "--freeze", "--yes", "--root", rescue)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "was interrupted; settling it first" in res.stdout
        assert source_of(rescue) == root and source_of(rescue + "/var") == var
        data_unchanged(disk, rescue)
    assert ext4_state(root) == "clean" and xfs_clean(var)


def test_fix_root_sigterm_during_the_inner_repair_carries_the_whole_repair_through(broken_disk,
                                                                                  tmp_path):
    """SIGTERM while xfs_repair runs on /var (inside /): /var stays unmounted until / is
    mounted back, so azbdiag carries the nested repair through, then stops with 143."""
    import signal

    from tests.test_fix_kill import killed_during

    disk, rescue = broken_disk
    root, var = disk.part("/").device, disk.part("/var").device
    state = tmp_path / "state"
    with rescue_mounts(disk, rescue):
        read_victim(disk, rescue)
        rc, _child = killed_during(state, ["fix", "--freeze", "--yes", "--root", rescue],
                                   "xfs_repair", signal.SIGTERM)
        assert rc == 128 + signal.SIGTERM
        assert source_of(rescue) == root and source_of(rescue + "/var") == var
        data_unchanged(disk, rescue)
        data = json.loads(next((state / "journal").iterdir()).joinpath("journal.json")
                          .read_text())
        assert data["status"] == "interrupted"
        assert [a["outcome"] for a in data["actions"]] == ["ok"] * 8
        assert [m["state"] for m in data["mounts"]] == ["mounted-again"] * 2
    assert ext4_state(root) == "clean" and xfs_clean(var)
