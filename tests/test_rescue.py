"""The rescue VM on fake hosts: the OS disk's file systems mounted under --root mapped to the
guest's mount points (freeze.rescue_fs_state), the read-only checks of an unmounted disk
(freeze.disk_fs_state), and the --disk preparation's refusals, LVM handling and fstab peek."""

from __future__ import annotations

import os
import stat

import pytest

from azbdiag import disks
from azbdiag.facts import DiskSet, GuestFs, Topology, machine, rescue_filesystems
from azbdiag.facts.block_devices import devices_from, resolve_source
from azbdiag.model import Status
from azbdiag.parsers.mounts import parse_fstab, parse_mountinfo
from azbdiag.runner import CommandResult, FakeRunner
from tests.conftest import make_host, run_rule

# The rescue VM's own disk sda (made from the same image: sda1 has the guest root's UUID), its
# resource disk sdb, and the guest's OS disk sdc: / on sdc1 (ext4), /var on sdc2 (xfs),
# /data on an LV of sdc3, /boot/efi on sdc15.
MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw,discard
40 27 8:17 / /mnt rw,relatime - ext4 /dev/sdb1 rw
50 27 8:33 / /rescue rw,relatime - ext4 /dev/sdc1 rw
51 50 8:34 / /rescue/var rw,noatime - xfs /dev/sdc2 rw,attr2,inode64
52 50 0:21 / /rescue/proc rw,relatime - proc proc rw
53 50 0:60 / /rescue/mnt/share rw,relatime - nfs4 server:/export rw,vers=4.2
"""
DEVICES = [  # name, kname, parent, type, major:minor, size (lsblk without udev: no FSTYPE/UUID)
    ("sda", "sda", "", "disk", "8:0", 32212254720), ("sda1", "sda1", "sda", "part", "8:1", 32e9),
    ("sdb", "sdb", "", "disk", "8:16", 16e9), ("sdb1", "sdb1", "sdb", "part", "8:17", 16e9),
    ("sdc", "sdc", "", "disk", "8:32", 32212254720), ("sdc1", "sdc1", "sdc", "part", "8:33", 20e9),
    ("sdc2", "sdc2", "sdc", "part", "8:34", 8e9), ("sdc3", "sdc3", "sdc", "part", "8:35", 4e9),
    ("datavg-data--lv", "dm-0", "sdc3", "lvm", "253:0", 4e9),
    ("sdc15", "sdc15", "sdc", "part", "8:47", 1e8)]
LSBLK = "".join(f'NAME="{n}" KNAME="{k}" PKNAME="{p}" TYPE="{t}" FSTYPE="" UUID="" LABEL="" '
                f'PARTUUID="" PARTLABEL="" MAJ:MIN="{mm}" RO="0" SIZE="{int(size)}"\n'
                for n, k, p, t, mm, size in DEVICES)
ROOT_UUID = "2732df90-e0e0-44a3-8b39-c6aac768c03e"
BLKID = f"""\
DEVNAME=/dev/sda1
LABEL=cloudimg-rootfs
UUID={ROOT_UUID}
TYPE=ext4

DEVNAME=/dev/sdb1
UUID=11111111-2222-3333-4444-555555555555
TYPE=ext4

DEVNAME=/dev/sdc1
LABEL=cloudimg-rootfs
UUID={ROOT_UUID}
TYPE=ext4
PARTUUID=aaaa0001

DEVNAME=/dev/sdc2
LABEL=var
UUID=c129b085-4345-4764-bdd1-fd37003c72f3
TYPE=xfs

DEVNAME=/dev/sdc3
UUID=Zx1-PV
TYPE=LVM2_member

DEVNAME=/dev/mapper/datavg-data--lv
UUID=d47a-data
TYPE=ext4

DEVNAME=/dev/sdc15
UUID=7A3B-1C2D
TYPE=vfat
"""
FSTAB = f"""\
# the guest's fstab
UUID={ROOT_UUID.upper()} / ext4 defaults,discard 0 1
LABEL=var /var xfs defaults 0 2
/dev/datavg/data-lv /data ext4 defaults,nofail 0 2
UUID=7A3B-1C2D /boot/efi vfat umask=0077 0 1
server:/export /mnt/share nfs4 defaults 0 0
"""
LSBLK_CMD = ("lsblk -b -n -P -o NAME,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,PARTUUID,PARTLABEL,"
             "MAJ:MIN,RO,SIZE")
BLKID_CMD = "blkid -c /dev/null -o export"
CLEAN = "Filesystem state:         clean\nFilesystem features:      has_journal extent\n"
DIRTY = ("Filesystem state:         not clean with errors\nFilesystem features:      has_journal\n"
         "FS Error count:           4\n")
KLOG = ("[   1.0] XFS (sdc2): Mounting V5 Filesystem c129b085\n"
        "[   1.1] XFS (sdc2): Ending clean mount\n")
XFS_CORRUPT = ("[   5.0] XFS (sdc2): Metadata corruption detected at xfs_dinode_verify+0x40b, "
               "inode 0x84 dinode\n[   5.1] XFS (sdc2): Unmount and run xfs_repair\n")


def rescue_host(fs, commands=None, mountinfo=MOUNTINFO, fstab=FSTAB, root="/rescue", **kw):
    files = {"/etc/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\n'}
    if fstab is not None:
        files["/etc/fstab"] = fstab
    files = {os.path.join(root, k.lstrip("/")): v for k, v in files.items()}
    files["/proc/self/mountinfo"] = mountinfo
    for path, text in files.items():
        if not os.path.exists(path):
            fs.create_file(path, contents=text)
    h = make_host(fs, {}, None, root=root, live=False, **kw)
    table = {LSBLK_CMD: LSBLK, BLKID_CMD: BLKID, "journalctl -k -b -q --no-pager -o "
             "short-monotonic": KLOG, "tune2fs -l /dev/sdc1": CLEAN, **(commands or {})}
    h.runner = FakeRunner(table)
    return h


def topology():
    return Topology(devices_from(LSBLK, BLKID))


# ---- the machine's view and the mapping ----------------------------------------------------

def test_machine_is_a_live_view_sharing_the_runner(fs):
    h = rescue_host(fs)
    m = machine(h)
    assert m.live and m.root == "/" and m.runner is h.runner
    live = make_host(fs, {}, None, live=True)
    assert machine(live) is live


def test_topology_names_disks_and_mapper_devices():
    topo = topology()
    lv = topo.find("/dev/mapper/datavg-data--lv")
    assert lv.kname == "dm-0" and lv.path == "/dev/mapper/datavg-data--lv" and lv.fstype == "ext4"
    assert topo.disks_of("dm-0") == {"sdc"}
    assert {d.kname for d in topo.descendants("sdc")} == {"sdc", "sdc1", "sdc2", "sdc3", "dm-0",
                                                         "sdc15"}


def test_fstab_sources_resolve_on_the_guest_disk_only():
    topo = topology()
    guest = topo.descendants("sdc")
    # The rescue VM's own sda1 has the same UUID and label (same image): never chosen.
    assert [d.kname for d in resolve_source(f"UUID={ROOT_UUID.upper()}", guest)] == ["sdc1"]
    assert [d.kname for d in resolve_source("LABEL=cloudimg-rootfs", guest)] == ["sdc1"]
    assert [d.kname for d in resolve_source(f"/dev/disk/by-uuid/{ROOT_UUID}", guest)] == ["sdc1"]
    assert [d.kname for d in resolve_source("/dev/datavg/data-lv", guest)] == ["dm-0"]
    assert [d.kname for d in resolve_source("PARTUUID=AAAA0001", guest)] == ["sdc1"]
    assert resolve_source("/dev/sda1", guest) == []          # kernel names differ on the rescue VM
    assert len(resolve_source(f"UUID={ROOT_UUID}", topo.devices)) == 2


def test_rescue_filesystems_map_guest_mount_points():
    found, notes = rescue_filesystems("/rescue", parse_mountinfo(MOUNTINFO), topology(),
                                      parse_fstab(FSTAB))
    assert [(g.guest_point, g.device, g.fstype, g.mounted_at) for g in found] == [
        ("/", "/dev/sdc1", "ext4", ["/rescue"]),
        ("/var", "/dev/sdc2", "xfs", ["/rescue/var"])]
    root, var = found
    assert (root.fstab_line, var.fstab_line) == (2, 3) and root.disks == ["/dev/sdc"]
    assert root.as_data()["under_root"] is True and var.options == ["rw", "noatime"]
    assert any("nfs4" in n and "/mnt/share" in n and "never touched" in n for n in notes)
    assert any("/data" in n and "not mounted under the root" in n for n in notes)
    assert not any("/proc" in n for n in notes)               # a chroot's binds are no finding


def test_fstab_wins_when_the_disk_is_mounted_at_another_path():
    mi = MOUNTINFO.replace("/rescue/var", "/rescue/srv")
    found, _ = rescue_filesystems("/rescue", parse_mountinfo(mi), topology(), parse_fstab(FSTAB))
    var = found[1]
    assert var.guest_point == "/var" and var.mounted_at == ["/rescue/srv"]
    assert var.guest_points == ["/srv", "/var"]
    assert any("mounted at /rescue/srv, but the guest's fstab mounts" in n for n in var.notes)


def test_without_fstab_the_paths_name_the_guest_points():
    found, _ = rescue_filesystems("/rescue", parse_mountinfo(MOUNTINFO), topology(), None)
    assert [g.guest_point for g in found] == ["/", "/var"]


def test_a_file_system_also_mounted_outside_the_root_is_flagged():
    mi = MOUNTINFO + "60 27 8:34 / /srv/other rw,relatime - xfs /dev/sdc2 rw\n"
    found, _ = rescue_filesystems("/rescue", parse_mountinfo(mi), topology(), None)
    assert found[1].outside_mounts == ["/srv/other"]


# ---- freeze.rescue_fs_state ----------------------------------------------------------------

def test_rescue_fs_state_reports_both_with_guest_points(fs):
    h = rescue_host(fs, {"tune2fs -l /dev/sdc1": DIRTY, "journalctl -k -b -q --no-pager -o "
                         "short-monotonic": KLOG + XFS_CORRUPT})
    res = run_rule(h, "freeze.rescue_fs_state")
    assert res.status == Status.FAIL, res
    assert "2 file system(s)" in res.summary and "UserErrorFsFreezeFailed" in res.error_codes
    assert res.evidence[0].startswith("NOT CLEAN / = /dev/sdc1 (ext4) at /rescue:")
    assert res.evidence[1].startswith("NOT CLEAN /var = /dev/sdc2 (xfs) at /rescue/var:")
    assert "Metadata corruption" in res.evidence[1]
    bad = {e["guest_point"]: e for e in res.data["bad"]}
    assert bad["/var"]["device"] == "/dev/sdc2" and bad["/var"]["mounted_at"] == ["/rescue/var"]
    assert bad["/"]["under_root"] and bad["/"]["disks"] == ["/dev/sdc"]
    # never a command on the NFS mount, and never on the rescue VM's own disks
    assert not [c for c in h.runner.calls if any("share" in a or "sda" in a for a in c)]


def test_rescue_fs_state_clean(fs):
    res = run_rule(rescue_host(fs), "freeze.rescue_fs_state")
    assert res.status == Status.OK, res
    assert res.summary == "2 file system(s) of the OS disk under /rescue are clean"
    assert len(res.data["filesystems"]) == 2 and res.data["bad"] == []


def test_rescue_fs_state_xfs_mounted_read_only_gets_xfs_repair(fs):
    mi = MOUNTINFO.replace("rw,attr2", "ro,attr2")
    h = rescue_host(fs, {"xfs_repair -n /dev/sdc2": (1, "", "would junk entry\n")}, mountinfo=mi)
    res = run_rule(h, "freeze.rescue_fs_state")
    assert res.status == Status.FAIL and "xfs_repair -n says corrupt" in res.evidence[0]


def test_rescue_fs_state_skips(fs):
    live = make_host(fs, {"/proc/self/mountinfo": MOUNTINFO}, None, live=True)
    assert run_rule(live, "freeze.rescue_fs_state").status == Status.SKIPPED
    h = rescue_host(fs, root="/elsewhere")
    res = run_rule(h, "freeze.rescue_fs_state")
    assert res.status == Status.SKIPPED and "nothing is mounted at /elsewhere" in res.summary
    assert run_rule(rescue_host(fs, is_root=False), "freeze.rescue_fs_state").skip_reason == \
        "not root"


def test_rescue_fs_state_unknown_is_error_or_warn(fs):
    h = rescue_host(fs, {"tune2fs -l /dev/sdc1": (1, "", "Permission denied\n"),
                         "journalctl -k -b -q --no-pager -o short-monotonic": (1, ""),
                         "dmesg": (1, "", "dmesg: read kernel buffer failed\n")})
    res = run_rule(h, "freeze.rescue_fs_state")
    assert res.status == Status.ERROR and "Permission denied" in res.summary
    h = rescue_host(fs, {"tune2fs -l /dev/sdc1": (1, "", "Permission denied\n")})
    res = run_rule(h, "freeze.rescue_fs_state")
    assert res.status == Status.WARN and "1 could not be checked" in res.summary


# ---- freeze.disk_fs_state ------------------------------------------------------------------

def disk_set(*specs):
    return DiskSet(disks=["/dev/sdc"], filesystems=[
        GuestFs(device=dev, kname=dev.rsplit("/", 1)[-1], fstype=t, disks=["/dev/sdc"],
                guest_point=p) for dev, t, p in specs], fstab_from="/etc/fstab under --root")


def test_disk_fs_state(fs):
    h = make_host(fs, {}, {"dumpe2fs -h /dev/sdc1": DIRTY.replace("Filesystem state:         "
                                                                  "not clean with errors",
                                                                  "Filesystem state: clean"),
                           "e2fsck -f -n /dev/sdc1": (4, "Inode 12 has illegal block(s).  "
                                                         "Clear? no\n"),
                           "xfs_repair -n /dev/sdc2": (2, "", "ERROR: The filesystem has valuable "
                                                             "metadata changes in a log\n")},
                  live=True)
    res = run_rule(h, "freeze.disk_fs_state", disks=disk_set(("/dev/sdc1", "ext4", "/"),
                                                            ("/dev/sdc2", "xfs", "/var")))
    assert res.status == Status.FAIL, res
    assert res.evidence[0].startswith("NOT CLEAN / = /dev/sdc1 (ext4)")
    assert res.evidence[1].startswith("not clean yet /var = /dev/sdc2 (xfs)")
    assert "the guest's fstab: /etc/fstab under --root" in res.evidence
    assert [e["guest_point"] for e in res.data["bad"]] == ["/"]


def test_disk_fs_state_journal_to_replay_is_a_warning(fs):
    h = make_host(fs, {}, {"dumpe2fs -h /dev/sdc1": CLEAN,
                           "e2fsck -f -n /dev/sdc1": (4, "Warning: skipping journal recovery "
                                                         "because doing a read-only filesystem "
                                                         "check.\nFree blocks count wrong.  "
                                                         "Fix? no\n")}, live=True)
    res = run_rule(h, "freeze.disk_fs_state", disks=disk_set(("/dev/sdc1", "ext4", "/")))
    assert res.status == Status.WARN and "journal or log to replay" in res.summary


def test_disk_fs_state_clean_and_skipped(fs):
    h = make_host(fs, {}, {"xfs_repair -n /dev/sdc2": (0, "", ""),
                           "btrfs check --readonly /dev/sdc3": (0, "", "no error found\n")},
                  live=True)
    res = run_rule(h, "freeze.disk_fs_state", disks=disk_set(("/dev/sdc2", "xfs", "/var"),
                                                            ("/dev/sdc3", "btrfs", "/srv")))
    assert res.status == Status.OK and res.summary.startswith("2 file system(s)")
    assert run_rule(h, "freeze.disk_fs_state").status == Status.SKIPPED
    empty = DiskSet(disks=["/dev/sdc"], notes=["/dev/sdc15: vfat, never frozen"])
    res = run_rule(h, "freeze.disk_fs_state", disks=empty)
    assert res.status == Status.SKIPPED and "vfat" in res.summary


# ---- --disk: refusals, LVM, the fstab peek -------------------------------------------------

def block_device(fs, path, rdev=0):
    fs.create_file(path, st_mode=stat.S_IFBLK | 0o660)


def disk_host(fs, commands=None, mountinfo=MOUNTINFO, swaps="Filename Type Size Used Prio\n"):
    h = make_host(fs, {"/proc/self/mountinfo": mountinfo, "/proc/swaps": swaps}, None, live=True)
    for dev in ("/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"):
        block_device(fs, dev)
    fs.create_dir("/run")
    h.runner = FakeRunner({LSBLK_CMD: LSBLK, BLKID_CMD: BLKID, **(commands or {})})
    return h


def prepare(h, *paths):
    warnings = []
    with disks.attached(h, list(paths), warnings.append) as ds:
        return ds, warnings


def test_disk_refuses_the_rescue_vms_own_disk_and_disks_in_use(fs):
    h = disk_host(fs)
    with pytest.raises(disks.DiskRefused, match=r"^refusing --disk /dev/sda: /dev/sda1 is "
                                                r"mounted at / on this machine"):
        prepare(h, "/dev/sda")
    # the guest disk is mounted at /rescue: refused without --root, accepted with it
    with pytest.raises(disks.DiskRefused, match="/dev/sdc1 is mounted at /rescue"):
        prepare(h, "/dev/sdc")
    with pytest.raises(disks.DiskRefused, match="not a block device"):
        prepare(h, "/proc/swaps")


def test_disk_refuses_swap(fs):
    h = disk_host(fs, mountinfo="27 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
                  swaps="Filename Type Size Used Prio\n/dev/sdc3 partition 4 0 -2\n")
    with pytest.raises(disks.DiskRefused, match="/dev/sdc3 is in use as swap"):
        prepare(h, "/dev/sdc")


NOT_MOUNTED = "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 27 8:17 / /mnt rw - ext4 /dev/sdb1 rw\n"
PVS = "pvs --noheadings --separator | -o pv_name,vg_name,vg_uuid"
LSBLK_NO_LV = "\n".join(ln for ln in LSBLK.splitlines() if "dm-0" not in ln) + "\n"


def mount_writes_fstab(text):
    """A fake `mount` that puts an fstab into the mount point (pyfakefs), as the disk would."""
    def run(argv, timeout):
        point = argv[-1]
        os.makedirs(os.path.join(point, "etc"), exist_ok=True)
        with open(os.path.join(point, "etc", "fstab"), "w", encoding="utf-8") as fh:
            fh.write(text)
        return CommandResult(tuple(argv), 0, "")
    return run


class DiskRunner(FakeRunner):
    """Mount, umount and LVM answered by prefix (the mount point is a fresh temp dir)."""

    def __init__(self, table, fstab=FSTAB, vg_collides=False, activate_ok=True):
        super().__init__(table)
        self.fstab, self.vg_collides, self.activate_ok = fstab, vg_collides, activate_ok
        self.active = False

    def run(self, argv, timeout=10, input=None, env=None):
        argv = tuple(str(a) for a in argv)
        if argv[0] == "mount":
            self.calls.append(argv)
            return mount_writes_fstab(self.fstab)(argv, timeout)
        if argv[0] == "umount":
            self.calls.append(argv)
            os.remove(os.path.join(argv[-1], "etc", "fstab"))
            os.rmdir(os.path.join(argv[-1], "etc"))
            return CommandResult(argv, 0, "")
        if argv[0] == "pvs":
            self.calls.append(argv)
            if '"a|^/dev/sdc3$|"' in argv[-1]:            # only the disk's PVs
                return CommandResult(argv, 0, "  /dev/sdc3|datavg|Zx1\n")
            assert '"r|^/dev/sdc3$|"' in argv[-1]          # every PV but the disk's
            other = "  /dev/sda2|datavg|Qq9\n" if self.vg_collides else "  /dev/sda2|rootvg|Q\n"
            return CommandResult(argv, 0, other)
        if argv[0] == "vgchange":
            self.calls.append(argv)
            self.active = argv[1] == "-ay" and self.activate_ok
            return CommandResult(argv, 0 if self.activate_ok else 5, "", "activation failed\n")
        if argv[0] == "lsblk":
            self.calls.append(argv)
            return CommandResult(argv, 0, LSBLK if self.active else LSBLK_NO_LV)
        return super().run(argv, timeout, input, env)


def test_disk_activates_lvm_read_only_peeks_fstab_and_cleans_up(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID})
    ds, warnings = prepare(h, "/dev/sdc")
    calls = [c[:2] for c in h.runner.calls if c[0] in ("vgchange", "mount", "umount")]
    assert calls[0] == ("vgchange", "-ay") and calls[-1] == ("vgchange", "-an")
    act = next(c for c in h.runner.calls if c[:2] == ("vgchange", "-ay"))
    assert 'read_only_volume_list = [ "datavg" ]' in act[act.index("--config") + 1]
    mount = next(c for c in h.runner.calls if c[0] == "mount")
    assert mount[1:5] == ("-t", "ext4", "-o", "ro,noload") and mount[5] == "/dev/sdc1"
    assert not os.path.exists(mount[6])            # the private mount point is gone
    assert ds.activated == ["datavg"] and "mounted read-only (ro,noload)" in ds.fstab_from
    got = {g.device: g.guest_point for g in ds.filesystems}
    assert got == {"/dev/sdc1": "/", "/dev/sdc2": "/var", "/dev/mapper/datavg-data--lv": "/data"}
    assert any("vfat" in n for n in ds.notes) and warnings == []


def test_disk_refuses_a_volume_group_named_like_the_rescue_vms(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID}, vg_collides=True)
    with pytest.raises(disks.DiskRefused, match=r"volume group datavg has the same name as this "
                                                r"machine's .*does not rename"):
        prepare(h, "/dev/sdc")
    assert not [c for c in h.runner.calls if c[0] in ("vgchange", "mount")]


def test_disk_lvm_activation_failure_is_a_note(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID}, activate_ok=False)
    ds, _ = prepare(h, "/dev/sdc")
    assert ds.activated == [] and any("could not activate volume group datavg" in n
                                      for n in ds.notes)
    assert "/dev/mapper/datavg-data--lv" not in {g.device for g in ds.filesystems}


def test_disk_with_root_reads_fstab_there_and_leaves_mounted_ones_to_the_rescue_rule(fs):
    h = rescue_host(fs)
    for dev in ("/dev/sdc",):
        block_device(fs, dev)
    fs.create_file("/proc/swaps", contents="Filename\n")
    h.runner = DiskRunner({BLKID_CMD: BLKID})
    ds, _ = prepare(h, "/dev/sdc")
    assert ds.fstab_from == "/etc/fstab under --root"
    assert not [c for c in h.runner.calls if c[0] == "mount"]
    assert {g.device for g in ds.filesystems} == {"/dev/mapper/datavg-data--lv"}
    assert any("/dev/sdc1 is mounted at /rescue: checked by freeze.rescue_fs_state" in n
               for n in ds.notes)


def test_peek_tries_the_next_file_system_without_fstab(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID}, fstab=None)

    def no_fstab(argv, timeout):
        os.makedirs(argv[-1], exist_ok=True)
        return CommandResult(tuple(argv), 0, "")

    h.runner.run = lambda argv, timeout=10, input=None, env=None: (
        no_fstab(argv, timeout) if argv[0] == "mount" else
        CommandResult(tuple(argv), 0, "") if argv[0] == "umount" else
        DiskRunner.run(h.runner, argv, timeout, input, env))
    ds, _ = prepare(h, "/dev/sdc")
    assert ds.fstab_from.startswith("not found (") and "has no /etc/fstab" in ds.fstab_from
    assert all(g.guest_point == "" for g in ds.filesystems)


def test_disk_volume_group_is_deactivated_when_the_check_is_interrupted(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID})
    with pytest.raises(KeyboardInterrupt):
        with disks.attached(h, ["/dev/sdc"], lambda msg: None):
            raise KeyboardInterrupt()
    assert [c[:2] for c in h.runner.calls if c[0] == "vgchange"] == [("vgchange", "-ay"),
                                                                     ("vgchange", "-an")]


def test_disk_deactivation_failure_is_said(fs):
    h = disk_host(fs, mountinfo=NOT_MOUNTED)
    h.runner = DiskRunner({BLKID_CMD: BLKID})
    real = h.runner.run

    def run(argv, timeout=10, input=None, env=None):
        if tuple(argv[:2]) == ("vgchange", "-an"):
            return CommandResult(tuple(argv), 5, "", "Logical volume in use\n")
        return real(argv, timeout, input, env)

    h.runner.run = run
    _, warnings = prepare(h, "/dev/sdc")
    assert warnings and "vgchange -an datavg" in warnings[0]


# ---- the new parsers' verdicts never raise -------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from azbdiag.parsers.btrfs_check import btrfs_check_verdict  # noqa: E402
from azbdiag.parsers.e2fsck import e2fsck_verdict  # noqa: E402
from azbdiag.parsers.lvm_report import parse_lvm_report  # noqa: E402
from azbdiag.parsers.xfs_repair import xfs_repair_findings  # noqa: E402

OUTPUT = st.lists(st.sampled_from([
    "", "ERROR: errors found in fs roots", "found 1 bytes used, error(s) found", "? no",
    "Inode 12 has illegal block(s).  Clear? no", "skipping journal recovery", "would junk",
    "is currently mounted", "no error found", "|", "  /dev/sdc3|datavg|x", "\x00", "\ufeff",
]), max_size=8).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(-300, 300)), OUTPUT | st.text(max_size=200), OUTPUT)
def test_verdicts_never_raise(rc, out, err):
    assert e2fsck_verdict(rc, out, err).verdict in ("clean", "errors", "unknown")
    assert btrfs_check_verdict(rc, out, err)[0] in ("clean", "corrupt", "mounted", "unknown")
    assert len(xfs_repair_findings(out, err)) <= 20
    for row in parse_lvm_report(out, ["pv_name", "vg_name", "vg_uuid"]):
        assert set(row) == {"pv_name", "vg_name", "vg_uuid"}
