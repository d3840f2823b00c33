"""/etc/azure/vmbackup.conf, the backup extension's settings file, read as the extension
reads it."""

from __future__ import annotations

from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.vmbackup_conf import VmbackupConf, parse

VMBACKUP_CONF = "/etc/azure/vmbackup.conf"


def vmbackup_conf_exists(host) -> bool:
    """Whether the file exists (absent, the extension uses its defaults: an answer)."""
    return host.exists(VMBACKUP_CONF)


def vmbackup_conf(host) -> VmbackupConf:
    """The parsed file."""
    if not host.exists(VMBACKUP_CONF):
        raise SkipRule(SkipReason.NOT_APPLICABLE, f"{VMBACKUP_CONF} does not exist; defaults apply")
    try:
        raw = host.read_bytes(VMBACKUP_CONF, limit=1024 * 1024)
    except OSError as exc:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {VMBACKUP_CONF}: {exc.strerror}") from None
    return parse(raw)
