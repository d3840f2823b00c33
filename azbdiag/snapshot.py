"""What the host keeps while the engine runs the rules (Host.snapshot): each directory listed
once and each check command that finished run once. The rules change nothing, so within one
run a second listing or a second run of the same command could only cost time
(/var/lib/waagent, filtered by several facts, may hold many thousand entries; dmesg is asked
for by two rule modules). The engine drops it before anything may change the machine."""

from __future__ import annotations

import bisect
import fnmatch
import threading
from typing import Callable, Dict, List, Tuple


class Snapshot:
    def __init__(self):
        self._lock = threading.Lock()
        self._listings: Dict[str, List[str]] = {}
        self._commands: Dict[Tuple[str, ...], object] = {}

    def listing(self, path: str, read: Callable[[str], List[str]]) -> List[str]:
        with self._lock:
            names = self._listings.get(path)
        if names is None:
            names = read(path)
            with self._lock:
                names = self._listings.setdefault(path, names)
        return list(names)

    def command(self, argv: Tuple[str, ...], run: Callable[[], object]):
        """The kept result of `argv`, or run() (kept unless it timed out)."""
        with self._lock:
            if argv in self._commands:
                return self._commands[argv]
        res = run()
        if not getattr(res, "timed_out", False):
            with self._lock:
                self._commands.setdefault(argv, res)
        return res


def matching(names: List[str], pattern: str) -> List[str]:
    """The names of the sorted list `names` that match the shell pattern `pattern`; for
    "Prefix*" a range found by bisection rather than a scan of every name."""
    prefix = pattern[:-1] if pattern.endswith("*") else None
    if prefix is None or any(c in prefix for c in "*?[\\"):
        return [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    start = stop = bisect.bisect_left(names, prefix)
    while stop < len(names) and names[stop].startswith(prefix):
        stop += 1
    return names[start:stop]
