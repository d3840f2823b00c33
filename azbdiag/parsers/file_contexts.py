"""The policy's contexts/files/file_contexts (and file_contexts.local): which label a path
should have, for an offline root where matchpathcon cannot run. Text in, data out; nothing
here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Tuple

from azbdiag.parsers import _saferegex as saferegex
from azbdiag.parsers.selinux_context import parse_context

_FTYPES = {"--": "file", "-d": "dir", "-l": "symlink", "-c": "char", "-b": "block",
           "-s": "socket", "-p": "pipe"}
_META = set(".^$?*+|[({\\")


@dataclasses.dataclass
class FileContextSpec:
    """One line of the SELinux policy's file_contexts: a path regex, the file type it applies to
    and the label it gives (compiled on first use; False when the regex cannot be used)."""
    regex: str
    ftype: Optional[str]        # file, dir, symlink, ...; None: any
    context: Optional[str]      # None for <<none>> (never relabelled)
    stem: str                   # the literal prefix before the first regex character
    exact: bool                 # no regex characters at all: wins over every regex spec
    compiled: object = None


def _stem(regex: str) -> Tuple[str, bool]:
    for i, ch in enumerate(regex):
        if ch in _META:
            return regex[:i], False
    return regex, True


def parse_file_contexts(text: str) -> List[FileContextSpec]:
    """Lines `regex [-type] context` of contexts/files/file_contexts(.local). Lines that do not
    parse, or whose regex Python cannot compile, are skipped.

    >>> [(s.regex, s.ftype, s.context, s.exact) for s in parse_file_contexts(
    ...     "/var/lib(/.*)?\\tsystem_u:object_r:var_lib_t:s0\\n"
    ...     "/var/lib/waagent/special\\t--\\tsystem_u:object_r:etc_t:s0\\njunk line\\n")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('/var/lib(/.*)?', None, 'system_u:object_r:var_lib_t:s0', False),
     ('/var/lib/waagent/special', 'file', 'system_u:object_r:etc_t:s0', True)]
    """
    out: List[FileContextSpec] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 2:
            regex, ftype, con = parts[0], None, parts[1]
        elif len(parts) == 3 and parts[1] in _FTYPES:
            regex, ftype, con = parts[0], _FTYPES[parts[1]], parts[2]
        else:
            continue
        context = None if con == "<<none>>" else con
        if context is not None and parse_context(context) is None:
            continue
        stem, exact = _stem(regex)
        out.append(FileContextSpec(regex, ftype, context, stem, exact))
    return out


def expected_context(specs: List[FileContextSpec], path: str, ftype: str) -> Optional[FileContextSpec]:
    """The spec libselinux would pick for `path`: exact paths beat regexes, and within each
    group the last matching line wins. None when nothing matches.

    >>> specs = parse_file_contexts("/.*\\tsystem_u:object_r:default_t:s0\\n"
    ...                             "/var/lib(/.*)?\\tsystem_u:object_r:var_lib_t:s0\\n")
    >>> expected_context(specs, "/var/lib/waagent/x", "file").context
    'system_u:object_r:var_lib_t:s0'
    """
    for group in (True, False):
        for spec in reversed(specs):
            if spec.exact is not group or (spec.ftype and spec.ftype != ftype):
                continue
            if not path.startswith(spec.stem):
                continue
            if spec.compiled is None:
                try:  # the regex comes from the disk: a matcher that cannot run away
                    spec.compiled = saferegex.compile(spec.regex)
                except (saferegex.Unsupported, re.error, RecursionError, OverflowError):
                    spec.compiled = False
            if spec.compiled and spec.compiled.fullmatch(path):
                return spec
    return None
