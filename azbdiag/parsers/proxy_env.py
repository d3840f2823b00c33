"""Proxy variables in environment-style text: /etc/environment, systemd's DefaultEnvironment=
and Environment= lines, a process's /proc/<pid>/environ (NULs turned into newlines). Text in,
data out; nothing here raises."""

from __future__ import annotations

import re
from typing import Dict

from azbdiag import lazyre

_PROXY_RE = lazyre.compile(r"\b(https?_proxy|all_proxy|no_proxy)\s*=\s*['\"]?([^'\"\s]*)",
                       re.IGNORECASE)


def proxy_settings(text: str) -> Dict[str, str]:
    """Proxy variables assigned anywhere in `text`; names lower-cased, the last assignment
    wins, commented lines ignored.

    >>> proxy_settings('HTTP_PROXY="http://proxy:3128"\\n# no_proxy=x\\n'
    ...                'Environment="https_proxy=http://proxy:3128" "NO_PROXY=168.63.129.16"\\n')
    {'http_proxy': 'http://proxy:3128', 'https_proxy': 'http://proxy:3128', 'no_proxy': '168.63.129.16'}
    """
    out: Dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.lstrip().startswith("#"):
            continue
        for name, value in _PROXY_RE.findall(line):
            out[name.lower()] = value
    return out
