"""Relabel previews: `restorecon -n -v` (any release) and `matchpathcon -V` output. Text in,
data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

from azbdiag import lazyre
from azbdiag.parsers.selinux_context import context_type


@dataclasses.dataclass
class Relabel:
    """One path `restorecon -n -v` or `matchpathcon -V` would relabel: its label now and the
    one the policy gives it."""
    path: str
    old: str
    new: str
    line: str

    @property
    def old_type(self) -> Optional[str]:
        return context_type(self.old)

    @property
    def new_type(self) -> Optional[str]:
        return context_type(self.new)


_RELABEL_RES = (
    # libselinux >= 2.x: "Would relabel P from OLD to NEW" / "Relabeled P from OLD to NEW"
    lazyre.compile(r"^(?:Would relabel|Relabeled)\s+(?P<path>/.*?)\s+from\s+(?P<old>\S+)\s+to\s+"
               r"(?P<new>\S+)\s*$"),
    # RHEL 7: "restorecon reset P context OLD->NEW"
    lazyre.compile(r"^restorecon reset\s+(?P<path>/.*?)\s+context\s+(?P<old>\S+?)->(?P<new>\S+)\s*$"),
    # matchpathcon -V: "P has context OLD, should be NEW"
    lazyre.compile(r"^(?P<path>/.*?)\s+has context\s+(?P<old>\S+?),\s+should be\s+(?P<new>\S+)\s*$"),
)


def parse_relabels(text: str) -> List[Relabel]:
    """Mismatches from `restorecon -n -v` (any release) or `matchpathcon -V` output.

    >>> [(r.path, r.old_type, r.new_type) for r in parse_relabels(
    ...     "Would relabel /var/lib/waagent/x from unconfined_u:object_r:user_tmp_t:s0 to "
    ...     "system_u:object_r:var_lib_t:s0\\n"
    ...     "restorecon reset /var/log/azure context system_u:object_r:unlabeled_t:s0->"
    ...     "system_u:object_r:var_log_t:s0\\n/var/lib/waagent verified.\\n")]
    [('/var/lib/waagent/x', 'user_tmp_t', 'var_lib_t'), ('/var/log/azure', 'unlabeled_t', 'var_log_t')]
    """
    out: List[Relabel] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        line = line.strip()
        for rx in _RELABEL_RES:
            m = rx.match(line)
            if m:
                out.append(Relabel(m.group("path"), m.group("old"), m.group("new"), line))
                break
    return out
