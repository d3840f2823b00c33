"""Every parser module at once: its docstring examples run and pass, every public function has
one, parsers do no I/O and import nothing but the standard library, PyYAML and each other,
and no parse function raises on any text."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import os
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import azbdiag.parsers

PARSERS_DIR = os.path.dirname(azbdiag.parsers.__file__)
MODULES = sorted(info.name for info in pkgutil.iter_modules(azbdiag.parsers.__path__))
PUBLIC = [name for name in MODULES if not name.startswith("_")]


def _module(name):
    return importlib.import_module(f"azbdiag.parsers.{name}")


def _functions(module):
    """The public functions a module defines (not those it imports)."""
    return [(name, obj) for name, obj in sorted(vars(module).items())
            if inspect.isfunction(obj) and obj.__module__ == module.__name__
            and not name.startswith("_")]


def test_the_parser_package_is_split_by_input():
    assert len(PUBLIC) >= 40
    assert "network" not in MODULES and "extension" not in MODULES and "fsstate" not in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    module = _module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} fail: run " \
                               f"`python3 -m doctest -v azbdiag/parsers/{name}.py`"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_parser_shows_an_example(name):
    module = _module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring naming its input"
    missing = [f for f, obj in _functions(module) if ">>>" not in (obj.__doc__ or "")]
    assert not missing, f"public functions of {name} without a `>>>` example: {missing}"
    assert doctest.DocTestFinder().find(module), name


def test_the_example_check_catches_a_parser_without_one(monkeypatch):
    module = _module("wicked")

    def parse_nothing(text):
        """No example here."""

    parse_nothing.__module__ = module.__name__
    monkeypatch.setattr(module, "parse_nothing", parse_nothing, raising=False)
    with pytest.raises(AssertionError, match="parse_nothing"):
        test_every_public_parser_shows_an_example("wicked")


ALLOWED_IMPORTS = {"__future__", "configparser", "dataclasses", "datetime", "fnmatch", "json",
                   "re", "sre_constants", "sre_parse", "typing", "unicodedata", "yaml"}
NO_IO_CALLS = {"open", "exec", "eval", "compile", "__import__"}


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            if base == "azbdiag":      # `from azbdiag import lazyre`: the module lazyre
                yield from (f"azbdiag.{alias.name}" for alias in node.names)
            else:
                yield base


@pytest.mark.parametrize("name", MODULES)
def test_parsers_do_no_io(name):
    """Text in, data out: the standard library's pure modules, PyYAML and other parsers only;
    no open(), no eval."""
    with open(os.path.join(PARSERS_DIR, f"{name}.py"), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    bad = [m for m in _imports(tree)
           if m.split(".")[0] not in ALLOWED_IMPORTS and not m.startswith("azbdiag.parsers")
           and m != "azbdiag.lazyre"]      # re.compile deferred to first use, no I/O
    assert not bad, f"{name} imports {bad}"
    calls = [n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in NO_IO_CALLS]
    assert not calls, f"{name} calls {calls}"


def _text_parsers():
    """Every public parse function that takes one text: parse_*, and the modules' `parse`."""
    found = []
    for name in PUBLIC:
        for fname, fn in _functions(_module(name)):
            if not fname.startswith("parse"):
                continue
            required = [p for p in inspect.signature(fn).parameters.values()
                        if p.default is inspect.Parameter.empty
                        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if len(required) == 1:
                found.append((f"{name}.{fname}", fn))
    return found


TEXT_PARSERS = _text_parsers()


def test_the_fuzzed_parsers_are_all_of_them():
    names = {n for n, _ in TEXT_PARSERS}
    assert len(names) >= 50
    assert {"yamldoc.parse_yaml", "status_file.parse_status", "vmbackup_conf.parse",
            "audit_avc.parse_avcs", "mounts.parse_mountinfo", "proc.parse_cmdline"} <= names


LINES = st.lists(st.sampled_from([
    "", "#", "[", "]", "{", "}", ":", "=", "\t", "\\", "\x00", "\ufeff", "key: value", "k=v", "- a",
    "[Match]", "[SnapshotThread]", "Name=eth0", "BOOTPROTO=dhcp", "SELINUX=enforcing",
    'type=AVC msg=audit(1.0:1): avc:  denied  { ioctl } for  comm="x"', "WantedBy=a b",
    "Failed to FIFREEZE: /data", "EXT4-fs error (device sda1):", "29 1 8:1 / / rw - ext4 /d rw",
    "default via 10.0.0.1 dev eth0 proto dhcp", '{"status": {"code": "121"}}', "[{]",
    "WALinuxAgent-2.9.1.1 running on ubuntu", "Filesystem state: clean", 'NAME="a" MOUNTPOINT="/"',
]), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), LINES.map("\n".join)))
def test_no_parse_function_raises_on_any_text(text):
    for _name, parse in TEXT_PARSERS:
        parse(text)
