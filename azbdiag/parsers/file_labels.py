"""Listings of the SELinux label of paths: `matchpathcon PATH...`, `getfattr -n
security.selinux -h PATH...` and `ls -Zd` / `stat -c '%C %n'`. Text in, data out; nothing
here raises."""

from __future__ import annotations

from typing import Dict

from azbdiag.parsers.selinux_context import CONTEXT_RE, parse_context


def parse_matchpathcon(text: str) -> Dict[str, str]:
    """`matchpathcon PATH...`: path -> the context the policy expects.

    >>> parse_matchpathcon("/var/lib/waagent\\tsystem_u:object_r:var_lib_t:s0\\n")
    {'/var/lib/waagent': 'system_u:object_r:var_lib_t:s0'}
    """
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        path, sep, rest = line.partition("\t")
        if not sep:
            parts = line.split()
            if len(parts) != 2:
                continue
            path, rest = parts
        ctx = parse_context(rest)
        if path.startswith("/") and ctx:
            out[path.strip()] = str(ctx)
    return out


def parse_getfattr(text: str) -> Dict[str, str]:
    """`getfattr -n security.selinux -h P...`: path (with its leading / back) -> context.

    >>> parse_getfattr('# file: var/lib/waagent\\nsecurity.selinux="system_u:object_r:var_lib_t:s0"\\n')
    {'/var/lib/waagent': 'system_u:object_r:var_lib_t:s0'}
    """
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    current = None
    for line in text.splitlines():
        if line.startswith("# file: "):
            name = line[len("# file: "):].strip()
            current = name if name.startswith("/") else "/" + name
        elif line.startswith("security.selinux=") and current is not None:
            ctx = parse_context(line)
            if ctx:
                out[current] = str(ctx)
    return out


def parse_ls_z(text: str) -> Dict[str, str]:
    """`ls -Zd` (legacy 5-column or new form) or `stat -c '%C %n'`: path -> context.

    >>> parse_ls_z("drwx------. root root system_u:object_r:var_lib_t:s0 /var/lib/waagent\\n")
    {'/var/lib/waagent': 'system_u:object_r:var_lib_t:s0'}
    """
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        m = CONTEXT_RE.search(line)
        if not m:
            continue
        rest = line[m.end():].strip()
        if rest.startswith("/"):
            out[rest] = m.group(0)
    return out
