"""The ext2/3/4 superblock as `tune2fs -l DEV` (or `dumpe2fs -h DEV`) lists it. Text in, data
out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional


def parse_tune2fs(text: str) -> Dict[str, str]:
    """`key: value` lines of the superblock listing (keys as printed, padding stripped).

    >>> parse_tune2fs("tune2fs 1.47.0 (5-Feb-2023)\\nFilesystem state:         clean\\n"
    ...               "Errors behavior:          Continue\\n")
    {'Filesystem state': 'clean', 'Errors behavior': 'Continue'}
    """
    out: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith(" "):
            out.setdefault(key.strip(), value.strip())
    return out


@dataclasses.dataclass
class ExtState:
    """An ext2/3/4 superblock's state and error record, from `tune2fs -l` or `dumpe2fs -h`."""
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
        """The state and the errors, for evidence."""
        parts = [f"state {self.state!r}"]
        if self.error_count:
            parts.append(f"{self.error_count} error(s) recorded")
        if self.last_error:
            parts.append(f"last error {self.last_error}")
        return ", ".join(parts)


def ext_state(text: str) -> Optional[ExtState]:
    """The state of an ext2/3/4 superblock listing; None when it has no 'Filesystem state'.

    >>> st = ext_state("Filesystem features:      has_journal ext_attr extent\\n"
    ...                "Filesystem state:         not clean with errors\\nFS Error count:           3\\n"
    ...                "Last error time:          Tue Nov 25 11:00:00 2026\\n")
    >>> st.needs_fsck(), st.describe()
    (True, "state 'not clean with errors', 3 error(s) recorded, last error Tue Nov 25 11:00:00 2026")
    >>> ext_state("Filesystem state: not clean\\nFilesystem features: filetype\\n").needs_fsck(mounted=True)
    False
    """
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
