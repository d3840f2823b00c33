"""Azure Site Recovery's mobility agent, which shares the freeze with Azure Backup."""

from __future__ import annotations

from typing import List

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
