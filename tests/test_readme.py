"""The README stays true: every rule is listed, the quick start commands exist, and CI runs
the same test command the README gives."""

import os
import re

from azbdiag import engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return fh.read()


def test_every_rule_is_in_the_readme_table():
    readme = _read("README.md")
    for r in engine.all_rules():
        assert f"| `{r.id}` |" in readme, f"{r.id} missing from README's rule table"
        assert r.title in readme, f"{r.id}: title changed, regenerate the README table"


def test_quick_start_commands_exist_and_ci_runs_the_readme_test_command():
    readme = _read("README.md")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(\./tools/\S+)", quick, flags=re.M)
    assert commands == ["./tools/install", "./tools/test-all"]
    for cmd in commands:
        assert os.access(os.path.join(ROOT, cmd), os.X_OK), cmd
    assert "tools/test-all" in _read(".ci/run")


def test_every_fix_id_is_documented():
    from azbdiag.fix import registered_fixes

    readme = _read("README.md")
    for fix_id in registered_fixes():
        assert f"fix --{fix_id}" in readme, fix_id


def test_quick_start_package_names_match_the_version():
    from azbdiag import __version__

    quick = _read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert f"apt-get install ./azbdiag_{__version__}_all.deb && azbdiag check" in quick
    assert f"dnf install ./azbdiag-{__version__}-1*.noarch.rpm && azbdiag check" in quick
    assert "python3 azbdiag.pyz check" in quick
