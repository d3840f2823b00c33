"""The README's quick start from a clone (the block annotated `<!-- ci: quickstart -->`), run
exactly as written on a fresh Debian 12 (a debootstrap chroot): `./tools/install && azbdiag
check` from a copy of the tree, then the man page, the completion and `tools/install
--uninstall`. Its other command, `./tools/test-all`, is what .ci/run runs (checked in
tests/test_readme_blocks.py). (The package and .pyz lines of the quick start run
in tests/test_packaging_matrix.py.) The wheels are put in the chroot's ~/.cache/azbdiag/wheels,
as a machine that fetched them once has them; nothing is downloaded from PyPI here."""

import os
import shutil
import subprocess

import pytest
import readme_blocks
from chroots import bookworm_chroot, chroot_run, cleanup_chroot

from azbdiag import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.integration
def test_quick_start_installs_and_checks_on_a_fresh_debian(tmp_path):
    root = bookworm_chroot(str(tmp_path))
    try:
        # The working tree as it is (committed or not), without ignored build products.
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout
        dest = os.path.join(root, "src")
        with open(os.path.join(root, "src.tar"), "wb") as tar:
            subprocess.run(["tar", "-C", ROOT, "--null", "-T", "-", "-cf", "-"], input=files,
                           stdout=tar, check=True)
        os.makedirs(dest)
        subprocess.run(["tar", "-C", dest, "-xf", os.path.join(root, "src.tar")], check=True)
        wheels = os.path.join(ROOT, "wheels")
        if not os.path.isdir(wheels):
            pytest.skip("no wheels/ (run ./tools/fetch-wheels)")
        shutil.copytree(wheels, os.path.join(root, "root/.cache/azbdiag/wheels"))
        (block,) = readme_blocks.blocks("quickstart")
        install = block.commands()[0].text                    # with its comment, as written
        assert install.startswith("./tools/install && azbdiag check ")
        res = chroot_run(root, ["sh", "-c", f"cd /src && {install}"], timeout=600, mounts=True)
        assert f"installed: azbdiag {__version__}" in res.stdout, res.stdout + res.stderr
        assert res.returncode in (0, 1), res.stdout + res.stderr   # 1: this chroot has findings
        report = res.stdout.split(f"installed: azbdiag {__version__}\n", 1)[1]
        assert report.startswith(f"azbdiag {__version__} - live system - "), report[:500]
        assert "Traceback" not in res.stderr
        launcher = os.path.join(root, "usr/local/bin/azbdiag")
        assert open(launcher).read().startswith("#!/bin/sh\n")
        for path in ("usr/local/share/man/man1/azbdiag.1",
                     "usr/local/share/bash-completion/completions/azbdiag",
                     "usr/local/share/azbdiag/_vendor/typer/typer/__init__.py"):
            assert os.path.isfile(os.path.join(root, path)), path
        res = chroot_run(root, ["sh", "-c", "cd /src && ./tools/install --uninstall"], timeout=120)
        assert res.returncode == 0 and "removed" in res.stdout, res.stdout + res.stderr
        assert not os.path.exists(launcher)
        assert not os.path.exists(os.path.join(root, "usr/local/share/azbdiag"))
        assert not os.path.exists(os.path.join(root, "usr/local/share/man/man1/azbdiag.1"))
    finally:
        cleanup_chroot(root)
