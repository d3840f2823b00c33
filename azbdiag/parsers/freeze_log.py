"""The backup extension's extension.log
(/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log): its freeze
attempts and their FIFREEZE, FITHAW and open failures. Text in, data out; nothing here
raises."""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from azbdiag import lazyre

_FREEZE_FAIL = lazyre.compile(r"Failed to FIFREEZE:\s*(?P<mp>\S+)(?:\s+with error message\s*:?\s*"
                          r"(?P<err>.*))?")
_THAW_FAIL = lazyre.compile(r"Failed to FITHAW:\s*(?P<mp>\S+)(?:\s+with error message\s*:?\s*"
                        r"(?P<err>.*))?")
_OPEN_FAIL = lazyre.compile(r"Failed to open:\s*(?P<mp>\S+)(?:.*error message\s*:?\s*(?P<err>.*))?")
_RUN_START = lazyre.compile(r"1\. Starting Freeze Binary|arg : \[")


@dataclasses.dataclass
class FreezeAttempt:
    """One freeze attempt in extension.log and the mounts whose FIFREEZE, FITHAW or open failed."""
    line: int                                    # 1-based line of its start (0: unknown)
    freeze_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)
    thaw_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)
    open_failures: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.freeze_failures or self.open_failures)


def parse_freeze_log(text: str) -> List[FreezeAttempt]:
    """Freeze attempts in extension.log, each with its FIFREEZE / FITHAW / open failures.

    >>> attempt = parse_freeze_log(
    ...     "2026-11-24 01:00:00 ****** 1. Starting Freeze Binary\\n"
    ...     "2026-11-24 01:00:00 arg : ['/x/safefreeze', '60', '/data', '/']\\n"
    ...     "2026-11-24 01:00:01 Failed to FIFREEZE: /data with error message: Device or resource busy\\n"
    ...     "2026-11-24 01:00:01 Failed to FITHAW: / with error message : Invalid argument\\n")[-1]
    >>> attempt.line, attempt.failed, attempt.freeze_failures, attempt.thaw_failures
    (1, True, [('/data', 'Device or resource busy', 3)], [('/', 'Invalid argument', 4)])
    """
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
