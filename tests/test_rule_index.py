"""The rule index (azbdiag/data/rules.json) behind the light `rules` and `explain`, and the
light entry points of azbdiag/__main__.py, which must print what the full command line does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from azbdiag import rule_index

STALE = "azbdiag/data/rules.json is stale: run `python3 -m azbdiag.rule_index --write`"


def _committed():
    with open(rule_index.INDEX_FILE, encoding="utf-8") as fh:
        return json.load(fh)


def test_the_committed_index_lists_the_registry():
    """A rule added, removed or changed (title, codes, flags, docstring) without rewriting
    the index."""
    assert _committed()["rules"] == rule_index.index_document()["rules"], STALE


def test_the_committed_index_matches_the_sources():
    """Any edit of a rule module, the facts layer, engine or model: the index still lists
    the same rules, but `rules` and `explain` would import every rule until it is rewritten."""
    assert _committed()["sources"] == rule_index.sources_digest(), STALE


def test_index_is_used_only_while_the_sources_match(monkeypatch):
    monkeypatch.setattr(rule_index, "_cache", None)
    assert rule_index._from_index() == rule_index._from_registry()
    monkeypatch.setattr(rule_index, "sources_digest", lambda: "edited")
    assert rule_index._from_index() is None          # the rules are imported instead
    assert [r.id for r in rule_index.rules()] == [r.id for r in rule_index._from_registry()]


def _cli(args, light):
    """azbdiag's output and exit code, through __main__ (light) or the full command line."""
    code = ("import sys; from azbdiag.__main__ import main; sys.exit(main())" if light else
            "import sys; from azbdiag.cli import main; sys.exit(main())")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1", COLUMNS="80"),
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args", [
    ["rules"], ["rules", "--format", "json"], ["rules", "--format=json"],
    ["explain", "121"], ["explain", "UserErrorFsFreezeFailed", "--format", "json"],
    ["explain", "fsfreezefailed"], ["explain", "--list"], ["explain", "--list", "--format=json"],
    ["explain", "NoSuchCode"], ["rules", "--format", "yaml"], ["--version"],
])
def test_light_paths_print_what_the_full_cli_prints(args):
    assert _cli(args, light=True) == _cli(args, light=False)


def test_light_rules_and_explain_import_neither_typer_nor_the_rules():
    code = ("import sys; sys.argv = ['azbdiag', 'explain', '121']; "
            "from azbdiag.__main__ import main; main(); "
            "sys.stderr.write(' '.join(sorted(m for m in sys.modules "
            "if m.startswith(('typer', 'click', 'sh', 'azbdiag.rules.', 'azbdiag.engine')))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert proc.returncode == 0 and "UserErrorFsFreezeFailed" in proc.stdout
    assert proc.stderr == ""
