"""SELinux security contexts (user:role:type[:level]) as the tools print them, and
/proc/<pid>/attr/current. Text in, data out; nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import Optional

from azbdiag import lazyre

# user:role:type[:level] as printed by ls -Z, stat -c %C, getfattr, matchpathcon, restorecon.
CONTEXT_RE = lazyre.compile(r"(?<![\w.-])([A-Za-z0-9_.-]+_u):([A-Za-z0-9_.-]+_r):([A-Za-z0-9_.-]+_t)"
                         r"(?::([^\s,\"'>]+))?")


@dataclasses.dataclass
class Context:
    """An SELinux security context, user:role:type[:level]."""
    user: str
    role: str
    type: str
    level: str = ""

    def __str__(self) -> str:
        base = f"{self.user}:{self.role}:{self.type}"
        return f"{base}:{self.level}" if self.level else base


def parse_context(text) -> Optional[Context]:
    """The first security context in `text` (str or bytes), or None.

    >>> parse_context("drwx------. root root system_u:object_r:var_lib_t:s0 /var/lib/waagent")
    Context(user='system_u', role='object_r', type='var_lib_t', level='s0')
    >>> str(parse_context(b"system_u:system_r:unconfined_service_t:s0\\x00"))
    'system_u:system_r:unconfined_service_t:s0'
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    m = CONTEXT_RE.search(text)
    if not m:
        return None
    return Context(m.group(1), m.group(2), m.group(3), m.group(4) or "")


def context_type(text) -> Optional[str]:
    """The type of the first security context in `text`, or None.

    >>> context_type('security.selinux="unconfined_u:object_r:user_tmp_t:s0"')
    'user_tmp_t'
    """
    ctx = parse_context(text)
    return ctx.type if ctx else None



def parse_proc_attr(data) -> Optional[Context]:
    """/proc/<pid>/attr/current: a context terminated by NUL or newline.

    >>> parse_proc_attr(b"system_u:system_r:unconfined_service_t:s0\\x00").type
    'unconfined_service_t'
    """
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if not isinstance(data, (bytes, bytearray)):
        return None
    first = bytes(data).split(b"\x00", 1)[0].split(b"\n", 1)[0]
    return parse_context(first)
