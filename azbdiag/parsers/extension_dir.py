"""The backup extension's directories under /var/lib/waagent:
Microsoft.Azure.RecoveryServices.VMSnapshotLinux-<version>. Text in, data out; nothing here
raises."""

from __future__ import annotations

from typing import Optional, Tuple

from azbdiag import lazyre

HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
HANDLER_STATES = ("NotInstalled", "Installed", "Enabled", "FailedUpgrade")

_VERSION_RE = lazyre.compile(r"^\d+(?:\.\d+){0,5}$")


def version_tuple(text: str) -> Optional[Tuple[int, ...]]:
    """'1.0.9220.0' -> (1, 0, 9220, 0); None when it is not a dotted number.

    >>> version_tuple("1.0.9220.0"), version_tuple("1.0.9220.0-rc1")
    ((1, 0, 9220, 0), None)
    """
    if not isinstance(text, str) or not _VERSION_RE.match(text):
        return None
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return None


def dir_version(name: str) -> Optional[str]:
    """The version in an extension directory name `<handler>-<version>`, else None.

    >>> dir_version("Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0")
    '1.0.9220.0'
    >>> dir_version("Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0.zip") is None
    True
    """
    prefix = HANDLER + "-"
    if not isinstance(name, str) or not name.startswith(prefix):
        return None
    version = name[len(prefix):]
    return version if version_tuple(version) is not None else None
