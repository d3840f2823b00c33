"""azbdiag.pyz built by tools/bundle.py from the pinned wheels, run with this machine's Python:
reproducible, complete, runs `check`, cleans up the folder it unpacks into (and those of runs
that were killed), and on a Python older than 3.9 hands over to a newer one or names the
package to install. (tests/test_packaging_matrix.py runs it on Debian 11's Python 3.9.)"""

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import zipfile

import pytest

from azbdiag import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
HEALTHY = os.path.join(ROOT, "tests", "samples", "healthy")


def load(name, rel):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = load("azbdiag_tools_bundle", "tools/bundle.py")


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    if not os.path.isdir(bundle.WHEELS):
        pytest.skip("no wheels/ (run ./tools/fetch-wheels)")
    out = tmp_path_factory.mktemp("pyz")
    first = str(out / "a" / "azbdiag.pyz")
    digest = bundle.build_pyz(first)
    again = bundle.build_pyz(str(out / "b" / "azbdiag.pyz"))
    assert digest == again, "the same tree must give the same .pyz"
    assert digest == hashlib.sha256(open(first, "rb").read()).hexdigest()
    return first


def run(argv, tmpdir, env=None, timeout=300):
    full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "TMPDIR": str(tmpdir)}
    full.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, env=full, timeout=timeout)


def test_contents(pyz):
    with open(pyz, "rb") as fh:
        assert fh.readline() == b"#!/usr/bin/env python3\n"
    names = zipfile.ZipFile(pyz).namelist()
    for name in ("__main__.py", "launcher.sh", "azbdiag/__main__.py", "azbdiag/rules/__init__.py",
                 "azbdiag/data/report.schema.json", "_vendor/typer/typer/__init__.py",
                 "_vendor/typer/click/__init__.py", "_vendor/sh/sh.py", "_vendor/distro/distro/__init__.py",
                 "_vendor/typer/typer-0.7.0.dist-info/LICENSE"):
        assert name in names, name
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]
    assert os.path.getsize(pyz) < 1_000_000


def test_runs_check_and_leaves_nothing_behind(pyz, tmp_path):
    res = run([PY, pyz, "--version"], tmp_path)
    assert (res.returncode, res.stdout) == (0, f"azbdiag {__version__}\n"), res.stderr
    res = run([PY, pyz, "--debug", "check", "--root", HEALTHY, "--format", "json"], tmp_path,
              env={"AZBDIAG_LIBS": "bundled"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    doc = json.loads(res.stdout)
    assert doc["tool"]["version"] == __version__ and doc["host"]["root"] == HEALTHY
    assert "typer 0.7.0 bundled, click 8.1.3 bundled, sh 1.14.2 bundled, distro 1.8.0 bundled" in res.stderr
    assert os.listdir(tmp_path) == [], "the unpacked folder is removed"


def test_removes_folders_of_killed_runs_only(pyz, tmp_path):
    dead = tmp_path / "azbdiag-pyz-999999999-abc"   # no such process
    alive = tmp_path / f"azbdiag-pyz-{os.getpid()}-def"
    foreign = tmp_path / "azbdiag-pyz-999999998-ghi"  # not ours: no marker file
    for folder in (dead, alive, foreign):
        folder.mkdir()
    (dead / ".azbdiag-pyz").write_text("x\n")
    (alive / ".azbdiag-pyz").write_text("x\n")
    res = run([PY, pyz, "--version"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, foreign.name])


def test_old_python_hands_over_to_a_newer_one_or_names_the_package(pyz, tmp_path):
    """Runs the .pyz's __main__ as an old Python would (its minimum raised to 99), with a PATH
    whose python3 is a 3.6 and whose python3.11 is this machine's Python."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "sed", "head", "tr"):
        os.symlink(shutil.which(tool, path="/usr/bin:/bin"), bindir / tool)
    (bindir / "python3").write_text("#!/bin/sh\nprintf 3.6\n")
    (bindir / "python3").chmod(0o755)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text('ID="rhel"\nVERSION_ID="8.9"\n')
    old = ("import sys; g = {'__name__': 'old', '__file__': sys.argv[1] + '/__main__.py'}; "
           "src = __import__('zipfile').ZipFile(sys.argv[1]).read('__main__.py'); "
           "exec(compile(src, '__main__.py', 'exec'), g); g['MIN_PYTHON'] = (99, 0); "
           "sys.argv = sys.argv[1:]; sys.exit(g['main']())")
    env = {"PATH": str(bindir), "AZBDIAG_LAUNCHER_ROOT": str(root)}
    (tmp_path / "t").mkdir()
    res = run([PY, "-c", old, pyz, "--version"], tmp_path / "t", env=env)
    assert res.returncode == 3 and res.stdout == ""
    assert res.stderr == ("azbdiag: needs Python 3.9 or newer, found python3 3.6; "
                          "install one with: dnf install python3.11\n")
    os.symlink(os.path.realpath(PY), bindir / "python3.11")
    res = run([PY, "-c", old, pyz, "--version"], tmp_path / "t", env=env)
    assert (res.returncode, res.stdout) == (0, f"azbdiag {__version__}\n"), res.stderr
