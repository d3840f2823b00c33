"""The shared fixer: plan, confirm, back up, journal, apply, re-check, undo.

A test rule (`fixertest.conf`) wants /etc/fixertest.conf to say "good"; a test planner under the
fix id "scripts" writes it. Both are registered only for the test (monkeypatch)."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azbdiag import engine
from azbdiag.cli import app
from azbdiag.fix import (
    FIXES,
    Chmod,
    Chown,
    DeleteFile,
    RefuseFix,
    RunCommand,
    Symlink,
    WriteFile,
    steps,
)
from azbdiag.fix import run as fix_run
from azbdiag.fix.journal import Lock, list_runs, lock_path
from azbdiag.fix.run import run_fix
from azbdiag.fix.undo import run_undo
from azbdiag.host import Host
from azbdiag.model import Rule
from azbdiag.parsers.proc import parse_proc_locks
from azbdiag.report import run_check
from azbdiag.runner import CommandResult, FakeRunner
from tests import fixtures_fix
from tests.fixtures_fix import CONF

# the test rule `fixertest.conf` and its planner, shared with the other fixer tests
registered = fixtures_fix.registered


def journal_dir(tmp_path, run_id):
    """A run's folder: on this machine (the state directory), never on the disk."""
    return tmp_path / "state" / "journal" / run_id


def tree(root):
    """Path -> (kind, mode, content hash or link target) of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st_ = os.lstat(p)
            if stat.S_ISLNK(st_.st_mode):
                out[p] = ("link", os.readlink(p))
            elif stat.S_ISREG(st_.st_mode):
                with open(p, "rb") as fh:
                    out[p] = ("file", stat.S_IMODE(st_.st_mode),
                              hashlib.sha256(fh.read()).hexdigest())
            else:
                out[p] = ("dir", stat.S_IMODE(st_.st_mode))
    return out


def make_root(tmp_path, content=b"bad\n", mode=0o640):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    f = root / "etc" / "fixertest.conf"
    f.write_bytes(content)
    os.chmod(f, mode)
    return root


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_dry_run_prints_diff_and_changes_nothing(tmp_path, registered):
    root = make_root(tmp_path)
    before = tree(root)
    res = invoke("fix", "--scripts", "--dry-run", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert "-bad" in res.output and "+good" in res.output
    assert "Dry run" in res.output
    assert tree(root) == before


def test_no_tty_without_yes_refuses_exit_4(tmp_path, registered):
    root = make_root(tmp_path)
    before = tree(root)
    res = invoke("fix", "--scripts", "--root", str(root))
    assert res.exit_code == 4
    assert "--yes" in res.output
    assert tree(root) == before


def test_user_says_no(tmp_path, registered):
    root = make_root(tmp_path)
    before = tree(root)
    msgs = []
    code = run_fix(Host(str(root)), ["scripts"], check=run_check, interactive=True,
                         confirm=lambda q: False, out=msgs.append, err=msgs.append)
    assert code == 4
    assert tree(root) == before


def test_user_says_yes(tmp_path, registered):
    root = make_root(tmp_path)
    msgs = []
    code = run_fix(Host(str(root)), ["scripts"], check=run_check, interactive=True,
                         confirm=lambda q: True, out=msgs.append, err=msgs.append)
    assert code == 0, msgs
    assert (root / "etc/fixertest.conf").read_bytes() == b"good\n"


def test_apply_keeps_mode_journals_and_undo_restores(tmp_path, registered):
    root = make_root(tmp_path, b"bad\n", 0o640)
    original = tree(root)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    f = root / "etc/fixertest.conf"
    assert f.read_bytes() == b"good\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert "fixertest.conf: fail -> ok" in res.output
    runs = list_runs(Host(str(root)))
    assert len(runs) == 1
    jdir = journal_dir(tmp_path, runs[0])
    assert not (root / "var/lib/azbdiag").exists()
    data = json.loads((jdir / "journal.json").read_text())
    assert data["status"] == "applied" and data["fixes"] == ["scripts"]
    rec = data["actions"][0]
    assert rec["outcome"] == "ok" and rec["before"]["kind"] == "file"
    assert (jdir / "backups" / rec["before"]["backup"]).read_bytes() == b"bad\n"
    assert data["after"] == {"fixertest.conf": "ok"}
    # A second run has nothing to do.
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    # Undo brings back the bytes and the mode.
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert tree(root) == original
    data = json.loads((jdir / "journal.json").read_text())
    assert data["status"] == "undone"
    res = invoke("undo", "--yes", "--root", str(root), runs[0])
    assert res.exit_code == 3 and "already undone" in res.output


def test_undo_leaves_a_file_changed_since(tmp_path, registered):
    root = make_root(tmp_path)
    assert invoke("fix", "--scripts", "--yes", "--root", str(root)).exit_code == 0
    (root / "etc/fixertest.conf").write_bytes(b"edited by the admin\n")
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 1
    assert "changed since" in res.output
    assert (root / "etc/fixertest.conf").read_bytes() == b"edited by the admin\n"


def test_new_file_is_removed_by_undo(tmp_path, registered):
    root = tmp_path / "root"
    root.mkdir()
    assert invoke("fix", "--scripts", "--yes", "--root", str(root)).exit_code == 0
    f = root / "etc/fixertest.conf"
    assert f.read_bytes() == b"good\n" and stat.S_IMODE(f.stat().st_mode) == 0o644
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert not f.exists() and not (root / "etc").exists()


def test_write_through_symlink_inside_root_keeps_the_link(tmp_path, registered):
    root = make_root(tmp_path)
    real = root / "etc" / "real.conf"
    os.rename(root / "etc/fixertest.conf", real)
    os.symlink("/etc/real.conf", root / "etc/fixertest.conf")   # absolute: inside the root
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert os.readlink(root / "etc/fixertest.conf") == "/etc/real.conf"
    assert real.read_bytes() == b"good\n"
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert real.read_bytes() == b"bad\n"


def test_other_actions_and_their_undo(tmp_path, registered):
    root = make_root(tmp_path)
    (root / "etc/old").write_bytes(b"old\n")
    (root / "etc/exe").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "etc/exe", 0o600)
    (root / "etc/link").write_bytes(b"was a file\n")
    before = tree(root)
    uid, gid = os.getuid(), os.getgid()
    registered["actions"] = lambda ctx, f: [
        DeleteFile("/etc/old", why="stale"),
        Chmod("/etc/exe", 0o755, why="run it"),
        Chown("/etc/exe", uid, gid, why="own it"),
        Symlink("/etc/link", "/etc/exe", why="point"),
        WriteFile(CONF, b"good\n"),
    ]
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert not (root / "etc/old").exists()
    assert stat.S_IMODE((root / "etc/exe").stat().st_mode) == 0o755
    assert os.readlink(root / "etc/link") == "/etc/exe"
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert tree(root) == before


def test_run_command_without_undo_is_marked(tmp_path, registered):
    root = make_root(tmp_path)
    runner = FakeRunner({"true": (0, "")})
    registered["actions"] = lambda ctx, f: [RunCommand(["true"], why="x"),
                                            WriteFile(CONF, b"good\n")]
    msgs = []
    # Commands run on this machine: a fix with commands is for the live system (here a
    # stand-in root with live=True); an offline --root refuses it (test_commands_refused_offline).
    host = Host(str(root), runner=runner, live=True, is_root=True)
    code = run_fix(host, ["scripts"], check=run_check, yes=True, out=msgs.append,
                         err=msgs.append)
    assert code == 0, msgs
    assert any("run: true   [cannot be undone]" in m for m in msgs)
    assert ("true",) in runner.calls
    msgs.clear()
    assert run_undo(host, None, yes=True, out=msgs.append, err=msgs.append) == 0
    assert any("skipped: cannot be undone" in m for m in msgs)


def test_failed_step_stops_the_plan(tmp_path, registered):
    root = make_root(tmp_path)
    runner = FakeRunner({"false": lambda argv, t: CommandResult(argv, 1, "", "boom\n")})
    registered["actions"] = lambda ctx, f: [RunCommand(["false"]),
                                            WriteFile(CONF, b"good\n")]
    msgs = []
    code = run_fix(Host(str(root), runner=runner, live=True, is_root=True), ["scripts"],
                   check=run_check, yes=True, out=msgs.append, err=msgs.append)
    assert code == 1
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"
    assert any("FAILED" in m and "boom" in m for m in msgs)


def test_rule_error_refuses(tmp_path, registered):
    root = make_root(tmp_path, b"error\n")
    before = tree(root)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 3
    assert "could not run" in res.output
    assert tree(root) == before


def test_planner_refusal(tmp_path, registered):
    root = make_root(tmp_path)

    def refuse(ctx, f):
        raise RefuseFix("the disk is busy")

    registered["actions"] = refuse
    before = tree(root)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 3 and "the disk is busy" in res.output
    assert tree(root) == before


def test_backup_running_refuses(tmp_path, registered, monkeypatch):
    from azbdiag import facts

    monkeypatch.setattr(facts, "backup_in_progress", lambda host: ["pid 7: safefreeze"])
    root = make_root(tmp_path)
    before = tree(root)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 3 and "snapshot is running" in res.output
    assert tree(root) == before


def test_lock_held_refuses(tmp_path, registered):
    root = make_root(tmp_path)
    lock = Lock(lock_path(Host(str(root))))
    assert lock.acquire()
    try:
        res = invoke("fix", "--scripts", "--yes", "--root", str(root))
        assert res.exit_code == 3 and "another azbdiag fix" in res.output
    finally:
        lock.release()
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"


def test_unregistered_fix_says_so(tmp_path, monkeypatch):
    monkeypatch.delitem(FIXES, "dhcp", raising=False)
    monkeypatch.setattr(fix_run, "registered_fixes", lambda: FIXES)
    res = invoke("fix", "--dhcp", "--yes", "--root", str(tmp_path))
    assert res.exit_code == 3
    assert "no fix is registered for --dhcp" in res.output


def test_no_fix_chosen_is_usage_error(tmp_path):
    res = invoke("fix", "--root", str(tmp_path))
    assert res.exit_code == 2


def test_undo_without_runs(tmp_path):
    res = invoke("undo", "--yes", "--root", str(tmp_path))
    assert res.exit_code == 3 and "no fix run" in res.output
    res = invoke("undo", "--yes", "--root", str(tmp_path), "../../etc")
    assert res.exit_code == 3


def test_backup_in_progress_fact(fs):
    from azbdiag.facts import SAFEFREEZE_LOCK, backup_in_progress
    from tests.conftest import make_host

    host = make_host(fs, {"/proc/4242/comm": "safefreeze\n",
                          "/proc/4242/cmdline": "/x/safefreeze\x0060\x00/data\x00/\x00",
                          "/proc/77/comm": "python3\n",
                          "/proc/77/cmdline": "python3\x00/var/lib/waagent/Microsoft.Azure."
                                              "RecoveryServices.VMSnapshotLinux-1.0/main/"
                                              "handle.py\x00-daemon\x00",
                          "/proc/99/comm": "bash\n", "/proc/99/cmdline": "bash\x00",
                          SAFEFREEZE_LOCK: ""}, live=True)
    st_ = os.stat(SAFEFREEZE_LOCK)
    fs.create_file("/proc/locks", contents=(
        f"1: POSIX  ADVISORY  WRITE 4242 {os.major(st_.st_dev):02x}:{os.minor(st_.st_dev):02x}:"
        f"{st_.st_ino} 0 EOF\n2: FLOCK  ADVISORY  WRITE 5 fd:00:1 0 EOF\n"))
    found = backup_in_progress(host)
    assert any("pid 4242: safefreeze" in f for f in found)
    assert any("pid 77" in f and "VMSnapshot" in f for f in found)
    assert any("locked by pid 4242" in f for f in found)
    assert not any("pid 99" in f for f in found)


def test_backup_in_progress_none(fs):
    from azbdiag.facts import backup_in_progress
    from tests.conftest import make_host

    host = make_host(fs, {"/proc/1/comm": "systemd\n", "/proc/1/cmdline": "/sbin/init\x00"},
                     live=True)
    assert backup_in_progress(host) == []
    assert backup_in_progress(make_host(fs, {}, root="/offline", live=False)) == []


def test_parse_proc_locks():
    locks = parse_proc_locks("1: POSIX  ADVISORY  WRITE 812 08:01:131090 0 EOF\n"
                             "1: -> POSIX  ADVISORY  WRITE 900 08:01:131090 0 EOF\n"
                             "garbage\n")
    assert len(locks) == 1
    assert (locks[0].pid, locks[0].major, locks[0].minor, locks[0].inode) == (812, 8, 1, 131090)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_proc_locks_never_raises(text):
    assert isinstance(parse_proc_locks(text), list)


def _set_label(path, label):
    try:
        os.setxattr(path, "security.selinux", label)
    except OSError as exc:
        pytest.skip(f"cannot set security.selinux here: {exc.strerror}")


def test_write_keeps_selinux_label_and_undo_restores_it(tmp_path, registered):
    root = make_root(tmp_path)
    f = root / "etc/fixertest.conf"
    label = b"system_u:object_r:etc_t:s0\x00"
    _set_label(str(f), label)
    assert invoke("fix", "--scripts", "--yes", "--root", str(root)).exit_code == 0
    assert f.read_bytes() == b"good\n"
    assert os.getxattr(str(f), "security.selinux") == label
    _set_label(str(f), b"system_u:object_r:tmp_t:s0\x00")
    assert os.getxattr(str(f), "security.selinux") != label
    res = invoke("undo", "--yes", "--root", str(root))
    # The file was relabelled, not edited: its content matches what the fix wrote, so undo runs.
    assert res.exit_code == 0, res.output
    assert f.read_bytes() == b"bad\n"
    assert os.getxattr(str(f), "security.selinux") == label


def test_backup_does_not_follow_a_symlink(tmp_path, registered):
    root = make_root(tmp_path)
    secret = tmp_path / "outside-secret"
    secret.write_bytes(b"do not copy\n")
    registered["actions"] = lambda ctx, f: [DeleteFile("/etc/link-out"),
                                            WriteFile(CONF, b"good\n")]
    os.symlink(str(secret), root / "etc/link-out")
    assert invoke("fix", "--scripts", "--yes", "--root", str(root)).exit_code == 0
    runs = list_runs(Host(str(root)))
    jdir = journal_dir(tmp_path, runs[0])
    rec = json.loads((jdir / "journal.json").read_text())["actions"][0]
    assert rec["before"] == {**rec["before"], "kind": "symlink", "target": str(secret)}
    assert "backup" not in rec["before"]
    assert not any(p.read_bytes() == b"do not copy\n" for p in (jdir / "backups").iterdir())
    assert secret.read_bytes() == b"do not copy\n" and not os.path.lexists(root / "etc/link-out")
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert os.readlink(root / "etc/link-out") == str(secret)


def test_skipped_checks_are_not_nothing_to_do(tmp_path, registered, monkeypatch):
    from azbdiag.model import SkipReason, SkipRule

    def skipping(ctx):
        raise SkipRule(SkipReason.NOT_ROOT, "needs root")

    monkeypatch.setitem(engine.REGISTRY, "fixertest.conf",
                        Rule(id="fixertest.conf", title="t", func=skipping, fix="scripts"))
    root = make_root(tmp_path)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 3 and "did not run" in res.output


def test_live_fix_needs_root(registered):
    msgs = []
    h = Host("/", is_root=False)
    assert run_fix(h, ["scripts"], check=run_check, yes=True, out=msgs.append,
                         err=msgs.append) == 3
    assert "needs root" in msgs[0]


def test_undo_can_be_retried_after_a_partial_undo(tmp_path, registered):
    root = make_root(tmp_path)
    (root / "etc/other").write_bytes(b"other\n")
    registered["actions"] = lambda ctx, f: [WriteFile("/etc/other", b"new other\n"),
                                            WriteFile(CONF, b"good\n")]
    assert invoke("fix", "--scripts", "--yes", "--root", str(root)).exit_code == 0
    (root / "etc/other").write_bytes(b"edited\n")
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 1
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"
    (root / "etc/other").write_bytes(b"new other\n")      # the admin puts it back
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert (root / "etc/other").read_bytes() == b"other\n"
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"


def test_interrupted_run_is_offered_for_undo(tmp_path, registered, monkeypatch):
    root = make_root(tmp_path)
    (root / "etc/other").write_bytes(b"other\n")
    registered["actions"] = lambda ctx, f: [WriteFile(CONF, b"good\n"),
                                            WriteFile("/etc/other", b"new\n")]
    calls = {"n": 0}
    real = steps.apply

    def dying(host, journal, step, hook):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(host, journal, step, hook)

    monkeypatch.setattr(steps, "apply", dying)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 130
    assert (root / "etc/fixertest.conf").read_bytes() == b"good\n"
    monkeypatch.setattr(steps, "apply", real)
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"
    assert (root / "etc/other").read_bytes() == b"other\n"
