"""`blkid -c /dev/null -o export [DEV...]` (and `blkid -p -o export`): the identity of each block
device (file system type, UUID, LABEL, PARTUUID, PARTLABEL). Text in, data out; nothing here
raises.

lsblk takes these columns from the udev database, which is empty where no udev runs (a rescue
chroot, a container); blkid reads the superblocks themselves.
"""

from __future__ import annotations

from typing import Dict, List

# `blkid -p` names the partition entry's fields differently from the cache-less high-level mode.
_ALIASES = {"PART_ENTRY_UUID": "PARTUUID", "PART_ENTRY_NAME": "PARTLABEL"}


def _unescape(value: str) -> str:
    """Export format escapes shell-unsafe characters with a backslash (LABEL=my\\ disk)."""
    out, escaped = [], False
    for ch in value:
        if escaped or ch != "\\":
            out.append(ch)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def parse_blkid_export(text: str) -> List[Dict[str, str]]:
    """One dict per device (blocks separated by blank lines, each starting with DEVNAME=).

    >>> rows = parse_blkid_export("DEVNAME=/dev/sdc1\\nLABEL=cloudimg-rootfs\\nUUID=2732df90\\n"
    ...                           "TYPE=ext4\\nPARTUUID=5c1e\\n\\nDEVNAME=/dev/sdc2\\nTYPE=xfs\\n"
    ...                           "PART_ENTRY_UUID=e43c\\n")
    >>> rows[0]["LABEL"], rows[0]["TYPE"], rows[1]["DEVNAME"], rows[1]["PARTUUID"]
    ('cloudimg-rootfs', 'ext4', '/dev/sdc2', 'e43c')
    >>> parse_blkid_export("DEVNAME=/dev/sdd1\\nLABEL=my\\\\ data\\n")[0]["LABEL"]
    'my data'
    """
    rows: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key or not key.replace("_", "").isalnum() or not key.isupper():
            if not line.strip() and current:
                rows.append(current)
                current = {}
            continue
        key = _ALIASES.get(key, key)
        if key == "DEVNAME" and current:
            rows.append(current)
            current = {}
        current.setdefault(key, _unescape(value))
    if current:
        rows.append(current)
    return [r for r in rows if r.get("DEVNAME")]
