"""The kernel log (`journalctl -k -b` or `dmesg`): file system error and mount lines per
device. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import List, Tuple

from azbdiag import lazyre

_TS = lazyre.compile(r"^\s*(\[[^\]]*\]\s*)?")
_DEV_PATTERNS = (
    lazyre.compile(r"EXT[234]-fs (?:error|warning)? ?\(device (?P<dev>[^)\s]+)\)"),
    lazyre.compile(r"EXT[234]-fs \((?P<dev>[^)\s]+)\)"),
    lazyre.compile(r"XFS \((?P<dev>[^)\s]+)\)"),
    lazyre.compile(r"BTRFS \w+ \(device (?P<dev>[^)\s]+)"),
    lazyre.compile(r"Aborting journal on device (?P<dev>[^\s]+?)(?:-\d+)?\.?$"),
    lazyre.compile(r"(?:Buffer I/O error on dev|I/O error, dev) (?P<dev>[^\s,]+)"),
)
_ERROR_RE = lazyre.compile(
    r"EXT[234]-fs error|Remounting filesystem read-only|Aborting journal|"
    r"mounting fs with errors|error count since last fsck|"
    r"XFS \([^)]+\):.*(?:[Cc]orruption|Shutting down|shutdown|xfs_repair|rectify|metadata I/O error)|"
    r"BTRFS.*(?:error|errs:)|Filesystem freeze failed|Buffer I/O error on dev|I/O error, dev")
_MOUNT_RE = lazyre.compile(r"EXT[234]-fs \([^)]+\): mounted filesystem|XFS \([^)]+\): Mounting|"
                       r"XFS \([^)]+\): Ending clean mount|BTRFS info \(device [^)]+\): "
                       r"(?:disk space caching|use \w+ compression|first mount)")


@dataclasses.dataclass
class KernelLine:
    """One file system error or mount line of the kernel log (index: its line, from 0)."""
    index: int
    device: str         # as the kernel names it: loop3, sdc1, dm-0, "" when unknown
    text: str
    is_error: bool
    is_mount: bool


def kernel_fs_lines(text: str) -> List[KernelLine]:
    """File system error lines and mount lines of a kernel log, in order.

    >>> [(ln.index, ln.device, ln.is_error, ln.is_mount) for ln in kernel_fs_lines(
    ...     "[   10.0] EXT4-fs (sdb1): mounted filesystem abc r/w with ordered data mode.\\n"
    ...     "[   11.0] usb 1-1: new device\\n"
    ...     "[   20.0] EXT4-fs error (device sdb1): ext4_lookup:1855: inode #2: deleted inode\\n")]
    [(0, 'sdb1', False, True), (2, 'sdb1', True, False)]
    """
    out: List[KernelLine] = []
    for i, raw in enumerate((text or "").splitlines()):
        is_error = bool(_ERROR_RE.search(raw))
        is_mount = bool(_MOUNT_RE.search(raw)) and not is_error
        if not (is_error or is_mount):
            continue
        dev = ""
        for pat in _DEV_PATTERNS:
            m = pat.search(raw)
            if m:
                dev = m.group("dev")
                break
        out.append(KernelLine(i, dev.rsplit("/", 1)[-1], _TS.sub("", raw, count=1).strip()[:300],
                              is_error, is_mount))
    return out


def errors_since_mount(lines: List[KernelLine], device: str) -> Tuple[List[str], List[str]]:
    """(errors after the device's last mount line, errors before it) for one device name.

    >>> lines = kernel_fs_lines("[1.0] XFS (loop3): Mounting V5 Filesystem\\n"
    ...     "[2.0] XFS (loop3): Log I/O Error (0x6) detected.  Shutting down filesystem.\\n"
    ...     "[3.0] XFS (loop3): Mounting V5 Filesystem\\n")
    >>> errors_since_mount(lines, "loop3")
    ([], ['XFS (loop3): Log I/O Error (0x6) detected.  Shutting down filesystem.'])
    """
    mine = [ln for ln in lines if ln.device == device]
    last_mount = max((ln.index for ln in mine if ln.is_mount), default=-1)
    current = [ln.text for ln in mine if ln.is_error and ln.index > last_mount]
    earlier = [ln.text for ln in mine if ln.is_error and ln.index < last_mount]
    return current, earlier
