"""A systemd unit file: the [Install] WantedBy= targets and the ExecStart= command. Text in,
data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import List

from azbdiag import lazyre

_WANTED_BY = lazyre.compile(r"^\s*WantedBy\s*=\s*(.+)$", re.MULTILINE)
_EXEC_START = lazyre.compile(r"^\s*ExecStart\s*=\s*(.+)$", re.MULTILINE)


@dataclasses.dataclass
class UnitFile:
    """What azbdiag needs of a systemd unit file: the targets that enable it and its command."""
    wanted_by: List[str]        # the first WantedBy= line's targets (multi-user.target if none)
    exec_start: str             # the last ExecStart= ("" if none)


def parse_unit_file(text) -> UnitFile:
    """The targets that enable the unit and the command it starts.

    >>> parse_unit_file("[Service]\\nExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon\\n"
    ...                 "[Install]\\nWantedBy=multi-user.target\\n")
    UnitFile(wanted_by=['multi-user.target'], exec_start='/usr/bin/python3 -u /usr/sbin/waagent -daemon')
    >>> parse_unit_file("")
    UnitFile(wanted_by=['multi-user.target'], exec_start='')
    """
    text = text if isinstance(text, str) else ""
    wanted = _WANTED_BY.findall(text)
    exec_start = _EXEC_START.findall(text)
    return UnitFile(wanted_by=wanted[0].split() if wanted else ["multi-user.target"],
                    exec_start=exec_start[-1].strip() if exec_start else "")
