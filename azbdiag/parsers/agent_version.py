"""Versions of the Azure Linux guest agent (WALinuxAgent), ordered the way the agent orders
them, and where they are written: the auto-updated agents' directory names under
/var/lib/waagent and AGENT_VERSION in azurelinuxagent/common/version.py. Text in, data out;
nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional, Tuple

from azbdiag import lazyre

MINIMUM_VERSION = "2.2.53.1"

_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}
_VERSION_RE = lazyre.compile(r"(\d+(?:\.\d+)*)(?:[.-]?(alpha|beta|rc)\.?(\d*))?", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Version:
    """A dotted version ordered like the agent orders them: numeric components, missing
    trailing parts are zero, and alpha < beta < rc < the release itself."""

    parts: Tuple[int, ...]
    pre: Optional[Tuple[int, int]] = None   # (rank, number) for alpha/beta/rc builds
    text: str = ""

    def key(self):
        """The sort key: trailing zero parts dropped, a release above its pre-releases."""
        parts = list(self.parts)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        pre = self.pre if self.pre is not None else (99, 0)
        return (tuple(parts), pre)

    def __lt__(self, other):
        return self.key() < other.key()

    def __le__(self, other):
        return self.key() <= other.key()

    def __gt__(self, other):
        return self.key() > other.key()

    def __ge__(self, other):
        return self.key() >= other.key()

    def __eq__(self, other):
        return isinstance(other, Version) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __str__(self):
        return self.text or ".".join(str(p) for p in self.parts)


def parse_version(text) -> Optional[Version]:
    """The first dotted version in `text` ('2.9.1.1', 'WALinuxAgent-2.2.45', '2.1.5.rc7'),
    or None. Distro package suffixes ('-0ubuntu5', '1:' epochs) are ignored.

    >>> str(parse_version("1:2.9.1.1-0ubuntu1~22.04")), str(parse_version("2.1.5.rc7"))
    ('2.9.1.1', '2.1.5.rc7')
    >>> parse_version("2.2.53") < parse_version("2.2.53.1") < parse_version("2.10.0.8")
    True
    >>> parse_version("2.9") == parse_version("2.9.0.0"), parse_version("n/a")
    (True, None)
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if ":" in s.split("-", 1)[0]:            # a Debian epoch, "1:2.9.1.1-1"
        s = s.split(":", 1)[1]
    m = _VERSION_RE.search(s)
    if not m:
        return None
    try:
        parts = tuple(int(p) for p in m.group(1).split(".")[:8])
    except ValueError:
        return None
    if any(p > 10**9 for p in parts):
        return None
    pre = None
    if m.group(2):
        pre = (_PRE_RANK[m.group(2).lower()], int(m.group(3)) if m.group(3) else 0)
    text_out = ".".join(str(p) for p in parts)
    if m.group(2):
        text_out += "." + m.group(2).lower() + (m.group(3) or "")
    return Version(parts, pre, text_out)


def below_minimum(version: Optional[Version], minimum: str = MINIMUM_VERSION) -> bool:
    """Whether a known version is below the supported minimum (False for None).

    >>> below_minimum(parse_version("2.2.45")), below_minimum(parse_version("2.9.1.1"))
    (True, False)
    """
    floor = parse_version(minimum)
    return version is not None and floor is not None and version < floor



def agent_dir_version(name) -> Optional[Version]:
    """'WALinuxAgent-2.9.1.1' -> 2.9.1.1; zips and other names -> None.

    >>> str(agent_dir_version("WALinuxAgent-2.9.1.1")), agent_dir_version("WALinuxAgent-2.9.1.1.zip")
    ('2.9.1.1', None)
    """
    if not isinstance(name, str):
        return None
    m = re.match(r"^WALinuxAgent-(\d+(?:\.\d+)+)$", name)
    return parse_version(m.group(1)) if m else None



def version_py_version(text) -> Optional[Version]:
    """AGENT_VERSION from azurelinuxagent/common/version.py (for offline roots).

    >>> str(version_py_version("AGENT_NAME = 'WALinuxAgent'\\nAGENT_VERSION = '2.2.45'\\n"))
    '2.2.45'
    """
    if not isinstance(text, str):
        return None
    m = re.search(r"^AGENT_VERSION\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return parse_version(m.group(1)) if m else None
