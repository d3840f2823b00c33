"""Regular expressions compiled on first use.

The parsers and rules hold about 80 patterns at module level, and a check uses a dozen of them
on a typical machine; compiling all at import cost more than a tenth of an offline check.
`lazyre.compile(pattern, flags)` returns an object with the methods of a compiled pattern that
compiles it the first time one is called.

    >>> WORD = compile(r"(?P<w>\\w+)")
    >>> WORD.search("  hello ").group("w")
    'hello'
    >>> WORD.pattern, [m.group() for m in WORD.finditer("a b")]
    ('(?P<w>\\\\w+)', ['a', 'b'])

Only patterns written in our source go through here: patterns from a disk or a configuration
file go through azbdiag.parsers._saferegex.
"""

from __future__ import annotations

import re


class LazyPattern:
    """A compiled pattern's interface, compiling on first use."""

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern, flags=0):
        self.pattern, self.flags, self._compiled = pattern, flags, None

    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, *args, **kwargs):
        return self.compiled().match(*args, **kwargs)

    def fullmatch(self, *args, **kwargs):
        return self.compiled().fullmatch(*args, **kwargs)

    def search(self, *args, **kwargs):
        return self.compiled().search(*args, **kwargs)

    def finditer(self, *args, **kwargs):
        return self.compiled().finditer(*args, **kwargs)

    def findall(self, *args, **kwargs):
        return self.compiled().findall(*args, **kwargs)

    def split(self, *args, **kwargs):
        return self.compiled().split(*args, **kwargs)

    def sub(self, *args, **kwargs):
        return self.compiled().sub(*args, **kwargs)

    def subn(self, *args, **kwargs):
        return self.compiled().subn(*args, **kwargs)

    @property
    def groups(self):
        return self.compiled().groups

    @property
    def groupindex(self):
        return self.compiled().groupindex

    def __repr__(self):
        return f"lazyre.compile({self.pattern!r}, {self.flags!r})"


def compile(pattern, flags=0) -> LazyPattern:  # noqa: A001 - the name of re's function
    return LazyPattern(pattern, flags)
