"""Helpers for integration tests on real file systems: images on loop devices under a test's
tmp dir, mounted there, always torn down. Nothing here touches a mount it did not create."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
from typing import Dict, List, Tuple

import pytest

TOOLS = {"ext4": ("mkfs.ext4", "debugfs", "tune2fs", "e2fsck"),
         "xfs": ("mkfs.xfs", "xfs_io", "xfs_repair")}


def sh(*argv, check=True, timeout=120, **kw):
    """Run a command for the test itself (not through azbdiag)."""
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                         timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))}: exit {res.returncode}: {res.stderr}")
    return res


def require(fstype: str = "ext4") -> None:
    """Skip unless we can make loop-device file systems of this type."""
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mount)")
    missing = [t for t in ("losetup", "mount", "umount", "fsfreeze", "setsid", *TOOLS[fstype])
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (see tools/deps/freeze.apt)")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop devices (/dev/loop-control missing)")


def mounted_at(point: str) -> bool:
    point = os.path.realpath(point)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return any(line.split()[4] == point for line in fh if len(line.split()) > 4)


@contextlib.contextmanager
def loop_fs(base, fstype: str = "ext4", size_mb: int = 300, name: str = "fs"):
    """Make `fstype` in an image under `base`, attach it to a loop device and mount it at
    base/<name>. Yields (device, mount point). Always unmounts and detaches."""
    require(fstype)
    base = str(base)
    image = os.path.join(base, f"{name}.img")
    point = os.path.join(base, name)
    os.makedirs(point, exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    sh(f"mkfs.{fstype}", "-q", *(["-F"] if fstype == "ext4" else ["-f"]), image)
    dev = None
    try:
        dev = sh("losetup", "-f", "--show", image).stdout.strip()
        sh("mount", "-t", fstype, dev, point)
        yield dev, point
    finally:
        for extra in list_mounts_of(dev) if dev else []:
            sh("fsfreeze", "-u", extra, check=False)
            sh("umount", extra, check=False)
        if os.path.exists(point) and mounted_at(point):
            sh("fsfreeze", "-u", point, check=False)
            if sh("umount", point, check=False).returncode != 0:
                sh("umount", "-l", point, check=False)
        if dev:
            sh("losetup", "-d", dev, check=False)


def list_mounts_of(dev: str):
    """Every mount point of `dev` (most recent first)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if "-" in fields:
                sep = fields.index("-")
                if len(fields) > sep + 2 and fields[sep + 2] == dev:
                    points.append(fields[4])
    return list(reversed(points))


def fill(point: str, count: int = 20) -> dict:
    """Write files with varied content under `point`; returns relative path -> sha256."""
    sums = {}
    os.makedirs(os.path.join(point, "dir", "sub"), exist_ok=True)
    os.makedirs(os.path.join(point, "sub"), exist_ok=True)
    for i in range(count):
        rel = os.path.join("dir" if i % 2 else "", "sub" if i % 3 == 0 else "", f"file{i}.bin")
        data = hashlib.sha256(str(i).encode()).digest() * (i * 97 + 1)
        with open(os.path.join(point, rel), "wb") as fh:
            fh.write(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    os.sync()
    return sums


def checksums(point: str, rels) -> dict:
    out = {}
    for rel in rels:
        try:
            with open(os.path.join(point, rel), "rb") as fh:
                out[rel] = hashlib.sha256(fh.read()).hexdigest()
        except OSError as exc:
            out[rel] = f"missing: {exc}"
    return out


def make_ext4_dirty(dev: str, point: str) -> None:
    """Mark the superblock 'not clean with errors' with debugfs, then mount it again."""
    sh("umount", point)
    sh("debugfs", "-w", "-R", "ssv state 2", dev)
    sh("debugfs", "-w", "-R", "ssv error_count 3", dev)
    sh("mount", "-t", "ext4", dev, point)


def make_xfs_shut_down(point: str) -> None:
    """Shut the mounted XFS down with xfs_io (as after a metadata or log I/O error)."""
    sh("xfs_io", "-x", "-c", "shutdown", point)


def ext4_state(dev: str) -> str:
    for line in sh("tune2fs", "-l", dev).stdout.splitlines():
        if line.startswith("Filesystem state:"):
            return line.split(":", 1)[1].strip()
    return "?"


@contextlib.contextmanager
def loop_mount_o(base, fstype: str = "ext4", size_mb: int = 300, name: str = "fs"):
    """Like loop_fs, but mounted with `mount -o loop IMAGE POINT`: the kernel's loop device
    clears itself when the file system is unmounted (autoclear). Yields (image, mount point);
    always unmounts and detaches whatever loop device still holds the image."""
    require(fstype)
    base = str(base)
    image = os.path.join(base, f"{name}.img")
    point = os.path.join(base, name)
    os.makedirs(point, exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    sh(f"mkfs.{fstype}", "-q", *(["-F"] if fstype == "ext4" else ["-f"]), image)
    try:
        sh("mount", "-t", fstype, "-o", "loop", image, point)
        yield image, point
    finally:
        for _ in range(3):
            if os.path.exists(point) and mounted_at(point):
                sh("fsfreeze", "-u", point, check=False)
                if sh("umount", point, check=False).returncode != 0:
                    sh("umount", "-l", point, check=False)
        for line in sh("losetup", "-j", image, check=False).stdout.splitlines():
            sh("losetup", "-d", line.split(":", 1)[0], check=False)


def source_of(point: str) -> str:
    """The device mounted at `point` now ('' when none)."""
    point = os.path.realpath(point)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4 and fields[4] == point and "-" in fields:
                return fields[fields.index("-") + 2]
    return ""


# ---- a partitioned OS disk, as a rescue VM sees it ------------------------------------------
#
# The fixtures below build an "OS disk" image with a GPT partition table (/ on ext4, /var on
# xfs by default), attach it with `losetup -P`, and mount it under a fake /rescue in the test's
# tmp dir the way `az vm repair create` does, with the guest's own /etc/fstab naming the file
# systems by UUID= and LABEL=. They are meant to be reused by the repair tests (`fix --freeze
# --root/--disk`): `GuestDisk.sums` holds the checksums of the data written, which a repair
# must leave unchanged; the XFS corruption is confined to one victim file outside those sums.

GUEST_LAYOUT = (("/", "ext4", 200), ("/var", "xfs", 400))
PART_TOOLS = ("sfdisk", "partx", "blkid", "debugfs", "xfs_db", "mknod")


@dataclasses.dataclass
class Partition:
    device: str             # /dev/loop5p1
    fstype: str
    guest_point: str        # where the guest mounts it
    uuid: str = ""
    label: str = ""
    made_node: bool = False  # we created /dev/loopNpM ourselves (no udev, no devtmpfs)


@dataclasses.dataclass
class GuestDisk:
    image: str
    device: str                                   # /dev/loop5
    partitions: List[Partition]
    sums: Dict[str, Dict[str, str]] = dataclasses.field(default_factory=dict)  # point -> sums
    victim: str = ""                              # guest path of the XFS victim file

    def part(self, guest_point: str) -> Partition:
        return next(p for p in self.partitions if p.guest_point == guest_point)

    def fstab(self) -> str:
        """The guest's fstab: / by UUID (upper case, as some images write it), the rest by
        LABEL, plus entries a rescue VM must leave alone."""
        lines = ["# /etc/fstab of the test's guest OS disk"]
        for p in self.partitions:
            source = f"UUID={p.uuid.upper()}" if p.guest_point == "/" else f"LABEL={p.label}"
            lines.append(f"{source} {p.guest_point} {p.fstype} defaults 0 "
                         f"{1 if p.guest_point == '/' else 2}")
        lines.append("//files.example.test/share /mnt/share cifs noauto,credentials=/root/c 0 0")
        return "\n".join(lines) + "\n"


def require_partitions() -> None:
    require("ext4")
    require("xfs")
    missing = [t for t in PART_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (see tools/deps/rescue.apt)")


def _partition_nodes(dev: str, count: int) -> List[Tuple[str, bool]]:
    """/dev/loopNp1.. for a loop device attached with -P: ask the kernel to scan with partx
    when it did not, and make the device nodes when nothing (udev, devtmpfs) did."""
    base = os.path.basename(dev)
    sysdir = f"/sys/block/{base}"
    names = [f"{base}p{i}" for i in range(1, count + 1)]
    if not all(os.path.isdir(os.path.join(sysdir, n)) for n in names):
        sh("partx", "-a", dev, check=False)
    out = []
    for n in names:
        path = f"/dev/{n}"
        with open(os.path.join(sysdir, n, "dev"), encoding="ascii") as fh:
            major, minor = fh.read().strip().split(":")
        made = False
        if not os.path.exists(path):
            sh("mknod", path, "b", major, minor)
            made = True
        out.append((path, made))
    return out


def blkid_value(dev: str, tag: str) -> str:
    return sh("blkid", "-p", "-s", tag, "-o", "value", dev, check=False).stdout.strip()


@contextlib.contextmanager
def partitioned_disk(base, layout=GUEST_LAYOUT, name: str = "osdisk"):
    """An image with a GPT partition table and a file system per partition (`layout`: guest
    mount point, type, size in MB), attached to a loop device. Yields a GuestDisk; always
    unmounts its partitions, removes the nodes it made and detaches the loop device."""
    require_partitions()
    image = os.path.join(str(base), f"{name}.img")
    with open(image, "wb") as fh:
        fh.truncate((sum(size for _, _, size in layout) + 8) * 1024 * 1024)
    script = "label: gpt\n" + "".join(f",{size}M,L\n" for _, _, size in layout)
    sh("sfdisk", "-q", image, input=script)
    dev = sh("losetup", "-f", "--show", "-P", image).stdout.strip()
    parts: List[Partition] = []
    try:
        for (point, fstype, _), (path, made) in zip(layout, _partition_nodes(dev, len(layout))):
            label = "guest" + (point.strip("/").replace("/", "-") or "root")
            parts.append(Partition(path, fstype, point, label=label[:12], made_node=made))
            sh(f"mkfs.{fstype}", "-q", "-f" if fstype == "xfs" else "-F", "-L", label[:12], path)
            parts[-1].uuid = blkid_value(path, "UUID")
        yield GuestDisk(image, dev, parts)
    finally:
        for p in reversed(parts):
            for point in list_mounts_of(p.device):
                if sh("umount", point, check=False).returncode != 0:
                    sh("umount", "-l", point, check=False)
        sh("losetup", "-d", dev, check=False)
        for p in parts:
            if p.made_node and os.path.exists(p.device):
                os.unlink(p.device)


def mount_guest(disk: GuestDisk, rescue: str) -> List[str]:
    """Mount the guest's file systems under `rescue` at their guest points, / first (as
    `az vm repair create` does under /rescue). Returns the mount points, outermost first."""
    points = []
    for p in sorted(disk.partitions, key=lambda p: len(p.guest_point)):
        point = os.path.join(rescue, p.guest_point.lstrip("/"))
        os.makedirs(point, exist_ok=True)
        sh("mount", "-t", p.fstype, p.device, point)
        points.append(point)
    return points


def unmount_all(points: List[str]) -> None:
    for point in reversed(points):
        if mounted_at(point) and sh("umount", point, check=False).returncode != 0:
            sh("umount", "-l", point, check=False)


@contextlib.contextmanager
def rescue_mounts(disk: GuestDisk, rescue: str):
    """`disk` mounted under `rescue` for the duration; always unmounted, innermost first."""
    points: List[str] = []
    try:
        points = mount_guest(disk, rescue)
        yield points
    finally:
        unmount_all(points)


def populate_guest(disk: GuestDisk, rescue: str) -> None:
    """Write the guest's /etc/fstab, data files on every file system (checksums kept in
    disk.sums) and, on XFS /var, the victim file `corrupt_xfs_victim` damages."""
    with rescue_mounts(disk, rescue):
        os.makedirs(os.path.join(rescue, "etc"), exist_ok=True)
        with open(os.path.join(rescue, "etc", "fstab"), "w", encoding="utf-8") as fh:
            fh.write(disk.fstab())
        for p in disk.partitions:
            point = os.path.join(rescue, p.guest_point.lstrip("/"))
            disk.sums[p.guest_point] = fill(point, count=8)
            if p.fstype == "xfs" and not disk.victim:
                os.makedirs(os.path.join(point, "victim"), exist_ok=True)
                with open(os.path.join(point, "victim", "file"), "w", encoding="ascii") as fh:
                    fh.write("this inode gets an invalid file type\n")
                disk.victim = os.path.join(p.guest_point, "victim", "file")
        os.sync()


def mark_ext4_not_clean(dev: str) -> None:
    """On an unmounted ext4: the superblock says 'not clean with errors', 3 errors recorded
    (what the kernel writes after an EXT4-fs error). e2fsck -f -y clears it."""
    sh("debugfs", "-w", "-R", "ssv state 2", dev)
    sh("debugfs", "-w", "-R", "ssv error_count 3", dev)


def corrupt_xfs_victim(disk: GuestDisk, rescue_tmp: str) -> int:
    """On the unmounted XFS holding disk.victim: give the victim's inode an invalid file type
    (mode 0170644) with xfs_db -x. The kernel's inode verifier rejects that inode when it is
    read ("Metadata corruption detected at xfs_dinode_verify ... Unmount and run xfs_repair",
    the lookup fails with EUCLEAN); `xfs_repair -n` reports it (exit 1); `xfs_repair` clears
    that one inode and its directory entry, and nothing else. Returns the inode number."""
    part = max((p for p in disk.partitions if disk.victim.startswith(
        p.guest_point.rstrip("/") + "/")), key=lambda p: len(p.guest_point))
    point = os.path.join(rescue_tmp, "victim-lookup")
    os.makedirs(point, exist_ok=True)
    sh("mount", "-t", "xfs", "-o", "ro", part.device, point)
    try:
        ino = os.stat(os.path.join(point, os.path.relpath(disk.victim, part.guest_point))).st_ino
    finally:
        sh("umount", point)
    sh("xfs_db", "-x", "-c", f"inode {ino}", "-c", "write core.mode 0170644", part.device)
    return ino


def read_victim(disk: GuestDisk, rescue: str) -> None:
    """Look the victim up under the mounted guest, as anyone browsing the disk would: the kernel
    logs the corruption for the device."""
    try:
        os.stat(os.path.join(rescue, disk.victim.lstrip("/")))
    except OSError:
        pass
