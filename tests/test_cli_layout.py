"""What the command line offers agrees with the registries behind it: the fix flags, the bash
completion and the man page list exactly the registered fixes, and check's formats are the
renderers'. And `--brief` is `--format brief`, never silently overriding another --format."""

from __future__ import annotations

import os
import re

import pytest
import typer
from conftest import SAMPLES
from typer.testing import CliRunner

from azbdiag import render
from azbdiag.cli import app
from azbdiag.commands.fix import fix_flags
from azbdiag.fix import registered_fixes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKEN = os.path.join(SAMPLES, "broken")
runner = CliRunner()


def command(name):
    return typer.main.get_command(app).commands[name]


def read(rel):
    path = os.path.join(ROOT, rel)
    if not os.path.isfile(path):
        pytest.skip(f"not a source checkout (no {rel})")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


REGISTERED = set(registered_fixes())
FIX_OPTIONS_NOT_FIXES = {"--all", "--dry-run", "--yes", "-y", "--root", "--mount", "--deadline",
                         "--disk",
                         "--help", "-h"}


def test_the_registry_has_the_fixes():
    assert {"freeze", "vmbackup-conf", "selinux", "agent", "scripts", "dhcp"} <= REGISTERED


def test_fix_flags_are_the_registered_fixes():
    cmd = command("fix")
    flags = fix_flags(cmd)
    assert {fix_id for _, fix_id in flags} == REGISTERED
    # each fix flag's option string is --<id>
    by_name = {p.name: p for p in cmd.params}
    for name, fix_id in flags:
        assert by_name[name].opts == [f"--{fix_id}"], name
    others = {o for p in cmd.params if not p.name.startswith("fix_") for o in p.opts + p.secondary_opts}
    assert others == FIX_OPTIONS_NOT_FIXES - {"--help", "-h"}


def test_completion_offers_exactly_the_registered_fixes():
    script = read("completion/azbdiag")
    case = re.search(r"^\s+fix\)\n\s+opts=\"([^\"]*)\"", script, re.M)
    assert case, "completion: no fix) case"
    offered = set(case.group(1).split())
    assert offered - FIX_OPTIONS_NOT_FIXES == {f"--{f}" for f in REGISTERED}
    assert FIX_OPTIONS_NOT_FIXES <= offered


def _man():
    return read("man/azbdiag.1").replace("\\-", "-")


def test_man_page_synopsis_and_fix_section_list_exactly_the_registered_fixes():
    man = _man()
    synopsis = re.search(r"^\.B azbdiag fix\n\.RB \{ (.*) \}\.\.\.$", man, re.M)
    assert synopsis, "man: fix synopsis"
    listed = {w.strip() for w in synopsis.group(1).split("|")}
    assert listed == {f"--{f}" for f in REGISTERED} | {"--all"}
    section = man.split("\n.SS fix\n", 1)[1].split("\n.SS ", 1)[0]
    items = set(re.findall(r"^\.TP\n\.B[IR]? (--[a-z-]+)", section, re.M))
    assert items - FIX_OPTIONS_NOT_FIXES == {f"--{f}" for f in REGISTERED}


def test_check_formats_are_the_report_renderers():
    assert render.REPORT_FORMATS == ("text", "json", "brief", "prometheus")
    script = read("completion/azbdiag")
    words = re.search(r"\$cmd == check \]\]; then\n\s+COMPREPLY=\(\$\(compgen -W \"([^\"]*)\"",
                      script)
    assert words and tuple(words.group(1).split()) == render.REPORT_FORMATS
    assert re.search(r"--format\n\.BR text \| json \| brief \| prometheus \]", _man())


def test_catalogue_relevance_values_have_a_text():
    from azbdiag import catalogue
    from azbdiag.render.text import RELEVANCE_TEXT

    assert set(RELEVANCE_TEXT) == set(catalogue.RELEVANCE)


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
