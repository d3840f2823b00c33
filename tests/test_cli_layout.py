"""check's formats are the report renderers', and `--brief` is `--format brief`, never silently
overriding another --format."""

from __future__ import annotations

import os
import re

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from azbdiag import render
from azbdiag.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKEN = os.path.join(SAMPLES, "broken")
runner = CliRunner()


def read(rel):
    path = os.path.join(ROOT, rel)
    if not os.path.isfile(path):
        pytest.skip(f"not a source checkout (no {rel})")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _man():
    return read("man/azbdiag.1").replace("\\-", "-")


def test_check_formats_are_the_report_renderers():
    assert render.REPORT_FORMATS == ("text", "json", "brief")
    script = read("completion/azbdiag")
    words = re.search(r"\$cmd == check \]\]; then\n\s+COMPREPLY=\(\$\(compgen -W \"([^\"]*)\"",
                      script)
    assert words and tuple(words.group(1).split()) == render.REPORT_FORMATS
    assert re.search(r"--format\n\.BR text \| json \| brief \]", _man())


# ---- --brief is --format brief -------------------------------------------------------------

def test_format_brief_is_the_brief_output():
    a = runner.invoke(app, ["check", "--root", BROKEN, "--format", "brief"])
    b = runner.invoke(app, ["check", "--root", BROKEN, "--brief"])
    c = runner.invoke(app, ["check", "--root", BROKEN, "--brief", "--format", "brief"])
    assert a.exit_code == b.exit_code == c.exit_code == 1
    assert a.output == b.output == c.output
    assert a.output.startswith("azbdiag ") and "FAIL vmbackup_conf." in a.output
    assert len(a.output.encode()) < 4096


@pytest.mark.parametrize("fmt", ["json", "text", "TEXT"])
def test_brief_with_another_format_is_a_one_line_usage_error(fmt):
    res = runner.invoke(app, ["check", "--root", BROKEN, "--brief", "--format", fmt])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "--brief" in lines[0] and "--format" in lines[0], res.output
    res = runner.invoke(app, ["check", "--root", BROKEN, "--format", fmt, "--brief"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1


def test_brief_output_file(tmp_path):
    out = tmp_path / "brief.txt"
    res = runner.invoke(app, ["check", "--root", BROKEN, "--format", "brief", "-o", str(out)])
    assert res.exit_code == 1 and res.output == ""
    assert out.read_text().startswith("azbdiag ")


def test_help_names_the_brief_format():
    res = runner.invoke(app, ["check", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "--brief" in text and "brief" in text.split("--format", 1)[1]


def test_rules_and_explain_do_not_take_brief():
    assert runner.invoke(app, ["rules", "--format", "brief"]).exit_code == 2
    assert runner.invoke(app, ["explain", "121", "--format", "brief"]).exit_code == 2
