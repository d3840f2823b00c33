"""The .deb, the .rpm and azbdiag.pyz, built once per source tree by the README's own commands.

    products = built()      # {"deb": ..., "changes": ..., "rpm": ..., "pyz": ..., "log": ...}

The first call copies the tree (the files git tracks or would track; symlinks stay links) into
a fresh folder, makes it a git repository with one commit (the README's rpm commands use
`git archive HEAD`), and there runs every command of the README's code blocks annotated
`<!-- ci: build -->` (tests/readme_blocks.py) as written, each block with `sh -e` from the top
of the copy, with HOME pointing into the build folder (so ~/rpmbuild is the build's own) and
AZBDIAG_WHEEL_CACHE at the test cache. `sudo apt-get build-dep ./` runs as written too, but
only after `dpkg-checkbuilddeps` has shown that it has nothing left to install (so it cannot
change this machine's packages), with a `sudo` that only runs its command (the build runs as
root) and apt told to wait for a dpkg lock that another process holds.

The products are kept under <AZBDIAG_TEST_CACHE>/builds/<hash of the tree>/, so every test
module, and a later pytest run on the same tree, reuses them: each package is built once.
Needs root and the tools of tools/deps/packaging.apt; otherwise the caller is skipped.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import readme_blocks
from chroots import CACHE_DIR, _cache_lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_DIR = os.path.join(CACHE_DIR, "builds")
WHEEL_CACHE = os.path.join(CACHE_DIR, "wheels")
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SUDO = '#!/bin/sh\n# the build runs as root: sudo only runs its command\nexec "$@"\n'
TOOLS = ("dpkg-buildpackage", "dpkg-checkbuilddeps", "dh", "rpmbuild", "rpm", "git", "lintian", "tar")


def tree_files():
    """Relative paths of the files git tracks or would track (symlinks included)."""
    cp = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                        capture_output=True, env=dict(os.environ, PATH=HOST_PATH))
    if cp.returncode == 0:
        names = [n for n in cp.stdout.decode().split("\0") if n]
        return sorted(n for n in names if os.path.lexists(os.path.join(ROOT, n)))
    out = []
    skip = {".git", ".pybuild", "build", "dist", "wheels", "__pycache__", ".hypothesis", ".pytest_cache",
            ".ruff_cache"}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".venv")]
        out.extend(os.path.relpath(os.path.join(folder, f), ROOT) for f in files)
    return sorted(out)


def tree_key(files):
    digest = hashlib.sha256()
    for rel in files:
        path = os.path.join(ROOT, rel)
        digest.update(rel.encode() + b"\0")
        if os.path.islink(path):
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            digest.update(oct(os.stat(path).st_mode & 0o111).encode())
            with open(path, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()[:16]


def readme_build_blocks(readme_text):
    """The README's blocks annotated `<!-- ci: build -->`, as lists of their non-blank lines."""
    return [[line for line in block.lines if line.strip()]
            for block in readme_blocks.blocks("build", text=readme_text)]


def _copy_tree(files, dest):
    os.makedirs(dest)
    listing = "\0".join(files).encode()
    tar = subprocess.run(["tar", "-C", ROOT, "--null", "-T", "-", "-cf", "-"], input=listing,
                         capture_output=True, check=True)
    subprocess.run(["tar", "-C", dest, "-xf", "-"], input=tar.stdout, check=True)


def _sh(script, cwd, env, log, timeout=1800):
    log.append(f"$ {script}")
    cp = subprocess.run(["sh", "-ec", script], cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=timeout)
    log.append((cp.stdout + cp.stderr)[-6000:])
    if cp.returncode != 0:
        raise RuntimeError(f"`{script}` exited {cp.returncode}:\n" + "\n".join(log)[-8000:])
    return cp


def _build(files, out):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        blocks = readme_build_blocks(fh.read())
    if not blocks:
        raise RuntimeError("README.md: no code block is annotated <!-- ci: build -->")
    work = tempfile.mkdtemp(prefix="build-", dir=BUILD_DIR)
    log = []
    try:
        src = os.path.join(work, "azbdiag")
        home = os.path.join(work, "home")
        os.makedirs(home)
        _copy_tree(files, src)
        shim = os.path.join(work, "bin")
        os.makedirs(shim)
        with open(os.path.join(shim, "sudo"), "w") as fh:
            fh.write(SUDO)
        os.chmod(os.path.join(shim, "sudo"), 0o755)
        with open(os.path.join(work, "apt.conf"), "w") as fh:
            fh.write('DPkg::Lock::Timeout "900";\n')
        env = {"PATH": f"{shim}:{HOST_PATH}", "HOME": home, "APT_CONFIG": os.path.join(work, "apt.conf"),
               "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
               "AZBDIAG_WHEEL_CACHE": WHEEL_CACHE, "DEBIAN_FRONTEND": "noninteractive",
               "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@localhost", "GIT_COMMITTER_NAME": "ci",
               "GIT_COMMITTER_EMAIL": "ci@localhost", "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
        _sh("git init -q && git add -A && git -c commit.gpgsign=false commit -q -m tree", src, env, log)
        _sh("dpkg-checkbuilddeps", src, env, log)  # so that `apt-get build-dep ./` installs nothing
        for block in blocks:
            _sh("\n".join(block), src, env, log)
        products = {
            "deb": glob.glob(os.path.join(work, "azbdiag_*_all.deb")),
            "changes": glob.glob(os.path.join(work, "azbdiag_*.changes")),
            "buildinfo": glob.glob(os.path.join(work, "azbdiag_*.buildinfo")),  # the .changes names it
            "rpm": glob.glob(os.path.join(home, "rpmbuild", "RPMS", "noarch", "azbdiag-*.noarch.rpm")),
            "pyz": glob.glob(os.path.join(src, "dist", "azbdiag.pyz")),
        }
        for kind, found in products.items():
            if len(found) != 1:
                raise RuntimeError(f"the README's commands made {len(found)} {kind} files: {found}\n"
                                   + "\n".join(log)[-4000:])
        os.makedirs(out)
        result = {}
        for kind, (path,) in products.items():
            shutil.copy2(path, out)
            result[kind] = os.path.join(out, os.path.basename(path))
        with open(os.path.join(out, "build.log"), "w") as fh:
            fh.write("\n".join(log))
        with open(os.path.join(out, "products.json"), "w") as fh:
            json.dump(result, fh)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _prune(keep):
    """Drop all but the `keep` newest builds of other trees (and leftovers of killed builds)."""
    entries = []
    for name in os.listdir(BUILD_DIR):
        path = os.path.join(BUILD_DIR, name)
        if name.startswith("build-"):
            shutil.rmtree(path, ignore_errors=True)  # a work folder; we hold the lock
        elif os.path.isfile(os.path.join(path, "products.json")):
            entries.append((os.path.getmtime(os.path.join(path, "products.json")), path))
    for _, path in sorted(entries, reverse=True)[keep:]:
        shutil.rmtree(path, ignore_errors=True)


def built():
    """The products of the README's build commands for the tree as it is now (built on first
    use, then reused). Skips the caller when not root or a build tool is missing."""
    if os.geteuid() != 0:
        pytest.skip("needs root (dpkg-buildpackage, rpmbuild, the build's own tests)")
    for tool in TOOLS:
        if shutil.which(tool, path=HOST_PATH) is None:
            pytest.skip(f"{tool} is not installed (see tools/deps/packaging.apt)")
    files = tree_files()
    out = os.path.join(BUILD_DIR, tree_key(files))
    os.makedirs(BUILD_DIR, mode=0o700, exist_ok=True)
    with _cache_lock():
        if not os.path.isfile(os.path.join(out, "products.json")):
            shutil.rmtree(out, ignore_errors=True)
            _prune(keep=3)
            _build(files, out)
    with open(os.path.join(out, "products.json")) as fh:
        result = json.load(fh)
    with open(os.path.join(out, "build.log")) as fh:
        result["log"] = fh.read()
    return result
