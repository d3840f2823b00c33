"""The running machine's own view: what is mounted where, its block devices and its kernel log.

With --root on a rescue VM the files under the root are the OS disk's, but the mount table, the
block devices and the kernel log belong to the machine azbdiag runs on. These facts read them
through a second, live Host on "/" that shares the run's command runner (`machine(host)`), never
through the root: a crafted disk cannot plant a fake /proc/self/mountinfo. Live, that second
host is the host itself.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Set

from azbdiag.host import Host
from azbdiag.model import CheckError, SkipReason, SkipRule
from azbdiag.parsers.blkid import parse_blkid_export
from azbdiag.parsers.kernel_log import KernelLine, kernel_fs_lines
from azbdiag.parsers.lsblk import parse_lsblk_pairs
from azbdiag.parsers.mounts import Mount, device_key, parse_mountinfo

LSBLK_COLUMNS = "NAME,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,PARTUUID,PARTLABEL,MAJ:MIN,RO,SIZE"
# util-linux before 2.23 lacks PARTUUID/PARTLABEL; blkid supplies them then.
LSBLK_FALLBACK = "NAME,KNAME,PKNAME,TYPE,MAJ:MIN,RO,SIZE"
TOP_TYPES = ("disk", "loop")


def machine(host) -> Host:
    """The machine azbdiag runs on, as a live Host sharing `host`'s runner (`host` itself when
    it is live)."""
    if host.live:
        return host
    return Host("/", runner=host.runner, is_root=host.is_root, azure=False, live=True)


@dataclasses.dataclass
class BlockDevice:
    """One block device of the machine azbdiag runs on, as lsblk lists it (size in bytes)."""
    name: str                   # lsblk NAME: the device-mapper name for LVM (rootvg-rootlv)
    kname: str                  # the kernel's name: sdc1, dm-0, loop0p2
    type: str                   # disk, part, lvm, crypt, loop, raid1, rom...
    major_minor: str = ""
    parents: List[str] = dataclasses.field(default_factory=list)   # knames
    fstype: str = ""
    uuid: str = ""
    label: str = ""
    partuuid: str = ""
    partlabel: str = ""
    read_only: bool = False
    size: int = 0

    @property
    def path(self) -> str:
        """The path to name it by: /dev/mapper/NAME for device-mapper devices."""
        if self.kname.startswith("dm-") and self.name and self.name != self.kname:
            return f"/dev/mapper/{self.name}"
        return f"/dev/{self.kname}"

    def describe(self) -> str:
        return f"{self.path} ({self.fstype or 'no file system'})"


def _merge_ids(devices: List[BlockDevice], ids: List[Dict[str, str]]) -> None:
    by_path: Dict[str, Dict[str, str]] = {}
    for row in ids:
        by_path[row["DEVNAME"]] = row
    for dev in devices:
        row = by_path.get(dev.path) or by_path.get(f"/dev/{dev.kname}") or by_path.get(
            f"/dev/mapper/{dev.name}") or {}
        dev.fstype = dev.fstype or row.get("TYPE", "")
        dev.uuid = dev.uuid or row.get("UUID", "")
        dev.label = dev.label or row.get("LABEL", "")
        dev.partuuid = dev.partuuid or row.get("PARTUUID", "")
        dev.partlabel = dev.partlabel or row.get("PARTLABEL", "")


def devices_from(lsblk_text: str, blkid_text: str = "") -> List[BlockDevice]:
    """Block devices from `lsblk -P -o LSBLK_COLUMNS` (one row per device and parent), their
    identity completed from `blkid -o export` where lsblk had none (no udev database)."""
    out: Dict[str, BlockDevice] = {}
    for row in parse_lsblk_pairs(lsblk_text):
        kname = row.get("KNAME") or row.get("NAME") or ""
        if not kname:
            continue
        dev = out.get(kname)
        if dev is None:
            try:
                size = int(row.get("SIZE") or 0)
            except ValueError:
                size = 0
            dev = out[kname] = BlockDevice(
                name=row.get("NAME") or kname, kname=kname, type=row.get("TYPE", ""),
                major_minor=row.get("MAJ:MIN", ""), fstype=row.get("FSTYPE", ""),
                uuid=row.get("UUID", ""), label=row.get("LABEL", ""),
                partuuid=row.get("PARTUUID", ""), partlabel=row.get("PARTLABEL", ""),
                read_only=row.get("RO") == "1", size=size)
        parent = row.get("PKNAME", "")
        if parent and parent not in dev.parents:
            dev.parents.append(parent)
    devices = list(out.values())
    _merge_ids(devices, parse_blkid_export(blkid_text))
    return devices


# ---- facts -------------------------------------------------------------------------------

def machine_mounts(host) -> List[Mount]:
    """What is mounted on the machine azbdiag runs on (its /proc/self/mountinfo)."""
    text = machine(host).try_read_text("/proc/self/mountinfo")
    if text is None:
        raise SkipRule(SkipReason.NO_INPUT, "cannot read this machine's /proc/self/mountinfo")
    return parse_mountinfo(text)


def block_devices(host) -> List[BlockDevice]:
    """This machine's block devices: lsblk for the tree, blkid for what each holds."""
    m = machine(host)
    res = m.run(["lsblk", "-b", "-n", "-P", "-o", LSBLK_COLUMNS], timeout=15)
    if not res.ok and not res.not_found and not res.timed_out:
        res = m.run(["lsblk", "-b", "-n", "-P", "-o", LSBLK_FALLBACK], timeout=15)
    if not res.ok:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot list the block devices ({res.describe()})")
    # Without a device list blkid probes every device; -c /dev/null: never a stale cache.
    ids = m.run(["blkid", "-c", "/dev/null", "-o", "export"], timeout=20)
    return devices_from(res.stdout, ids.stdout if ids.rc in (0, 2) else "")


def machine_kernel_log(host) -> List[KernelLine]:
    """File system lines of this boot's kernel log of the machine azbdiag runs on (the
    journal, else dmesg)."""
    m = machine(host)
    # The journal keeps the whole boot; the dmesg ring buffer may have lost its start.
    res = m.run(["journalctl", "-k", "-b", "-q", "--no-pager", "-o", "short-monotonic"],
                timeout=20)
    if not res.ok or not res.stdout.strip():
        alt = m.run(["dmesg"], timeout=15)
        res = alt if alt.ok or not res.ok else res
    if not res.ok:
        raise CheckError(f"cannot read the kernel log ({res.describe()})")
    return kernel_fs_lines(res.stdout)


def active_swaps(host) -> List[str]:
    """Devices (and files) this machine swaps to, from /proc/swaps."""
    text = machine(host).try_read_text("/proc/swaps") or ""
    return [line.split()[0] for line in text.splitlines()[1:] if line.split()]


# ---- the device tree ---------------------------------------------------------------------

class Topology:
    """The block device tree: parents, children, the disks a device lives on."""

    def __init__(self, devices: Iterable[BlockDevice]):
        self.devices = list(devices)
        self.by_kname = {d.kname: d for d in self.devices}
        self._children: Dict[str, List[str]] = {}
        for d in self.devices:
            for p in d.parents:
                self._children.setdefault(p, []).append(d.kname)

    def find(self, ref: str) -> Optional[BlockDevice]:
        """A device by /dev/KNAME, /dev/mapper/NAME, /dev/NAME, a bare name or MAJ:MIN."""
        ref = ref.strip()
        for d in self.devices:
            if ref in (d.path, f"/dev/{d.kname}", f"/dev/mapper/{d.name}", f"/dev/{d.name}",
                       d.kname, d.major_minor):
                return d
        return None

    def of_mount(self, m: Mount) -> Optional[BlockDevice]:
        """The device a mountinfo entry shows (major:minor; btrfs by its source)."""
        if m.major_minor and not m.major_minor.startswith("0:"):
            for d in self.devices:
                if d.major_minor == m.major_minor:
                    return d
        return self.find(m.source) if m.source.startswith("/dev/") else None

    def children(self, kname: str) -> List[BlockDevice]:
        """The devices built directly on `kname` (partitions, LVs on a PV...)."""
        return [self.by_kname[k] for k in self._children.get(kname, []) if k in self.by_kname]

    def descendants(self, kname: str) -> List[BlockDevice]:
        """`kname` and everything built on it (partitions, LVs, crypt), each once."""
        seen: List[str] = []
        todo = [kname]
        while todo:
            k = todo.pop()
            if k in seen or k not in self.by_kname:
                continue
            seen.append(k)
            todo.extend(reversed(self._children.get(k, [])))   # in lsblk's order
        return [self.by_kname[k] for k in seen]

    def disks_of(self, kname: str) -> Set[str]:
        """The knames of the whole disks `kname` lives on (an LV may span several)."""
        out: Set[str] = set()
        todo, seen = [kname], set()
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            d = self.by_kname.get(k)
            if d is None:
                continue
            if not d.parents or d.type in TOP_TYPES:
                out.add(k)
            todo.extend(d.parents)
        return out


_BY_LINK = {"/dev/disk/by-uuid/": "uuid", "/dev/disk/by-label/": "label",
            "/dev/disk/by-partuuid/": "partuuid", "/dev/disk/by-partlabel/": "partlabel"}


def resolve_source(source: str, candidates: Iterable[BlockDevice]) -> List[BlockDevice]:
    """The devices among `candidates` an fstab source names: UUID=, LABEL=, PARTUUID=,
    PARTLABEL=, their /dev/disk/by-* links, /dev/mapper/VG-LV and /dev/VG/LV. A kernel name
    (/dev/sda1) is not resolved: the rescue VM names the disk differently.

    The caller passes the devices of the guest's disk only: a VM made from the same image as
    the rescue VM has the same file system UUIDs and labels as the rescue VM's own disk."""
    key = device_key(source)
    cands = list(candidates)
    for prefix, attr in _BY_LINK.items():
        if key.startswith(prefix):
            value = key[len(prefix):]
            if attr in ("uuid", "partuuid"):
                return [d for d in cands if getattr(d, attr) and getattr(d, attr).lower() == value]
            value = _unhex_link(value)
            return [d for d in cands if getattr(d, attr) == value]
    if key.startswith("/dev/mapper/"):
        name = key[len("/dev/mapper/"):]
        return [d for d in cands if d.name == name and d.kname.startswith("dm-")]
    return []


def _unhex_link(value: str) -> str:
    r"""udev escapes by-label links (my\x20disk)."""
    if "\\x" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        if value.startswith("\\x", i) and i + 4 <= len(value):
            try:
                out.append(chr(int(value[i + 2:i + 4], 16)))
                i += 4
                continue
            except ValueError:
                pass
        out.append(value[i])
        i += 1
    return "".join(out)


def under(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it (both normalised, no trailing slash)."""
    return root != "/" and (path == root or path.startswith(root + "/"))


def guest_path(path: str, root: str) -> str:
    """The guest path a path under `root` stands for (/rescue/var -> /var)."""
    rest = path[len(root):]
    return rest if rest.startswith("/") else "/" + rest


def real_root(host) -> str:
    """The root as the kernel names it in mountinfo (symlinks resolved)."""
    return os.path.realpath(host.root).rstrip("/") or "/"
