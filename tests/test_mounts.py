"""Parsers of mount tables, the extension's freeze list, and file system state output."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.facts import frozen_mounts
from azbdiag.parsers import (
    btrfs_stats,
    freeze_log,
    kernel_log,
    lsblk,
    proc,
    tune2fs,
    waagent_conf,
    xfs_repair,
)
from azbdiag.parsers import mounts as mp

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 27 8:17 / /data rw,relatime - xfs /dev/sdb1 rw,attr2
31 27 8:33 / /mnt/resource rw - ext4 /dev/sdc1 rw
32 27 7:0 / /snap/core ro - squashfs /dev/loop0 ro
33 27 7:1 / /loopy rw - ext4 /dev/loop1 rw
34 27 0:50 / /nfs rw - nfs4 srv:/x rw
35 27 8:17 /sub /bind rw - xfs /dev/sdb1 rw,attr2
36 27 8:49 / /stack rw - ext4 /dev/sdd1 rw
37 36 8:65 / /stack rw - ext4 /dev/sde1 rw
38 27 8:81 / /skip\\040me rw - ext4 /dev/sdf1 rw
39 27 8:97 / /boot/efi rw - vfat /dev/sda15 rw
"""


def test_freeze_list_like_the_extension():
    table = mp.parse_mountinfo(MOUNTINFO)
    fl = frozen_mounts.freeze_list(table, ["/mnt/resource"], ["/skip me", "/"])
    points = [m.mount_point for m in fl.frozen]
    # reverse mount order, "/" last and not skippable (mounts.py Mounts, fsfreezer.py
    # freeze_safe); /bind is the same device as /data, whose root lsblk names: frozen once
    assert points == ["/stack", "/data", "/"]
    assert [(m.mount_point, t.mount_point) for m, t in fl.covered] == [("/bind", "/data")]
    assert [m.source for m in fl.frozen if m.mount_point == "/stack"] == ["/dev/sde1"]
    why = {m.mount_point: reason for m, reason in fl.skipped}
    assert why["/mnt/resource"] == "resource disk"
    assert why["/loopy"] == "loop device"
    assert why["/skip me"] == "MountsToSkip"
    assert "never frozen" in why["/nfs"] and "never frozen" in why["/boot/efi"]
    assert "/proc" not in why and "/snap/core" not in why


def test_mounts_to_skip_is_exact():
    table = mp.parse_mountinfo(MOUNTINFO)
    fl = frozen_mounts.freeze_list(table, [], [" /data", "/stack/"])
    assert [m.mount_point for m in fl.frozen][-3:] == ["/mnt/resource", "/data", "/"]


def test_same_superblock_and_stacked():
    table = mp.parse_mountinfo(MOUNTINFO)
    groups = frozen_mounts.same_superblock(table)
    assert [[m.mount_point for m in g] for g in groups] == [["/data", "/bind"]]
    stacks = frozen_mounts.stacked(table)
    assert [[m.source for m in g] for g in stacks] == [["/dev/sdd1", "/dev/sde1"]]


def test_same_superblock_from_fstab():
    table = mp.parse_fstab("UUID=a /a ext4 defaults 0 2\n/dev/disk/by-uuid/A /b ext4 defaults 0 2\n"
                           "UUID=c /c xfs defaults 0 0\n")
    # lsblk names the last mount of the device whose root is "/": /b
    assert [[m.mount_point for m in g] for g in frozen_mounts.same_superblock(table)] == [["/b", "/a"]]
    fl = frozen_mounts.freeze_list(table)
    assert [m.mount_point for m in fl.frozen] == ["/c", "/b"]
    assert [(m.mount_point, t.mount_point) for m, t in fl.covered] == [("/a", "/b")]


def test_resource_disk_mount_point():
    assert waagent_conf.resource_disk_mount_point(None) == "/mnt/resource"
    assert waagent_conf.resource_disk_mount_point("ResourceDisk.MountPoint=/mnt # comment\n") == "/mnt"
    assert waagent_conf.resource_disk_mount_point("ResourceDisk.MountPoint=\n") == "/mnt/resource"


def test_network_types():
    assert frozen_mounts.is_network_or_fuse("fuse.blobfuse2") and frozen_mounts.is_network_or_fuse("cifs")
    assert not frozen_mounts.is_network_or_fuse("ext4")


TUNE2FS = """\
tune2fs 1.47.0 (5-Feb-2023)
Filesystem volume name:   <none>
Filesystem features:      has_journal ext_attr resize_inode dir_index filetype extent
Filesystem state:         not clean with errors
Errors behavior:          Continue
FS Error count:           3
First error time:         Tue Nov 25 10:00:00 2026
First error function:     ext4_lookup
Last error time:          Tue Nov 25 11:00:00 2026
Last error function:      ext4_find_entry
"""


def test_ext_state():
    s = tune2fs.ext_state(TUNE2FS)
    assert s.state == "not clean with errors" and s.error_count == 3 and s.has_journal
    assert s.needs_fsck() and "3 error" in s.describe()
    clean = tune2fs.ext_state("Filesystem state: clean\nFilesystem features: has_journal\n")
    assert not clean.needs_fsck()
    # A journal-less fs is 'not clean' while mounted: that is normal.
    ext2 = tune2fs.ext_state("Filesystem state: not clean\nFilesystem features: filetype\n")
    assert not ext2.needs_fsck(mounted=True) and ext2.needs_fsck(mounted=False)
    journaled = tune2fs.ext_state("Filesystem state: not clean\nFilesystem features: has_journal\n")
    assert journaled.needs_fsck()
    assert tune2fs.ext_state("garbage") is None


def test_xfs_repair_verdict():
    assert xfs_repair.xfs_repair_verdict(0, "", "") == "clean"
    assert xfs_repair.xfs_repair_verdict(1, "", "") == "corrupt"
    assert xfs_repair.xfs_repair_verdict(2, "", "") == "dirty_log"
    assert xfs_repair.xfs_repair_verdict(1, "", "xfs_repair: /dev/sdb1 contains a mounted and "
                                             "writable filesystem\nfatal error -- couldn't "
                                             "initialize XFS library") == "mounted"
    assert xfs_repair.xfs_repair_verdict(None, "", "") == "unknown"


def test_btrfs_stats():
    stats = btrfs_stats.parse_btrfs_stats("[/dev/sdb1].write_io_errs    0\n"
                                      "[/dev/sdb1].corruption_errs  2\nnoise\n")
    assert btrfs_stats.btrfs_errors(stats) == ["/dev/sdb1: corruption_errs = 2"]


KLOG = """\
[   10.0] EXT4-fs (sdb1): mounted filesystem abc r/w with ordered data mode.
[   20.0] EXT4-fs error (device sdb1): ext4_lookup:1855: inode #2: comm ls: deleted inode
[   21.0] EXT4-fs (sdb1): Remounting filesystem read-only
[   30.0] XFS (loop3): Mounting V5 Filesystem 5146
[   31.0] XFS (loop3): Ending clean mount
[   32.0] XFS (loop3): Log I/O Error (0x6) detected at xfs_fs_goingdown.  Shutting down filesystem.
[   40.0] XFS (loop3): Mounting V5 Filesystem 5146
[   50.0] Buffer I/O error on dev sdc1, logical block 0
[   60.0] usb 1-1: new device
"""


def test_kernel_lines_and_errors_since_mount():
    lines = kernel_log.kernel_fs_lines(KLOG)
    assert all(ln.device for ln in lines)
    cur, earlier = kernel_log.errors_since_mount(lines, "sdb1")
    assert len(cur) == 2 and "Remounting" in cur[1] and not earlier
    cur, earlier = kernel_log.errors_since_mount(lines, "loop3")
    assert cur == [] and len(earlier) == 1          # remounted since: the error is history
    cur, _ = kernel_log.errors_since_mount(lines, "sdc1")
    assert cur and "Buffer I/O" in cur[0]


EXTLOG = """\
2026-11-24 01:00:00 ****** 1. Starting Freeze Binary
2026-11-24 01:00:00 arg : ['/x/safefreeze', '60', '/data', '/']
2026-11-24 01:00:01 Failed to FIFREEZE: /data with error message: Device or resource busy
2026-11-24 01:00:01 Failed to FITHAW: / with error message : Invalid argument
2026-11-24 01:00:01 Failed to FITHAW: /data with error message : Invalid argument
2026-11-25 01:00:00 ****** 1. Starting Freeze Binary
2026-11-25 01:00:00 arg : ['/x/safefreeze', '60', '/nfs', '/']
2026-11-25 01:00:00 Failed to open: /nfs with error: -1 and error message: Stale file handle
"""


def test_parse_freeze_log():
    attempts = freeze_log.parse_freeze_log(EXTLOG)
    assert len(attempts) == 2
    first, last = attempts
    assert first.freeze_failures[0][:2] == ("/data", "Device or resource busy")
    assert [t[0] for t in first.thaw_failures] == ["/", "/data"]
    assert last.open_failures[0][:2] == ("/nfs", "Stale file handle") and last.failed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsers_never_raise(text):
    mp.parse_mountinfo(text)
    mp.parse_fstab(text)
    table = mp.parse_mountinfo(text) + mp.parse_fstab(text)
    frozen_mounts.freeze_list(table, [text], text.split(","))
    frozen_mounts.same_superblock(table)
    frozen_mounts.stacked(table)
    waagent_conf.resource_disk_mount_point(text)
    tune2fs.parse_tune2fs(text)
    state = tune2fs.ext_state(text)
    if state is not None:
        state.needs_fsck()
        state.describe()
    xfs_repair.xfs_repair_verdict(1, text, text)
    btrfs_stats.btrfs_errors(btrfs_stats.parse_btrfs_stats(text))
    lines = kernel_log.kernel_fs_lines(text)
    kernel_log.errors_since_mount(lines, text[:5])
    freeze_log.parse_freeze_log(text)
    proc.parse_proc_locks(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "27 1 8:1 / / rw - ext4 /dev/sda1 rw", "30 27 8:17 / /d rw - xfs /dev/sdb1 rw",
    "Filesystem state: clean", "FS Error count: x", "[/dev/a].x_errs 5",
    "XFS (sda): Mounting", "EXT4-fs error (device sda): x", "Failed to FIFREEZE: /d",
    "Failed to open: /x", "arg : [", "\\", "-", "\x00", "1: POSIX ADVISORY WRITE 1 zz:1:1"]),
    max_size=12))
def test_parsers_never_raise_on_near_valid_lines(lines):
    test_parsers_never_raise.hypothesis.inner_test("\n".join(lines))


def test_unescape():
    assert mp.unescape("/a\\040b") == "/a b"
    assert mp.unescape("/a\\000b") == "/a\\000b"
    assert mp.unescape("/a\\9") == "/a\\9"


def test_btrfs_subvolumes_are_one_device_frozen_once():
    """Subvolumes of one btrfs share the superblock: lsblk names one mount point for the
    device (the last mounted, none having root "/"), and one FIFREEZE freezes them all."""
    table = mp.parse_mountinfo(
        "27 1 0:30 /@ / rw - btrfs /dev/sda2 rw,subvol=/@\n"
        "28 27 0:30 /@/home /home rw - btrfs /dev/sda2 rw,subvol=/@/home\n"
        "29 27 0:30 /@/var /var rw - btrfs /dev/sda2 rw,subvol=/@/var\n")
    groups = frozen_mounts.same_superblock(table)
    assert [[m.mount_point for m in g] for g in groups] == [["/var", "/", "/home"]]
    fl = frozen_mounts.freeze_list(table)
    assert [m.mount_point for m in fl.frozen] == ["/var"]
    assert sorted(m.mount_point for m, _ in fl.covered) == ["/", "/home"]


def test_fstab_subvolumes_binds_and_loop_images():
    table = mp.parse_fstab(
        "UUID=r / btrfs defaults 0 0\nUUID=r /var btrfs subvol=/@/var 0 0\n"
        "UUID=r /home btrfs subvol=@/home 0 0\nUUID=d /srv/data ext4 defaults 0 2\n"
        "/srv/data/www /var/www none bind 0 0\n"
        "/srv/data/img.ext4 /srv/scratch ext4 loop,nofail 0 2\n"
        "/srv/data/raw.ext4 /srv/raw ext4 nofail 0 2\n")
    assert [m.fs_root for m in table[:3]] == ["", "/@/var", "/@/home"]
    table += mp.parse_fstab("UUID=n /srv/spare xfs noauto 0 0\n")
    fl = frozen_mounts.freeze_list(table, images=["/srv/data/raw.ext4"])
    assert [m.mount_point for m in fl.frozen] == ["/srv/data", "/home"]
    why = {m.mount_point: r for m, r in fl.skipped}
    assert why.pop("/srv/spare").startswith("noauto: not mounted at boot")
    assert why == {"/srv/scratch": "loop device", "/srv/raw": "loop device"}
    assert {m.mount_point: t.mount_point for m, t in fl.covered} == {
        "/": "/home", "/var": "/home", "/var/www": "/srv/data"}


def test_lsblk_merge_keeps_the_mount_point_lsblk_names():
    table = mp.parse_mountinfo(
        "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 27 8:17 / /a rw - ext4 /dev/sdb1 rw\n"
        "31 27 8:17 / /b rw - ext4 /dev/sdb1 rw\n"
        "32 27 7:3 / /img rw - ext4 /dev/mapper/img rw\n")
    rows = lsblk.parse_lsblk_pairs(
        'NAME="sda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/"\n'
        'NAME="sdb1" TYPE="part" FSTYPE="" MOUNTPOINT="/b"\n'
        'NAME="loop3" TYPE="loop" FSTYPE="ext4" MOUNTPOINT="/img"\n'
        'NAME="sdc" TYPE="disk" FSTYPE="" MOUNTPOINT=""\n')
    fl = frozen_mounts.freeze_list(table, (), (), rows)
    assert [m.mount_point for m in fl.frozen] == ["/b", "/"]
    why = {m.mount_point: r for m, r in fl.skipped}
    assert why["/img"] == "loop device"
    assert [(m.mount_point, t.mount_point) for m, t in fl.covered] == [("/a", "/b")]
    rows = [r for r in rows if r["NAME"] != "sdb1"]        # a device lsblk does not show
    why = {m.mount_point: r for m, r in frozen_mounts.freeze_list(table, (), (), rows).skipped}
    assert why["/a"].startswith("lsblk does not list") and why["/b"] == why["/a"]


def test_parse_lsblk_pairs_escapes():
    rows = lsblk.parse_lsblk_pairs('NAME="sdb1" MOUNTPOINT="/my\\x20data" LABEL="a\\"b"\njunk\n')
    assert rows == [{"NAME": "sdb1", "MOUNTPOINT": "/my data", "LABEL": 'a\\"b'}]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_lsblk_parser_never_raises(text):
    rows = lsblk.parse_lsblk_pairs(text)
    frozen_mounts.freeze_list(mp.parse_mountinfo(text), (), (), rows)
