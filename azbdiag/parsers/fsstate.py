"""File system state: tune2fs -l, xfs_repair -n, btrfs device stats, kernel log lines, the
backup extension's freeze log lines, and /proc/locks. Text in, data out; never raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

# ---- /proc/locks -------------------------------------------------------------------------

@dataclasses.dataclass
class FileLock:
    kind: str          # POSIX, FLOCK, OFDLCK, ...
    access: str        # READ / WRITE
    pid: int
    major: int
    minor: int
    inode: int


def parse_proc_locks(text: str) -> List[FileLock]:
    """Held locks (waiters, marked '->', are left out). The device is major:minor in hex."""
    locks: List[FileLock] = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 6 or "->" in fields[:2]:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            locks.append(FileLock(fields[1], fields[3], pid, int(major, 16), int(minor, 16),
                                  int(inode)))
        except ValueError:
            continue
    return locks


# ---- ext2/3/4: tune2fs -l / dumpe2fs -h --------------------------------------------------

def parse_tune2fs(text: str) -> Dict[str, str]:
    """`key: value` lines of the superblock listing (keys as printed, padding stripped)."""
    out: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith(" "):
            out.setdefault(key.strip(), value.strip())
    return out


@dataclasses.dataclass
class ExtState:
    state: str                  # clean, not clean, clean with errors, not clean with errors
    has_journal: bool
    error_count: int
    first_error: str = ""
    last_error: str = ""
    errors_behavior: str = ""

    @property
    def with_errors(self) -> bool:
        return "error" in self.state

    def needs_fsck(self, mounted: bool = True) -> bool:
        """Errors recorded, or 'not clean' where that is not the normal mounted state (only a
        journal-less fs is 'not clean' while mounted)."""
        if self.with_errors or self.error_count > 0:
            return True
        if self.state.startswith("not clean"):
            return not (mounted and not self.has_journal)
        return False

    def describe(self) -> str:
        parts = [f"state {self.state!r}"]
        if self.error_count:
            parts.append(f"{self.error_count} error(s) recorded")
        if self.last_error:
            parts.append(f"last error {self.last_error}")
        return ", ".join(parts)


def ext_state(text: str) -> Optional[ExtState]:
    """The state of an ext2/3/4 superblock listing; None when it has no 'Filesystem state'."""
    info = parse_tune2fs(text)
    state = info.get("Filesystem state")
    if not state:
        return None
    try:
        count = int(info.get("FS Error count", "0").split()[0])
    except (ValueError, IndexError):
        count = 0
    first = " ".join(x for x in (info.get("First error time", ""),
                                 info.get("First error function", "")) if x)
    last = " ".join(x for x in (info.get("Last error time", ""),
                                info.get("Last error function", "")) if x)
    return ExtState(state=state.strip(), has_journal="has_journal" in
                    info.get("Filesystem features", "").split(), error_count=max(count, 0),
                    first_error=first, last_error=last,
                    errors_behavior=info.get("Errors behavior", ""))


# ---- xfs_repair -n -----------------------------------------------------------------------

def xfs_repair_verdict(rc: Optional[int], stdout: str, stderr: str) -> str:
    """clean, corrupt, dirty_log, mounted (it refused to look) or unknown."""
    text = f"{stdout or ''}\n{stderr or ''}"
    if "contains a mounted" in text or "couldn't initialize XFS library" in text:
        return "mounted"
    if rc == 0:
        return "clean"
    if rc == 2 or "valuable metadata changes in a log" in text:
        return "dirty_log"
    if rc == 1:
        return "corrupt"
    return "unknown"


# ---- btrfs device stats ------------------------------------------------------------------

_BTRFS_STAT = re.compile(r"^\[(?P<dev>[^\]]+)\]\.(?P<key>\w+)\s+(?P<n>-?\d+)\s*$")


def parse_btrfs_stats(text: str) -> Dict[str, Dict[str, int]]:
    """device -> counter -> value from `btrfs device stats`."""
    out: Dict[str, Dict[str, int]] = {}
    for line in (text or "").splitlines():
        m = _BTRFS_STAT.match(line.strip())
        if m:
            out.setdefault(m.group("dev"), {})[m.group("key")] = int(m.group("n"))
    return out


def btrfs_errors(stats: Dict[str, Dict[str, int]]) -> List[str]:
    return [f"{dev}: {key} = {n}" for dev, counters in sorted(stats.items())
            for key, n in sorted(counters.items()) if n > 0]


# ---- kernel log --------------------------------------------------------------------------

_TS = re.compile(r"^\s*(\[[^\]]*\]\s*)?")
_DEV_PATTERNS = (
    re.compile(r"EXT[234]-fs (?:error|warning)? ?\(device (?P<dev>[^)\s]+)\)"),
    re.compile(r"EXT[234]-fs \((?P<dev>[^)\s]+)\)"),
    re.compile(r"XFS \((?P<dev>[^)\s]+)\)"),
    re.compile(r"BTRFS \w+ \(device (?P<dev>[^)\s]+)"),
    re.compile(r"Aborting journal on device (?P<dev>[^\s]+?)(?:-\d+)?\.?$"),
    re.compile(r"(?:Buffer I/O error on dev|I/O error, dev) (?P<dev>[^\s,]+)"),
)
_ERROR_RE = re.compile(
    r"EXT[234]-fs error|Remounting filesystem read-only|Aborting journal|"
    r"mounting fs with errors|error count since last fsck|"
    r"XFS \([^)]+\):.*(?:[Cc]orruption|Shutting down|shutdown|xfs_repair|rectify|metadata I/O error)|"
    r"BTRFS.*(?:error|errs:)|Filesystem freeze failed|Buffer I/O error on dev|I/O error, dev")
_MOUNT_RE = re.compile(r"EXT[234]-fs \([^)]+\): mounted filesystem|XFS \([^)]+\): Mounting|"
                       r"XFS \([^)]+\): Ending clean mount|BTRFS info \(device [^)]+\): "
                       r"(?:disk space caching|use \w+ compression|first mount)")


@dataclasses.dataclass
class KernelLine:
    index: int
    device: str         # as the kernel names it: loop3, sdc1, dm-0, "" when unknown
    text: str
    is_error: bool
    is_mount: bool


def kernel_fs_lines(text: str) -> List[KernelLine]:
    """File system error lines and mount lines of a kernel log, in order."""
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
    """(errors after the device's last mount line, errors before it) for one device name."""
    mine = [ln for ln in lines if ln.device == device]
    last_mount = max((ln.index for ln in mine if ln.is_mount), default=-1)
    current = [ln.text for ln in mine if ln.is_error and ln.index > last_mount]
    earlier = [ln.text for ln in mine if ln.is_error and ln.index < last_mount]
    return current, earlier


# ---- the backup extension's freeze log lines ---------------------------------------------

_FREEZE_FAIL = re.compile(r"Failed to FIFREEZE:\s*(?P<mp>\S+)(?:\s+with error message\s*:?\s*"
                          r"(?P<err>.*))?")
_THAW_FAIL = re.compile(r"Failed to FITHAW:\s*(?P<mp>\S+)(?:\s+with error message\s*:?\s*"
                        r"(?P<err>.*))?")
_OPEN_FAIL = re.compile(r"Failed to open:\s*(?P<mp>\S+)(?:.*error message\s*:?\s*(?P<err>.*))?")
_RUN_START = re.compile(r"1\. Starting Freeze Binary|arg : \[")


@dataclasses.dataclass
class FreezeAttempt:
    line: int                                    # 1-based line of its start (0: unknown)
    freeze_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)
    thaw_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)
    open_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.freeze_failures or self.open_failures)


def parse_freeze_log(text: str) -> List[FreezeAttempt]:
    """Freeze attempts in extension.log, each with its FIFREEZE / FITHAW / open failures."""
    attempts: List[FreezeAttempt] = []
    current: Optional[FreezeAttempt] = None
    for n, line in enumerate((text or "").splitlines(), 1):
        if _RUN_START.search(line):
            # "arg : [" directly after "Starting Freeze Binary" belongs to the same attempt.
            if current is None or current.freeze_failures or current.thaw_failures \
                    or current.open_failures or n - current.line > 20:
                current = FreezeAttempt(n)
                attempts.append(current)
            continue
        for pattern, bucket in ((_FREEZE_FAIL, "freeze_failures"), (_THAW_FAIL, "thaw_failures"),
                                (_OPEN_FAIL, "open_failures")):
            m = pattern.search(line)
            if m:
                if current is None:
                    current = FreezeAttempt(0)
                    attempts.append(current)
                getattr(current, bucket).append((m.group("mp"), (m.group("err") or "").strip(), n))
                break
    return attempts
