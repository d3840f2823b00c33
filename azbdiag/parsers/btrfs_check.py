"""`btrfs check --readonly DEV` (an unmounted btrfs): its exit code and output. Text in, data
out; nothing here raises."""

from __future__ import annotations

from typing import List, Optional, Tuple

MAX_ERRORS = 20


def btrfs_check_verdict(rc: Optional[int], stdout: str, stderr: str) -> Tuple[str, List[str]]:
    """(clean | corrupt | mounted | unknown, the ERROR lines) of `btrfs check --readonly`.

    >>> btrfs_check_verdict(0, "Checking filesystem on /dev/sdc3\\n",
    ...                     "found 147456 bytes used, no error found\\n")
    ('clean', [])
    >>> btrfs_check_verdict(1, "", "[4/7] checking fs roots\\nERROR: errors found in fs roots\\n"
    ...                     "found 147456 bytes used, error(s) found\\n")
    ('corrupt', ['ERROR: errors found in fs roots'])
    >>> btrfs_check_verdict(1, "", "ERROR: /dev/sdc3 is currently mounted, use --force if you "
    ...                     "really intend to check the filesystem\\n")[0]
    'mounted'
    """
    text = f"{stdout or ''}\n{stderr or ''}"
    errors = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("ERROR:")]
    if "is currently mounted" in text:
        return "mounted", errors[:MAX_ERRORS]
    if rc == 0 and "no error found" in text:
        return "clean", []
    if rc is not None and rc != 0 and ("error(s) found" in text or (errors and not any(
            "cannot open" in e or "not a btrfs" in e.lower() or "no valid btrfs" in e.lower()
            for e in errors))):
        return "corrupt", errors[:MAX_ERRORS]
    if rc == 0:
        return "clean", []
    return "unknown", errors[:MAX_ERRORS]
