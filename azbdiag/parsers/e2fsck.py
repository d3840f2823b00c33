"""`e2fsck -f -n DEV` (a read-only check of an unmounted ext2/3/4 file system): its exit code and
output. Text in, data out; nothing here raises.

The exit code is a bit mask (e2fsck(8)): 0 no errors, 1 and 2 errors corrected (never with -n),
4 errors left uncorrected, 8 operational error, 16 usage error, 32 cancelled, 128 shared library
error. With -n every question is answered "no", so each problem it finds ends in "? no".
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

MAX_PROBLEMS = 20


@dataclasses.dataclass
class E2fsckResult:
    """What a read-only `e2fsck -f -n` found on an unmounted ext2/3/4 file system."""
    verdict: str                    # clean, errors, unknown
    journal_pending: bool           # the journal needed replaying, which -n does not do
    problems: List[str]             # the questions it answered "no", first MAX_PROBLEMS
    detail: str                     # one line for evidence


def e2fsck_verdict(rc: Optional[int], stdout: str, stderr: str) -> E2fsckResult:
    """The verdict of `e2fsck -f -n`.

    >>> r = e2fsck_verdict(4, "Pass 1: Checking inodes, blocks, and sizes\\n"
    ...     "Inode 12 has illegal block(s).  Clear? no\\n\\nroot: ********** WARNING: Filesystem "
    ...     "still has errors **********\\n", "")
    >>> r.verdict, r.problems
    ('errors', ['Inode 12 has illegal block(s).  Clear? no'])
    >>> e2fsck_verdict(0, "root: 11/51200 files (0.0% non-contiguous), 18515/204800 blocks\\n", "").verdict
    'clean'
    >>> r = e2fsck_verdict(8, "", "e2fsck: No such file or directory while trying to open /dev/sdz1\\n")
    >>> r.verdict, r.detail
    ('unknown', 'e2fsck: No such file or directory while trying to open /dev/sdz1')
    """
    text = f"{stdout or ''}\n{stderr or ''}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    problems = [ln for ln in lines if ln.endswith("? no")][:MAX_PROBLEMS]
    pending = "skipping journal recovery" in text
    if rc is None or rc & (8 | 16 | 32 | 128):
        tail = [ln for ln in lines if not ln.startswith("e2fsck 1.")][-1:] or ["no output"]
        what = "did not finish" if rc is None else f"exit {rc}"
        return E2fsckResult("unknown", pending, problems,
                            tail[0] if rc is not None else f"e2fsck {what}")
    if rc & (1 | 2 | 4):
        return E2fsckResult("errors", pending, problems,
                            f"e2fsck -n found {len(problems) or 'some'} problem(s) (exit {rc})"
                            + (f": {problems[0]}" if problems else ""))
    return E2fsckResult("clean", pending, problems, "e2fsck -n found no problem")
