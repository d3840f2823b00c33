"""The mount table: what is mounted now (live) or what the root's fstab mounts (offline)."""

from __future__ import annotations

import os
from typing import List

from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.mounts import Mount, parse_fstab, parse_mountinfo


def mounts(host) -> List[Mount]:
    """The mounts that matter: live, what is mounted now; offline, the root's fstab."""
    if host.live:
        text = host.try_read_text("/proc/self/mountinfo")
        if text is None:
            raise SkipRule(SkipReason.NO_INPUT, "cannot read /proc/self/mountinfo")
        return parse_mountinfo(text)
    text = host.try_read_text("/etc/fstab")
    if text is None:
        raise SkipRule(SkipReason.NO_INPUT, "the root has no readable /etc/fstab")
    return parse_fstab(text)


def mounts_source(host) -> str:
    """Where the mount table comes from, for summaries and evidence."""
    return "current mounts" if host.live else f"{host.root}/etc/fstab"



def kernel_name(host, m: Mount) -> str:
    """The kernel's name of a mount's block device (loop3, sdc1, dm-0): live from major:minor
    or the source's symlink, offline the source's base name."""
    if host.live and m.major_minor and not m.major_minor.startswith("0:"):
        try:
            return os.path.basename(host.readlink(f"/sys/dev/block/{m.major_minor}"))
        except OSError:
            pass
    if host.live and host.islink(m.source):
        try:
            return os.path.basename(host.readlink(m.source))
        except OSError:
            pass
    return os.path.basename(m.source)
