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


def _module_level_compiles(path):
    """Line numbers of `re.compile(...)` calls run at import (outside any function)."""
    import ast

    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if (not in_function and isinstance(child, ast.Call)
                    and isinstance(child.func, ast.Attribute) and child.func.attr == "compile"
                    and isinstance(child.func.value, ast.Name) and child.func.value.id == "re"):
                found.append(child.lineno)
            visit(child, inner)
    visit(tree, False)
    return found


def test_no_module_compiles_a_pattern_at_import():
    import os

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for top in ("azbdiag", "rules"):
        for folder, _dirs, files in os.walk(os.path.join(here, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    offenders += [f"{os.path.relpath(path, here)}:{n}"
                                  for n in _module_level_compiles(path)]
    assert offenders == [], "use lazyre.compile at module level: " + ", ".join(offenders)


def test_the_import_time_check_finds_a_compile(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import re\nA = re.compile('a')\nB = (re.compile('b'),)\n"
                      "def f():\n    return re.compile('c')\n")
    assert _module_level_compiles(str(source)) == [2, 3]
