"""The README's quick start, run as written on a fresh Debian 12 (a debootstrap chroot):
`./tools/install && azbdiag check` from a copy of the committed tree."""

import os
import re
import subprocess

import pytest
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
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
            quick = fh.read()
        quick = quick.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        install = re.search(r"^(\./tools/install && azbdiag check)\b", quick, flags=re.M).group(1)
        res = chroot_run(root, ["sh", "-c", f"cd /src && {install} --brief"], timeout=600,
                         mounts=True)
        assert f"installed: azbdiag {__version__}" in res.stdout, res.stdout + res.stderr
        assert res.returncode in (0, 1), res.stdout + res.stderr   # 1: this chroot has findings
        report = res.stdout.split(f"installed: azbdiag {__version__}\n", 1)[1]
        assert report.startswith(f"azbdiag {__version__}: ") and "Traceback" not in res.stderr
        assert os.path.islink(os.path.join(root, "usr/local/bin/azbdiag"))
    finally:
        cleanup_chroot(root)
