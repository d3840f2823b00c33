"""Unattended use (cloud-init, systemd, Run Command, fleets): no prompt and no colour without a
terminal, --yes needed to change anything, exit codes as documented, --brief under 4 KB."""

import json
import os
import shutil

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from azbdiag import render
from azbdiag.cli import app
from azbdiag.render.text import use_colour

runner = CliRunner()  # stdin/stdout are not terminals here


@pytest.fixture
def broken(tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(os.path.join(SAMPLES, "broken"), root, symlinks=True)
    monkeypatch.setenv("AZBDIAG_STATE_DIR", str(tmp_path / "state"))
    return root


def conf(root):
    return (root / "etc" / "azure" / "vmbackup.conf").read_bytes()


def test_fix_without_yes_and_without_terminal_changes_nothing(broken):
    before = conf(broken)
    res = runner.invoke(app, ["fix", "--vmbackup-conf", "--root", str(broken)], input="y\n")
    assert res.exit_code == 4, res.output
    assert "--yes" in res.output
    assert "Apply this plan?" not in res.output  # no question asked, even with input waiting
    assert conf(broken) == before


def test_dry_run_then_yes_then_undo(broken):
    before = conf(broken)
    res = runner.invoke(app, ["fix", "--vmbackup-conf", "--root", str(broken), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert conf(broken) == before
    res = runner.invoke(app, ["fix", "--vmbackup-conf", "--root", str(broken), "--yes"])
    assert res.exit_code in (0, 1), res.output
    assert conf(broken) != before
    res = runner.invoke(app, ["undo", "--root", str(broken)])
    assert res.exit_code == 4, res.output  # undo needs --yes without a terminal, too
    res = runner.invoke(app, ["undo", "--root", str(broken), "--yes"])
    assert res.exit_code == 0, res.output
    assert conf(broken) == before


def test_exit_codes_and_no_colour(broken, monkeypatch):
    res = runner.invoke(app, ["check", "--root", str(broken), "--only", "vmbackup_conf"])
    assert res.exit_code == 1 and "\033[" not in res.output
    res = runner.invoke(app, ["check", "--root", os.path.join(SAMPLES, "healthy"), "--only",
                              "vmbackup_conf"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["check", "--root", str(broken), "--format", "yaml"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["check", "--root", str(broken / "no-such-dir")])
    assert res.exit_code == 3 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_use_colour_only_on_a_terminal(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert use_colour(Tty()) is False


def test_brief_stays_under_the_run_command_limit(broken):
    res = runner.invoke(app, ["check", "--root", str(broken), "--brief"])
    assert res.exit_code in (0, 1)
    assert len(res.output.encode()) < 4096 and res.output.startswith("azbdiag ")
    # and with far more findings than fit
    doc = json.loads(runner.invoke(app, ["check", "--root", str(broken), "--format", "json"]).output)
    many = dict(doc, results=[dict(doc["results"][0], id=f"x.rule_{i}", status="fail",
                                   summary="s" * 300) for i in range(100)])
    text = render.report(many, "brief")
    assert len(text.encode()) < 4096 and "more (use --format json)" in text
