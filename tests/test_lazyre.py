"""azbdiag.lazyre: a pattern compiled on first use behaves as re's compiled pattern."""

import doctest
import re

import pytest

from azbdiag import lazyre
from azbdiag.parsers import kernel_log


def test_the_doctests_pass():
    assert doctest.testmod(lazyre, report=False).failed == 0


def test_nothing_is_compiled_until_used():
    pattern = lazyre.compile(r"(unbalanced")     # re.compile would raise here
    assert pattern.pattern == "(unbalanced"
    with pytest.raises(re.error):
        pattern.search("x")


@pytest.mark.parametrize("method, args, kwargs", [
    ("match", ("ab12",), {}), ("fullmatch", ("ab12",), {}), ("search", ("x ab12",), {"pos": 1}),
    ("findall", ("a1 b2",), {}), ("split", ("a1 b2",), {"maxsplit": 1}),
    ("sub", ("-", "a1 b2"), {"count": 1}), ("subn", ("-", "a1 b2"), {}),
])
def test_every_method_answers_as_re_does(method, args, kwargs):
    lazy, real = lazyre.compile(r"([a-z])(\d)", re.I), re.compile(r"([a-z])(\d)", re.I)

    def plain(value):
        return value.group(0) if isinstance(value, re.Match) else value
    assert plain(getattr(lazy, method)(*args, **kwargs)) == plain(getattr(real, method)(*args, **kwargs))
    assert [m.span() for m in lazy.finditer("a1 b2")] == [m.span() for m in real.finditer("a1 b2")]
    assert (lazy.groups, dict(lazy.groupindex), lazy.flags) == (2, {}, re.I)


def test_a_module_pattern_is_compiled_once():
    pattern = kernel_log._ERROR_RE
    pattern.search("EXT4-fs error")
    assert pattern.compiled() is pattern.compiled()
