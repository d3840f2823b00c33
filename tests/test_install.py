"""tools/install, staged with --destdir into a temporary folder (it never touches this
machine's /usr/local here): the launcher, the program with its bundled libraries, the man page
and the bash completion, a list of what it installed, and --uninstall removing exactly that
(and the /opt/azbdiag venv of older versions)."""

import os
import subprocess

import pytest

from azbdiag import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "install")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent",
       "AZBDIAG_WHEEL_CACHE": os.path.join(ROOT, "wheels")}


@pytest.fixture(autouse=True)
def stages_only():
    # Guard first: a tools/install without --destdir would install into the real /usr/local.
    text = open(SCRIPT, encoding="utf-8").read()
    assert "--destdir" in text and "--uninstall" in text, "tools/install has no --destdir/--uninstall"
    if not os.path.isdir(os.path.join(ROOT, "wheels")):
        pytest.skip("no wheels/ (run ./tools/fetch-wheels)")


def install(dest, *args):
    return subprocess.run([SCRIPT, "--destdir", str(dest), *args], capture_output=True, text=True,
                          env=ENV, timeout=300)


def files_under(dest):
    return sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)


def test_install_puts_launcher_program_man_page_and_completion(tmp_path):
    res = install(tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"installed: azbdiag {__version__} (staged under {tmp_path})"
    local = tmp_path / "usr" / "local"
    launcher = local / "bin" / "azbdiag"
    assert oct(launcher.stat().st_mode & 0o777) == "0o755"
    assert "/usr/local/share/azbdiag/main.py" in launcher.read_text()
    assert (local / "share/man/man1/azbdiag.1").read_text().startswith(open(
        os.path.join(ROOT, "man", "azbdiag.1")).read()[:200])
    assert (local / "share/bash-completion/completions/azbdiag").is_file()
    assert (local / "share/azbdiag/_vendor/typer/typer/__init__.py").is_file()
    listed = (local / "share/azbdiag/installed-files").read_text().splitlines()
    files = [p for p in listed if not p.startswith("dir:")]
    assert "/usr/local/bin/azbdiag" in files and "/usr/local/share/man/man1/azbdiag.1" in files
    assert sorted("usr" + p[len("/usr"):] for p in files + ["/usr/local/share/azbdiag/installed-files"]) \
        == files_under(tmp_path)
    res = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                         env=dict(ENV, AZBDIAG_LAUNCHER_ROOT=str(tmp_path)), timeout=60)
    assert res.stdout == f"azbdiag {__version__}\n", res.stderr


def test_reinstall_replaces_and_drops_files_an_older_version_had(tmp_path):
    assert install(tmp_path).returncode == 0
    appdir = tmp_path / "usr/local/share/azbdiag"
    old = appdir / "azbdiag" / "gone_module.py"
    old.write_text("# from an older version\n")
    with open(appdir / "installed-files", "a") as fh:
        fh.write("/usr/local/share/azbdiag/azbdiag/gone_module.py\n")
    before = files_under(tmp_path)
    res = install(tmp_path)
    assert res.returncode == 0, res.stderr
    assert not old.exists()
    assert files_under(tmp_path) == [f for f in before if not f.endswith("gone_module.py")]


def test_uninstall_removes_exactly_what_was_installed(tmp_path):
    mine = tmp_path / "usr/local/bin/other-tool"
    mine.parent.mkdir(parents=True)
    mine.write_text("#!/bin/sh\n")
    (tmp_path / "usr/local/share/man").mkdir(parents=True)
    assert install(tmp_path).returncode == 0
    res = install(tmp_path, "--uninstall")
    assert res.returncode == 0, res.stderr
    assert "removed" in res.stdout and "files of azbdiag" in res.stdout
    assert files_under(tmp_path) == ["usr/local/bin/other-tool"]
    # folders that existed before stay; the ones the install created are gone
    assert (tmp_path / "usr/local/share/man").is_dir()
    assert not (tmp_path / "usr/local/share/bash-completion").exists()
    assert not (tmp_path / "usr/local/share/azbdiag").exists()
    res = install(tmp_path, "--uninstall")
    assert res.returncode == 0 and "nothing of azbdiag installed" in res.stdout


def test_uninstall_removes_the_venv_of_older_versions(tmp_path):
    venv = tmp_path / "opt" / "azbdiag"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "azbdiag").write_text("#!/opt/azbdiag/bin/python\n")
    (venv / "bin" / "azbdiag").chmod(0o755)
    link = tmp_path / "usr/local/bin/azbdiag"
    link.parent.mkdir(parents=True)
    link.symlink_to("/opt/azbdiag/bin/azbdiag")
    res = install(tmp_path, "--uninstall")
    assert res.returncode == 0, res.stderr
    assert not venv.exists() and not os.path.lexists(link)
    assert "/opt/azbdiag" in res.stdout


def test_bad_options(tmp_path):
    res = install(tmp_path, "--frobnicate")
    assert res.returncode == 2 and "unknown option --frobnicate" in res.stderr
    res = subprocess.run([SCRIPT, "--prefix", "relative"], capture_output=True, text=True, env=ENV)
    assert res.returncode == 2 and "absolute" in res.stderr
