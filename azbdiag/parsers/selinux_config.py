"""/etc/selinux/config: SELINUX= and SELINUXTYPE=, read as libselinux reads them. Text in,
data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Optional

MODES = ("enforcing", "permissive", "disabled")

@dataclasses.dataclass
class SelinuxConfig:
    """/etc/selinux/config: the SELINUX= mode and SELINUXTYPE= policy, with their lines."""
    mode: Optional[str] = None          # enforcing, permissive, disabled; None: not set/unknown
    mode_raw: Optional[str] = None      # the value as written (for evidence)
    mode_line: Optional[int] = None
    policy_type: Optional[str] = None
    type_line: Optional[int] = None


def config_value(raw: str) -> str:
    """A value as a shell-style config file writes it: comment cut, one level of quotes off.

    >>> config_value(' "enforcing"  # set by the image')
    'enforcing'
    """
    value = raw.split("#", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.strip()


def parse_config(text: str) -> SelinuxConfig:
    """SELINUX= is matched case-sensitively at the start of a line and its value compared
    case-insensitively; SELINUXTYPE= is matched case-insensitively (as libselinux does).

    >>> parse_config("# SELINUX=disabled\\nSELINUX=Permissive\\nselinuxtype=targeted\\n")
    SelinuxConfig(mode='permissive', mode_raw='Permissive', mode_line=2, policy_type='targeted', type_line=3)
    >>> parse_config("selinux=enforcing\\n").mode is None          # the key is case-sensitive
    True
    """
    conf = SelinuxConfig()
    if not isinstance(text, str):
        return conf
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("SELINUX="):
            value = config_value(line[len("SELINUX="):])
            conf.mode_raw = value
            conf.mode = value.lower() if value.lower() in MODES else None
            conf.mode_line = number
        elif line[:12].upper() == "SELINUXTYPE=":
            value = config_value(line[12:])
            conf.policy_type = value or None
            conf.type_line = number
    return conf
