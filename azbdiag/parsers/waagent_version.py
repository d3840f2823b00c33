"""`waagent --version` (or -version) output. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from azbdiag.parsers.agent_version import Version, parse_version


@dataclasses.dataclass
class VersionOutput:
    """What `waagent --version` says: the installed and goal state agent versions, its Python
    and distribution."""
    installed: Optional[Version] = None
    goal_state: Optional[Version] = None
    python: str = ""
    distro: str = ""
    import_error: str = ""      # the agent's CLI could not import its own module


def parse_version_output(text) -> VersionOutput:
    """`waagent -version`: 'WALinuxAgent-<v> running on <distro> <ver>', 'Python: x.y.z',
    'Goal state agent: <v>'. Old agents print only the first line; a traceback means the
    CLI's interpreter cannot import azurelinuxagent.

    >>> out = parse_version_output("WALinuxAgent-2.2.45 running on ubuntu 20.04\\n"
    ...                            "Python: 3.8.10\\nGoal state agent: 2.9.1.1\\n")
    >>> str(out.installed), str(out.goal_state), out.python, out.distro
    ('2.2.45', '2.9.1.1', '3.8.10', 'ubuntu 20.04')
    """
    out = VersionOutput()
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^WALinuxAgent\s*[-\u2013]\s*(\S+)(?:\s+running on\s+(.*))?$", s)
        if m and out.installed is None:
            out.installed = parse_version(m.group(1))
            out.distro = (m.group(2) or "").strip()
            continue
        m = re.match(r"^Goal state agent\s*[:\u2013-]\s*(\S+)", s, re.IGNORECASE)
        if m:
            out.goal_state = parse_version(m.group(1))
            continue
        m = re.match(r"^Python\s*:\s*(\S+)", s)
        if m:
            out.python = m.group(1)
            continue
        if re.search(r"(ImportError|ModuleNotFoundError).*azurelinuxagent", s):
            out.import_error = s
    return out
