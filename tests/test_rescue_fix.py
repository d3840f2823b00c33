"""fix --freeze offline (rules/fs_rescue.plan_offline, azbdiag/fix/offline_fs.py): what a rescue
VM may repair of an attached OS disk, and in which order, on the sample rescue VM of
tests/test_rescue.py (its own disk sda, the guest's OS disk sdc under /rescue)."""

from __future__ import annotations

import pytest

from azbdiag import engine
from azbdiag.fix import RefuseFix, RepairFilesystem
from azbdiag.fix import mounts as M
from azbdiag.fix.offline_fs import finish_groups, order_steps, plan_offline
from azbdiag.fix.steps import Step
from azbdiag.model import Status
from azbdiag.runner import CommandResult
from tests.test_rescue import DIRTY, KLOG, XFS_CORRUPT, rescue_host

# The OS disk under /rescue only: / (sdc1) and /var (sdc2), nothing else inside.
PLAIN = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw,discard
50 27 8:33 / /rescue rw,relatime - ext4 /dev/sdc1 rw
51 50 8:34 / /rescue/var rw,noatime - xfs /dev/sdc2 rw,attr2,inode64
"""
KLOG_CMD = "journalctl -k -b -q --no-pager -o short-monotonic"


def plan(h, options=None):
    engine.load_rules()
    ctx = engine.Context(h, dict(options or {}))
    res = engine.run_one(engine.load_rules()["freeze.rescue_fs_state"], ctx)
    assert res.status == Status.FAIL, res
    return plan_offline(ctx, [res])


def both_bad(fs, mountinfo=PLAIN):
    return rescue_host(fs, {"tune2fs -l /dev/sdc1": DIRTY, KLOG_CMD: KLOG + XFS_CORRUPT},
                       mountinfo=mountinfo)


def test_both_not_clean_each_repaired_with_its_tool_and_its_options(fs):
    actions = plan(both_bad(fs))
    assert [(a.point, a.fstype, a.device, a.roles) for a in actions] == [
        ("/rescue", "ext4", "/dev/sdc1", ("umount", "repair", "mount")),
        ("/rescue/var", "xfs", "/dev/sdc2",
         ("umount", "replay-mount", "replay-umount", "repair", "mount"))]
    assert all(a.offline and a.was_mounted and not a.fstab for a in actions)
    assert actions[1].options == "rw,noatime,attr2,inode64"
    assert "the guest's /var" in actions[1].why


@pytest.mark.parametrize("mount", ["/var", "/rescue/var/"])
def test_mount_limits_the_repair_to_one_file_system(fs, mount):
    actions = plan(both_bad(fs), {"mounts": [mount]})
    assert [(a.point, a.fstype) for a in actions] == [("/rescue/var", "xfs")]


def test_a_clean_file_system_inside_is_unmounted_and_mounted_again(fs):
    h = rescue_host(fs, {"tune2fs -l /dev/sdc1": DIRTY}, mountinfo=PLAIN)
    actions = plan(h)
    assert [(a.point, a.roles) for a in actions] == [
        ("/rescue", ("umount", "repair", "mount")), ("/rescue/var", ("umount", "mount"))]


def test_mounts_inside_that_azbdiag_does_not_unmount_are_refused(fs):
    h = both_bad(fs, mountinfo=PLAIN + "52 50 0:21 / /rescue/proc rw - proc proc rw\n")
    with pytest.raises(RefuseFix) as exc:
        plan(h)
    assert "/rescue/proc (proc) mounted inside it" in str(exc.value)
    assert str(exc.value).endswith("nothing was changed")


def test_a_partition_of_the_disk_mounted_outside_the_root_is_refused(fs):
    h = both_bad(fs, mountinfo=PLAIN + "60 27 8:47 / /mnt/efi rw - vfat /dev/sdc15 rw\n")
    with pytest.raises(RefuseFix) as exc:
        plan(h)
    assert "/dev/sdc15 is mounted at /mnt/efi on this machine, outside /rescue" in str(exc.value)


def test_the_rescue_machines_own_disk_is_never_repaired(fs):
    """The guest's / is the rescue VM's own sda1 (mounted at / too): refused."""
    mi = PLAIN.replace("8:33 / /rescue rw,relatime - ext4 /dev/sdc1",
                       "8:1 / /rescue rw,relatime - ext4 /dev/sda1")
    h = rescue_host(fs, {"tune2fs -l /dev/sda1": DIRTY, KLOG_CMD: KLOG}, mountinfo=mi)
    with pytest.raises(RefuseFix) as exc:
        plan(h)
    assert "is mounted at / on this machine" in str(exc.value)


def test_busy_names_the_processes(fs):
    h = both_bad(fs)
    fs.create_file("/proc/4242/comm", contents="bash\n")
    fs.create_symlink("/proc/4242/cwd", "/rescue/var/log")
    fs.create_dir("/proc/4242/fd")
    with pytest.raises(RefuseFix) as exc:
        plan(h)
    assert "/rescue/var (/var = /dev/sdc2) is busy: held by bash (pid 4242: cwd)" in str(exc.value)


def test_btrfs_is_refused_with_advice(fs):
    class Found:
        id = "freeze.rescue_fs_state"
        data = {"bad": [{"device": "/dev/sdc2", "fstype": "btrfs", "guest_point": "/var",
                         "mounted_at": ["/rescue/var"], "disks": ["/dev/sdc"], "detail": "x"}]}

    ctx = engine.Context(both_bad(fs), {})
    with pytest.raises(RefuseFix) as exc:
        plan_offline(ctx, [Found()])
    assert ("/var = /dev/sdc2: no automatic repair for btrfs (`btrfs check --repair` can make a "
            "damaged btrfs worse: run `btrfs check --readonly /dev/sdc2` unmounted") in str(exc.value)


def test_the_run_refuses_commands_offline_except_the_checked_repair(fs):
    from azbdiag.fix import FixSpec, registered_fixes
    from azbdiag.fix.run import _prepare

    h = both_bad(fs)
    spec: FixSpec = registered_fixes()["freeze"]
    unchecked = RepairFilesystem("/rescue", "ext4", "/dev/sdc1", "/dev/sdc1", "rw")
    refused, mounts = [], []
    assert _prepare(h, spec, [unchecked], 1, mounts, refused, {}) is None
    assert "would run on this machine, not on the disk under --root" in refused[0]
    checked = plan(h)
    refused = []
    planned = _prepare(h, spec, checked, 1, mounts, refused, {})
    assert not refused and [m["point"] for m in planned.mounts] == ["/rescue", "/rescue/var"]
    assert all(m["offline"] and m["was_mounted"] for m in planned.mounts)
    assert [(s.rec["n"], s.rec["group"], s.rec["role"]) for s in planned.steps] == [
        (1, 1, "umount"), (2, 1, "replay-mount"), (3, 1, "replay-umount"), (4, 1, "repair"),
        (5, 0, "umount"), (6, 0, "repair"), (7, 0, "mount"), (8, 1, "mount")]


# ---- the order of the steps, and finishing them ---------------------------------------------

def groups(*specs):
    mounts, steps, n = [], [], 1
    for g, (point, roles) in enumerate(specs):
        mounts.append({"point": point})
        for role in roles:
            steps.append(Step({"n": n, "group": g, "role": role}))
            n += 1
    return mounts, steps


def test_inner_file_systems_go_first_and_come_back_last():
    mounts, steps = groups(("/r", ("umount", "repair", "mount")),
                           ("/r/var", ("umount", "replay-mount", "replay-umount", "repair",
                                       "mount")),
                           ("/r/var/log", ("umount", "mount")))
    ordered = order_steps(steps, mounts, 0, 1)
    assert [(mounts[s.rec["group"]]["point"], s.rec["role"]) for s in ordered] == [
        ("/r/var/log", "umount"), ("/r/var", "umount"), ("/r/var", "replay-mount"),
        ("/r/var", "replay-umount"), ("/r/var", "repair"), ("/r", "umount"), ("/r", "repair"),
        ("/r", "mount"), ("/r/var", "mount"), ("/r/var/log", "mount")]
    assert [s.rec["n"] for s in ordered] == list(range(1, 11))


class FakeJournal:
    def __init__(self, mounts, recs):
        self.data = {"mounts": mounts, "actions": recs}
        self.dir = "/tmp/j"

    def save(self):
        pass


def test_finishing_after_a_kill_mounts_back_outer_first(monkeypatch):
    """Killed after / was unmounted: its repair fails when finishing, so / is mounted back
    read-only, then /var (repaired) read-write, in that order."""
    base = {"fstype": "ext4", "source": "/dev/sdc1", "device": "/dev/sdc1", "options": "rw",
            "fstab": False, "autoclear": False, "backing_file": None, "offline": True,
            "repair_target": "/dev/sdc1", "note": None}
    mounts = [dict(base, point="/r/var", fstype="xfs", device="/dev/sdc2", source="/dev/sdc2",
                   repair_target="/dev/sdc2", state="unmounted"),
              dict(base, point="/r", state="unmounted")]
    recs = [{"n": 1, "group": 0, "role": "umount", "kind": "umount", "outcome": "ok"},
            {"n": 2, "group": 0, "role": "repair", "kind": "fsck", "outcome": "ok"},
            {"n": 3, "group": 1, "role": "umount", "kind": "umount", "outcome": "ok"},
            {"n": 4, "group": 1, "role": "repair", "kind": "fsck", "outcome": "pending"},
            {"n": 5, "group": 1, "role": "mount", "kind": "mount", "outcome": "planned"},
            {"n": 6, "group": 0, "role": "mount", "kind": "mount", "outcome": "planned"}]
    ran = []

    class Host:
        live = True

        def run(self, argv, timeout=None):
            ran.append(argv)
            return CommandResult(argv, 8 if argv[0] == "e2fsck" else 0, "", "boom")

    monkeypatch.setattr(M, "mounted", lambda host, point: None)
    monkeypatch.setattr(M, "wait_free", lambda *a, **k: True)
    monkeypatch.setattr(M, "mounted_device", lambda host, dev: [])
    out = []
    ok = finish_groups(Host(), FakeJournal(mounts, recs), [0, 1], lambda n, p: None,
                       out.append, out.append)
    assert not ok
    assert ran[0] == ["e2fsck", "-f", "-y", "/dev/sdc1"]
    assert ran[1][-2:] == ["/dev/sdc1", "/r"] and ran[1][4].startswith("ro")
    assert ran[2][-2:] == ["/dev/sdc2", "/r/var"] and ran[2][4].startswith("rw")
    assert [m["state"] for m in mounts] == ["mounted-again", "mounted-ro"]


def test_mounted_back_read_only_when_the_rescue_vm_had_it_read_only():
    m = {"fstype": "xfs", "options": "ro,noatime", "fstab": False, "autoclear": False,
         "backing_file": None, "source": "/dev/sdc2", "point": "/rescue/var"}
    assert M.mount_argv(dict(m, offline=True))[:4] == ["mount", "-t", "xfs", "-o"]
    assert M.mount_argv(dict(m, offline=True))[4] == "ro,noatime"
    assert M.mount_argv(m)[4] == "rw,noatime"            # live: a repaired mount goes back rw
    assert M.mount_argv(dict(m, offline=True, options="rw,noatime"))[4] == "rw,noatime"
