"""The packages and azbdiag.pyz in fresh Debian 11, 12 and 13 roots, each installing from
that release's own archive and nothing else (CI, as root):

- the README's quick start line `apt-get install ./azbdiag_<v>_all.deb && azbdiag check`, as
  written, then `azbdiag --version` and `azbdiag check --root <sample>`: on Debian 11 (Python
  3.9, no python3-typer) with the bundled libraries, on 12 and 13 with the release's own
  (and on 13, Python 3.13, with the bundled ones too); on 12 the postinst warning about a
  shadowing /usr/local/bin/azbdiag;
- the .rpm, installed with `rpm --root --nodeps` into a Debian 11 root that has only python3,
  runs there on Python 3.9 with its bundled libraries;
- `python3.9 azbdiag.pyz check --root <sample>` and the README's `python3 azbdiag.pyz check`
  in that same root, with no library installed.

The packages come from tests/builds.py (built once per tree by the README's commands).
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from builds import built
from chroots import chroot_mounts, chroot_run, cleanup_chroot, debian_chroot

from azbdiag import __version__

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "tests", "samples", "healthy")
PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
BUNDLED_ALL = ("typer 0.7.0 bundled", "click 8.1.3 bundled", "sh 1.14.2 bundled", "distro 1.8.0 bundled")


def readme_quick_start():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        quick = fh.read().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    deb = re.search(r"^(apt-get install \./azbdiag_\S+_all\.deb && azbdiag check)\b", quick, re.M).group(1)
    pyz = re.search(r"^(python3 azbdiag\.pyz check)\b", quick, re.M).group(1)
    return deb, pyz


def add_sample(root):
    shutil.copytree(SAMPLE, os.path.join(root, "sample"), symlinks=True)


def check_sample(root, env=None):
    """`azbdiag --debug check --root /sample --format json` inside the root: (report, debug line).
    /proc is mounted as on any real machine (sh runs commands through /dev/fd)."""
    cp = chroot_run(root, ["azbdiag", "--debug", "check", "--root", "/sample", "--format", "json"],
                    timeout=300, env=env, mounts=True)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["tool"]["version"] == __version__ and doc["host"]["root"] == "/sample"
    assert not [r for r in doc["results"] if r["status"] in ("fail", "error")], doc["results"]
    return doc, cp.stderr.splitlines()[0]


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie"])
def test_deb_installs_from_the_releases_own_archive_and_runs(suite, tmp_path):
    deb = built()["deb"]
    quick_deb, _ = readme_quick_start()
    assert quick_deb.split()[2] == "./" + os.path.basename(deb)
    root = debian_chroot(str(tmp_path / "root"), suite)
    try:
        shutil.copy(deb, os.path.join(root, "root"))
        add_sample(root)
        # The README line is run as written: answer apt's question the way a CI machine does.
        with open(os.path.join(root, "etc/apt/apt.conf.d/90assume-yes"), "w") as fh:
            fh.write('APT::Get::Assume-Yes "true";\n')
        if suite == "bookworm":
            stale = os.path.join(root, "usr/local/bin/azbdiag")
            with open(stale, "w") as fh:
                fh.write("#!/bin/sh\necho stale copy\n")
            os.chmod(stale, 0o755)
        with chroot_mounts(root):
            cp = chroot_run(root, ["apt-get", "update", "-q"], timeout=300)
            assert cp.returncode == 0, cp.stdout + cp.stderr
            cp = chroot_run(root, ["sh", "-c", f"cd /root && {quick_deb}"], timeout=900)
        out = cp.stdout + cp.stderr
        assert "Traceback" not in out, out[-3000:]
        assert f"Setting up azbdiag ({__version__})" in out, out[-3000:]
        if suite == "bookworm":
            # the shadowing copy answered `azbdiag check`; the package said so while installing
            assert cp.returncode == 0 and "stale copy" in cp.stdout
            assert "warning: /usr/local/bin/azbdiag (an install from a clone) comes before" in out
            os.unlink(os.path.join(root, "usr/local/bin/azbdiag"))
        else:
            # a chroot is not a healthy VM (no agent): findings, exit 1, and a report
            assert cp.returncode in (0, 1) and f"azbdiag {__version__}" in cp.stdout, out[-3000:]
            assert "warning: /usr/local/bin/azbdiag" not in out

        cp = chroot_run(root, ["azbdiag", "--version"], timeout=60)
        assert (cp.returncode, cp.stdout) == (0, f"azbdiag {__version__}\n"), cp.stderr
        _, debug = check_sample(root)
        assert debug.startswith(f"azbdiag: Python {PYTHON[suite]}."), debug
        if suite == "bullseye":
            # Debian 11 has no typer, and click 7.1, sh 1.14.1 and distro 1.5 are older than CI tests
            assert all(lib in debug for lib in BUNDLED_ALL), debug
        else:
            for lib in ("typer", "click", "sh", "distro"):
                assert re.search(rf"\b{lib} \S+ system\b", debug), debug
        if suite == "trixie":
            _, debug = check_sample(root, env={"AZBDIAG_LIBS": "bundled"})
            assert debug.startswith("azbdiag: Python 3.13.") and all(lib in debug for lib in BUNDLED_ALL)
        assert not [p for p, _, _ in os.walk(os.path.join(root, "usr/share/azbdiag")) if "__pycache__" in p]
    finally:
        cleanup_chroot(root)


@pytest.fixture(scope="module")
def bullseye_python(tmp_path_factory):
    """A Debian 11 root with python3 (3.9) from its archive and no library at all."""
    root = debian_chroot(str(tmp_path_factory.mktemp("bullseye") / "root"), "bullseye", packages=("python3",))
    try:
        add_sample(root)
        yield root
    finally:
        cleanup_chroot(root)


def test_debian_11_root_has_no_library(bullseye_python):
    for lib in ("typer", "click", "sh", "distro"):
        cp = chroot_run(bullseye_python, ["python3.9", "-c", f"import {lib}"], timeout=60)
        assert cp.returncode == 1 and "ModuleNotFoundError" in cp.stderr, lib


def test_pyz_runs_on_debian_11_python_39_with_nothing_installed(bullseye_python):
    pyz = built()["pyz"]
    shutil.copy(pyz, os.path.join(bullseye_python, "root", "azbdiag.pyz"))
    argv = ["python3.9", "/root/azbdiag.pyz", "--debug", "check", "--root", "/sample", "--format", "json"]
    cp = chroot_run(bullseye_python, argv, timeout=300, mounts=True)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["tool"]["version"] == __version__ and doc["results"]
    assert not [r for r in doc["results"] if r["status"] in ("fail", "error")], doc["results"]
    debug = cp.stderr.splitlines()[0]
    assert debug.startswith("azbdiag: Python 3.9.") and all(lib in debug for lib in BUNDLED_ALL), debug
    # The README's line as written, live in the root (a chroot has findings: exit 1)
    _, quick_pyz = readme_quick_start()
    cp = chroot_run(bullseye_python, ["sh", "-c", f"cd /root && {quick_pyz}"], timeout=300, mounts=True)
    assert cp.returncode in (0, 1) and cp.stdout.startswith(f"azbdiag {__version__}"), cp.stdout + cp.stderr
    assert "Traceback" not in cp.stderr
    left = [e for e in os.listdir(os.path.join(bullseye_python, "tmp")) if e.startswith("azbdiag-pyz-")]
    assert not left, "the .pyz removes the folder it unpacked into"


def test_rpm_runs_on_debian_11_python_39_with_bundled_libraries(bullseye_python):
    rpm = built()["rpm"]
    cp = subprocess.run(["rpm", "--root", bullseye_python, "--dbpath", "/var/lib/rpm", "-i", "--nodeps", rpm],
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = chroot_run(bullseye_python, ["azbdiag", "--version"], timeout=60)
    assert cp.stdout == f"azbdiag {__version__}\n", cp.stderr
    _, debug = check_sample(bullseye_python)
    assert debug.startswith("azbdiag: Python 3.9.") and all(lib in debug for lib in BUNDLED_ALL), debug
    assert "(system: none)" in debug
