"""Helpers for integration tests on real file systems: images on loop devices under a test's
tmp dir, mounted there, always torn down. Nothing here touches a mount it did not create."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess

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
