"""Facts shared by several rule modules: each is `fn(host)`, reads through the host and hands
the text to a parser. Use them as `ctx.fact(mounts)`: the engine computes each once per run.
Facts used by one rule module only live in that module, next to the rule."""

from __future__ import annotations

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
    return "current mounts" if host.live else f"{host.root}/etc/fstab"


ASR_MARKERS = (
    "/usr/local/ASR",                       # Site Recovery mobility agent install folder
    "/usr/local/.vx_version",
    "/etc/vxagent",
)


def asr_present(host) -> List[str]:
    """Evidence that Azure Site Recovery's mobility agent is installed (empty list if not)."""
    found = [p for p in ASR_MARKERS if host.exists(p)]
    found += [p for p in host.glob("/var/lib/waagent", "Microsoft.Azure.RecoveryServices.SiteRecovery*")]
    return found
