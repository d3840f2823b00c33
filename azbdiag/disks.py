"""`check --disk DEV`: make an attached OS disk ready to be checked, or refuse it.

What azbdiag does to the disk, and only that (README "From a rescue VM"):

- it reads the partition table, the superblocks (lsblk, blkid) and the LVM labels (pvs, vgs);
- when the guest's /etc/fstab is not available from --root, it mounts the disk's root file
  system read-only without replaying its journal or log (ext3/4 `ro,noload`, xfs
  `ro,norecovery,nouuid`, btrfs `ro,rescue=nologreplay`) on a private directory, reads that one
  file through the safe file layer, and unmounts it at once (signals wait until it is unmounted);
- when the disk's LVM volume group is not active, it activates it read-only
  (`read_only_volume_list`) for the check and deactivates it afterwards;
- the rule freeze.disk_fs_state then runs the read-only checks (e2fsck -f -n, xfs_repair -n,
  btrfs check --readonly).

Never (here, and in `check --disk`): a write, a journal or log replay, a repair, a rename of a
volume group, unlocking an encrypted volume (`fix --freeze --disk` repairs afterwards, through
the fixer: azbdiag/fix/offline_fs.py); never a disk one of whose partitions or volumes
is mounted outside --root, or swapped to, on this machine (that is the rescue VM's own disk, or
one in use here).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from azbdiag.facts.block_devices import (
    BlockDevice,
    Topology,
    active_swaps,
    block_devices,
    machine,
    machine_mounts,
    real_root,
    under,
)
from azbdiag.facts.guest_fs import CHECKED_TYPES, DiskSet, disk_filesystems
from azbdiag.host import Host, Unreadable
from azbdiag.model import SkipRule
from azbdiag.parsers.lvm_report import parse_lvm_report
from azbdiag.parsers.mounts import Mount, parse_fstab
from azbdiag.runner import stop_children

PEEK_OPTIONS = {"ext2": ("ro",), "ext3": ("ro,noload",), "ext4": ("ro,noload",),
                "xfs": ("ro,norecovery,nouuid",),
                "btrfs": ("ro,rescue=nologreplay", "ro,nologreplay")}
MAX_PEEKS = 6
ROOT_HINTS = ("cloudimg-rootfs", "root", "rootfs", "ROOT", "rootlv", "lvroot")


class DiskRefused(Exception):
    """A --disk azbdiag will not look at (one line; a usage/refusal error)."""


class DiskUnavailable(Exception):
    """azbdiag cannot work with the disks at all (no lsblk, no mount table)."""


# ---- which disk ----------------------------------------------------------------------------

def resolve(path: str, topo: Topology) -> BlockDevice:
    """The device `path` names (a /dev/disk/... link followed on this machine)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise DiskRefused(f"--disk {path}: {exc.strerror or exc}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise DiskRefused(f"--disk {path}: not a block device")
    rdev = getattr(st, "st_rdev", 0)
    dev = (topo.find(f"{os.major(rdev)}:{os.minor(rdev)}") if rdev else None) or topo.find(real)
    if dev is None:
        raise DiskRefused(f"--disk {path}: lsblk does not list {real}")
    return dev


def in_use(disks: Sequence[str], topo: Topology, mounts: Sequence[Mount], root: Optional[str],
           swaps: Sequence[str]) -> Tuple[Optional[str], Dict[str, List[str]]]:
    """(why the disks must not be touched or None, kname -> mount points under the root)."""
    under_root: Dict[str, List[str]] = {}
    swapped = {d.kname for s in swaps for d in [topo.find(s)] if d is not None}
    for disk in disks:
        for dev in topo.descendants(disk):
            for m in mounts:
                if topo.of_mount(m) is not dev:
                    continue
                if root is not None and under(m.mount_point, root):
                    under_root.setdefault(dev.kname, []).append(m.mount_point)
                    continue
                return (f"{dev.path} is mounted at {m.mount_point} on this machine"
                        + (f", outside {root}" if root else "")), under_root
            if dev.kname in swapped:
                return f"{dev.path} is in use as swap on this machine", under_root
    return None, under_root


def _refusal(given: str, disk: BlockDevice, why: str) -> DiskRefused:
    return DiskRefused(
        f"refusing --disk {given}: {why}, so {disk.path} is this machine's own disk or in use "
        f"here; azbdiag checks only a disk none of whose file systems is mounted "
        f"(except under --root)")


# ---- LVM -----------------------------------------------------------------------------------

def _lvm_config(pvs: Sequence[str], extra: str = "", exclude: bool = False) -> str:
    """LVM settings that make a command see only the devices `pvs` (or all but them), whatever
    this machine's devices file or lvmetad say."""
    mark = "r" if exclude else "a"
    listed = ", ".join(f'"{mark}|^{re.escape(p)}$|"' for p in pvs)
    rest = '"a|.*|"' if exclude else '"r|.*|"'
    return (f"devices {{ use_devicesfile = 0 filter = [ {listed}, {rest} ] }} "
            f"global {{ use_lvmetad = 0 }} {extra}").strip()


def _lvm_env(host) -> Optional[dict]:
    # Without a running udev, device-mapper must create its nodes itself, or LVM waits for
    # udev forever.
    return None if host.exists("/run/udev/control") else {"DM_DISABLE_UDEV": "1"}


def inactive_volume_groups(host, disks: Sequence[str],
                           topo: Topology) -> Tuple[Dict[str, List[str]], List[str]]:
    """({VG: its PV paths} for the disks' PVs whose volumes are not active, notes). Refuses a
    VG whose name is also a VG of this machine (a VM made from the same image)."""
    pvs = [d for k in disks for d in topo.descendants(k)
           if d.fstype == "LVM2_member" and not topo.children(d.kname)]
    if not pvs:
        return {}, []
    fields = ["pv_name", "vg_name", "vg_uuid"]
    argv = ["pvs", "--noheadings", "--separator", "|", "-o", ",".join(fields)]
    env = _lvm_env(host)
    mine = host.run(argv + ["--config", _lvm_config([d.path for d in pvs])], timeout=30, env=env)
    if mine.not_found:
        return {}, [f"{', '.join(d.path for d in pvs)}: LVM physical volume(s), but lvm2 is not "
                    f"installed on this machine: their volumes are not checked"]
    if not mine.ok:
        return {}, [f"LVM: {mine.describe()}: the volumes on {', '.join(d.path for d in pvs)} "
                    f"are not checked"]
    groups: Dict[str, List[str]] = {}
    for row in parse_lvm_report(mine.stdout, fields):
        if row["vg_name"]:
            groups.setdefault(row["vg_name"], []).append(row["pv_name"])
    # This machine's own volume groups: every PV but the disk's. The same image has the same
    # VG name (and PV UUIDs, which LVM then sees twice and may pick either device of).
    others = host.run(argv + ["--config", _lvm_config([d.path for d in pvs], exclude=True)],
                      timeout=30, env=env)
    for row in parse_lvm_report(others.stdout if others.ok else "", fields):
        if row["vg_name"] in groups:
            raise DiskRefused(
                f"the disk's LVM volume group {row['vg_name']} has the same name as this "
                f"machine's (on {row['pv_name']}; a VM made from the same image as the rescue "
                f"VM): azbdiag does not rename volume groups; rename it yourself "
                f"(vgimportclone) or use a rescue VM made from another image")
    return groups, []


def _vgchange(host, vg: str, pvs: Sequence[str], flag: str):
    extra = f'activation {{ read_only_volume_list = [ "{vg}" ] }}' if flag == "-ay" else ""
    return host.run(["vgchange", flag, "--config", _lvm_config(pvs, extra), vg], timeout=60,
                    env=_lvm_env(host))


# ---- the guest's fstab ---------------------------------------------------------------------

def _private_dir() -> str:
    return "/run" if os.access("/run", os.W_OK) and os.geteuid() == 0 else tempfile.gettempdir()


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While volume groups are active: SIGTERM and SIGHUP interrupt like Ctrl-C (so that they
    are deactivated on the way out) instead of killing azbdiag where it stands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt()

    saved = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP (main thread only) while a mount exists, so that it is
    always unmounted first; they are delivered right after."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def peek_fstab(host, dev: BlockDevice) -> Tuple[Optional[str], str]:
    """(the text of /etc/fstab on `dev`, how it was read) by a read-only mount that never
    replays a journal; (None, why not) when it is not there or cannot be read."""
    last = "not tried"
    for options in PEEK_OPTIONS.get(dev.fstype, ()):
        point = tempfile.mkdtemp(prefix="azbdiag-fstab-", dir=_private_dir())
        text = None
        try:
            with _signals_held():
                res = host.run(["mount", "-t", dev.fstype, "-o", options, dev.path, point],
                               timeout=60)
                if not res.ok:
                    last = f"mount -o {options}: {(res.stderr.strip().splitlines() or [res.describe()])[-1]}"
                    continue
                try:
                    text = Host(point, runner=host.runner, is_root=True, azure=False,
                                live=False).try_read_text("/etc/fstab", 1024 * 1024)
                except Unreadable as exc:
                    last = str(exc)
                finally:
                    if not host.run(["umount", point], timeout=60).ok:
                        host.run(["umount", "-l", point], timeout=30)
            if text is not None:
                return text, (f"/etc/fstab of {dev.path}, mounted read-only ({options}) on "
                              f"{point} for a moment and unmounted")
            last = last if last != "not tried" else f"{dev.path} has no /etc/fstab"
        finally:
            try:
                os.rmdir(point)
            except OSError:
                pass
    return None, last


def _root_candidates(fss: Sequence[BlockDevice], mounted_uuids: Sequence[str]) -> List[BlockDevice]:
    def hint(d: BlockDevice) -> int:
        names = (d.label, d.partlabel, d.name.rsplit("-", 1)[-1])
        return 0 if any(n in ROOT_HINTS for n in names if n) else 1
    # A btrfs with the UUID of a mounted one (the same image as the rescue VM): the kernel
    # would take it for that file system's device.
    ok = [d for d in fss if not (d.fstype == "btrfs" and d.uuid and d.uuid in mounted_uuids)]
    return sorted(ok, key=lambda d: (hint(d), -d.size))[:MAX_PEEKS]


# ---- the whole preparation -----------------------------------------------------------------

@contextlib.contextmanager
def attached(host, paths: Sequence[str], warn: Callable[[str], None]) -> Iterator[DiskSet]:
    """The DiskSet to check for the --disk `paths`, volume groups activated read-only for as
    long as the context lasts. Raises DiskRefused before anything is done to a disk."""
    m = machine(host)
    try:
        topo = Topology(block_devices(m))
        mounts = machine_mounts(m)
    except SkipRule as exc:
        raise DiskUnavailable(exc.summary) from None
    root = None if host.live else real_root(host)
    given: List[Tuple[str, BlockDevice]] = [(p, resolve(p, topo)) for p in paths]
    knames: List[str] = []
    for path, dev in given:
        for disk in sorted(topo.disks_of(dev.kname)):
            why, _ = in_use([disk], topo, mounts, root, active_swaps(m))
            if why:
                raise _refusal(path, topo.by_kname[disk], why)
        if dev.kname not in knames:
            knames.append(dev.kname)
    groups, notes = inactive_volume_groups(m, knames, topo)
    activated: List[Tuple[str, List[str]]] = []
    with contextlib.ExitStack() as stack:
        if groups:
            stack.enter_context(_signals_interrupt())
        try:
            for vg, pvs in groups.items():
                res = _vgchange(m, vg, pvs, "-ay")
                if res.ok:
                    activated.append((vg, pvs))
                else:
                    notes.append(f"could not activate volume group {vg} read-only ("
                                 f"{(res.stderr.strip().splitlines() or [res.describe()])[-1]}):"
                                 f" its volumes are not checked")
            if activated:
                topo = Topology(block_devices(m))
            _, mounted = in_use(knames, topo, mounts, root, [])
            fstab_text, fstab_from = _guest_fstab(host, m, knames, topo, mounted, mounts)
            fstab = parse_fstab(fstab_text) if fstab_text is not None else None
            gfs, more = disk_filesystems(knames, topo, mounted, fstab)
            yield DiskSet(disks=[p for p, _ in given], filesystems=gfs, notes=notes + more,
                          fstab_from=fstab_from, activated=[vg for vg, _ in activated])
        finally:
            if activated:
                stop_children()      # an interrupted check's e2fsck would keep a volume busy
            for vg, pvs in reversed(activated):
                res = _vgchange(m, vg, pvs, "-an")
                if not res.ok:
                    warn(f"could not deactivate volume group {vg} ({res.describe()}): run "
                         f"`vgchange -an {vg}`")


def _guest_fstab(host, m, knames, topo: Topology, mounted, mounts) -> Tuple[Optional[str], str]:
    if not host.live:
        text = host.try_read_text("/etc/fstab")
        return text, ("/etc/fstab under --root" if text is not None
                      else "none under --root: file systems are named by device only")
    fss = [d for k in knames for d in topo.descendants(k)
           if d.fstype in CHECKED_TYPES and d.kname not in mounted]
    mounted_uuids = [d.uuid for mnt in mounts for d in [topo.of_mount(mnt)] if d is not None]
    tried = []
    for dev in _root_candidates(fss, mounted_uuids):
        text, how = peek_fstab(m, dev)
        if text is not None:
            return text, how
        tried.append(how)
    return None, ("not found (" + "; ".join(tried[:3]) + "): file systems are named by device "
                  "only" if tried else "no file system to read it from")
