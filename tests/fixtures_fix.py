"""Shared by the fixer's tests: a test rule and planner registered for the fix id "scripts",
a sandbox folder other users can enter, and running a command as another user.

The test rule `fixertest.conf` fails until /etc/fixertest.conf says "good"; the planner does
what the test puts in box["actions"] (WriteFile of "good" by default)."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest

from azbdiag import engine
from azbdiag.fix import FIXES, FixSpec, WriteFile
from azbdiag.model import CheckError, Rule, fail, ok
from azbdiag.state import STATE_ENV

CONF = "/etc/fixertest.conf"


def _conf_rule(ctx):
    text = ctx.host.try_read_text(CONF)
    if text == "good\n":
        return ok("good")
    if text == "error\n":
        raise CheckError("cannot tell")
    return fail("not good", [repr(text)], text=text)


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """The test rule and planner; the state directory (journal, lock) under tmp_path/state."""
    monkeypatch.setitem(engine.REGISTRY, "fixertest.conf",
                        Rule(id="fixertest.conf", title="test conf is good", func=_conf_rule,
                             fix="scripts"))
    box = {"actions": lambda ctx, findings: [WriteFile(CONF, b"good\n", why="make it good")]}

    def planner(ctx, findings):
        assert findings and findings[0].id == "fixertest.conf"
        return box["actions"](ctx, findings)

    monkeypatch.setitem(FIXES, "scripts",
                        FixSpec("scripts", "Test fix", ("fixertest.conf",), 10, False, planner))
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    box["state"] = tmp_path / "state"
    return box


def make_root(base, content=b"bad\n", mode=0o640):
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    f = root / "etc" / "fixertest.conf"
    f.write_bytes(content)
    os.chmod(f, mode)
    return root


def snapshot(path) -> tuple:
    """(bytes, mode, uid, gid) of a file, never following a symlink."""
    st = os.lstat(path)
    data = os.readlink(path).encode() if stat.S_ISLNK(st.st_mode) else open(path, "rb").read()
    return data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def tree(root) -> dict:
    """Path -> (kind, mode, owner, content hash or link target) of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            owner = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("link", os.readlink(p), owner)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    out[p] = ("file", stat.S_IMODE(st.st_mode), owner,
                              hashlib.sha256(fh.read()).hexdigest())
            else:
                out[p] = ("dir", stat.S_IMODE(st.st_mode), owner)
    return out


# ---- another user ------------------------------------------------------------------------

def second_user():
    """(uid, gid) of a second user made up for the test: a numeric uid and gid that no account
    and no group of this machine has, so nothing of the machine belongs to it. Nothing is
    written to /etc/passwd or /etc/group (tests never touch the machine's /etc): setpriv and
    the kernel need only the numbers."""
    taken_uids = {p.pw_uid for p in pwd.getpwall()}
    taken_gids = {g.gr_gid for g in grp.getgrall()}
    for uid in range(61000, 65000):
        if uid not in taken_uids and uid not in taken_gids:
            return uid, uid
    pytest.skip("no free uid between 61000 and 65000 for a second user")


def need_root_and_setpriv():
    if os.geteuid() != 0:
        pytest.skip("needs root (a second user acts on files root then touches)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is missing (util-linux)")


def as_user(uid: int, gid: int, *argv, check=True):
    """Run argv as uid:gid with no supplementary groups (util-linux setpriv)."""
    res = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                          *[str(a) for a in argv]], capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"{argv} as {uid}: exit {res.returncode}: {res.stderr}")
    return res


@pytest.fixture
def sandbox():
    """A folder under /tmp that other users can enter (pytest's tmp_path is root-only)."""
    base = tempfile.mkdtemp(prefix="azbdiag-sandbox-")
    os.chmod(base, 0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
