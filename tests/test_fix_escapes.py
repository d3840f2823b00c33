"""Issue 11, escapes: a disk, a journal or another local user cannot turn azbdiag's fix, undo
or --output against the machine it runs on.

The tests with a second user run as root and make that user up: a uid and gid no account or
group of the machine has (fixtures_fix.second_user), taken through setpriv, so nothing is
written to the machine's /etc; every file they touch is in a sandbox they create."""

from __future__ import annotations

import hashlib
import json
import os
import stat

from typer.testing import CliRunner

from azbdiag import render
from azbdiag.cli import app
from azbdiag.fix import Chmod, Chown
from azbdiag.fix import files as F
from tests import fixtures_fix
from tests.fixtures_fix import (
    as_user,
    make_root,
    need_root_and_setpriv,
    second_user,
    snapshot,
    tree,
)

# pytest fixtures shared with the other fixer tests
registered = fixtures_fix.registered
sandbox = fixtures_fix.sandbox


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _planted_journal(run_dir, canary_rel: str, marker: str, fmt: int) -> None:
    """A journal as an attacker would write it: targets outside the root, a shell command as
    the undo of a step, a setuid backup."""
    (run_dir / "backups").mkdir(parents=True)
    evil = b"#!/bin/sh\nid > /tmp/owned\n"
    (run_dir / "backups" / "001").write_bytes(evil)
    data = {
        "format": fmt, "run_id": run_dir.name, "status": "applied", "fixes": ["scripts"],
        "root": {"live": True, "path": "/"}, "mounts": [], "timestamp": "2025-01-01T00:00:00",
        "actions": [
            {"n": 1, "kind": "write", "fix": "scripts", "path": "/etc/x", "target": canary_rel,
             "describe": "harmless", "reversible": True, "outcome": "ok",
             "before": {"kind": "file", "mode": 0o4777, "uid": 0, "gid": 0, "sha256": sha(evil),
                        "size": len(evil), "backup": "001"},
             "after_sha256": sha(b"canary\n")},
            {"n": 2, "kind": "chmod", "fix": "scripts", "target": canary_rel, "mode": 0o600,
             "reversible": True, "outcome": "ok",
             "before": {"kind": "file", "mode": 0o777, "uid": 0, "gid": 0}},
            {"n": 3, "kind": "run", "fix": "scripts", "argv": ["true"], "reversible": True,
             "outcome": "ok", "undo_argv": ["sh", "-c", f"touch {marker}"],
             "undo": {"cmd": "sh", "argv": ["-c", f"touch {marker}"]}},
            {"n": 4, "kind": "delete", "fix": "scripts", "target": canary_rel,
             "reversible": True, "outcome": "ok", "before": {"kind": "absent"}},
        ]}
    (run_dir / "journal.json").write_text(json.dumps(data))


def test_item1_a_journal_planted_on_the_disk_is_never_replayed(tmp_path, registered):
    """undo --root R with R/var/lib/azbdiag/journal/<run>/journal.json written by whoever
    prepared the disk: nothing outside the root (or inside) changes, no command runs."""
    root = make_root(tmp_path)
    canary = tmp_path / "canary"
    canary.write_bytes(b"canary\n")
    os.chmod(canary, 0o640)
    before = snapshot(canary)
    marker = tmp_path / "owned"
    for fmt, run in ((1, "20250101T000000Z"), (2, "20250101T000001Z")):
        _planted_journal(root / "var/lib/azbdiag/journal" / run, "/../canary", marker, fmt)
    inside = tree(root)
    for args in (["undo", "--yes", "--root", root], ["undo", "--yes", "--root", root,
                                                     "20250101T000001Z"],
                 ["undo", "--dry-run", "--root", root], ["undo", "--list", "--root", root]):
        res = invoke(*args)
        assert "internal error" not in res.output, res.output
        assert "harmless" not in res.output and "touch" not in res.output, res.output
    res = invoke("undo", "--list", "--root", root)
    assert res.exit_code == 0 and "is not read" in res.output, res.output
    assert snapshot(canary) == before
    assert not marker.exists()
    assert tree(root) == inside


def test_item1_a_tampered_local_journal_is_refused_field_by_field(tmp_path, registered):
    """Even in this machine's own journal, a target that climbs out of the root or a command
    azbdiag did not write makes the run unreadable: nothing is replayed."""
    root = make_root(tmp_path)
    assert invoke("fix", "--scripts", "--yes", "--root", root).exit_code == 0
    (run,) = os.listdir(registered["state"] / "journal")
    path = registered["state"] / "journal" / run / "journal.json"
    good = json.loads(path.read_text())
    canary = tmp_path / "canary"
    canary.write_bytes(b"good\n")
    before = snapshot(canary)
    marker = tmp_path / "owned"
    bad_records = [
        {"target": "/../canary"},
        {"target": "/etc/../../canary"},
        {"kind": "run", "argv": ["true"], "undo": {"cmd": "sh", "argv": ["-c", f"touch {marker}"]}},
        {"kind": "run", "argv": ["true"], "reversible": True, "undo": None,
         "undo_argv": ["sh", "-c", f"touch {marker}"]},
        {"kind": "run", "argv": ["true"], "undo": {"cmd": "systemctl", "verb": "stop",
                                                   "unit": "x; touch " + str(marker)}},
        {"before": {"kind": "file", "mode": 0o4777, "uid": 0, "gid": 0, "sha256": "0" * 64,
                    "backup": "../../../etc/shadow"}},
    ]
    for change in bad_records:
        data = json.loads(json.dumps(good))
        data["actions"][0].update(change)
        path.write_text(json.dumps(data))
        res = invoke("undo", "--yes", "--root", root, run)
        assert res.exit_code == 3, (change, res.output)
        assert "unexpected content" in res.output and "internal error" not in res.output
        listed = invoke("undo", "--list", "--root", root)
        assert "unreadable journal" in listed.output, listed.output
    assert snapshot(canary) == before and not marker.exists()
    assert (root / "etc/fixertest.conf").read_bytes() == b"good\n"


def test_item2_undo_does_not_follow_a_folder_swapped_for_a_symlink(sandbox, registered):
    """After fix --scripts --root R, a user who owns R/etc/azure swaps R/etc/azure/scripts for
    a symlink to a root-only folder; root's undo must not chown or chmod what it points to."""
    need_root_and_setpriv()
    uid, gid = second_user()
    import pathlib

    base = pathlib.Path(sandbox)
    root = make_root(base)
    azure = root / "etc/azure"
    (azure / "scripts").mkdir(parents=True)
    script = azure / "scripts" / "pre.sh"
    script.write_bytes(b"#!/bin/sh\n")
    os.chmod(script, 0o777)
    for p in (azure, azure / "scripts", script):
        os.chown(p, uid, gid)
    secret = base / "secret"
    secret.mkdir(mode=0o755)
    canary = secret / "pre.sh"
    canary.write_bytes(b"root only\n")
    os.chmod(canary, 0o600)
    before = snapshot(canary)
    registered["actions"] = lambda ctx, f: [
        Chown("/etc/azure/scripts/pre.sh", 0, 0, why="root owns it"),
        Chmod("/etc/azure/scripts/pre.sh", 0o700, why="only root runs it")]
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    assert res.exit_code in (0, 1), res.output
    assert snapshot(script)[1:] == (0o700, 0, 0)
    for link in (str(secret), "../../../secret"):      # absolute, and relative out of the root
        as_user(uid, gid, "sh", "-c", f"rm -rf {azure}/scripts.old; mv {azure}/scripts "
                                      f"{azure}/scripts.old && ln -s {link} {azure}/scripts")
        res = invoke("undo", "--yes", "--root", root)
        assert res.exit_code == 1, res.output
        assert "symlink" in res.output and "internal error" not in res.output
        assert snapshot(canary) == before
        as_user(uid, gid, "sh", "-c", f"rm {azure}/scripts && mv {azure}/scripts.old "
                                      f"{azure}/scripts")
    # Put back as the fix left it, undo does its job.
    res = invoke("undo", "--yes", "--root", root)
    assert res.exit_code == 0, res.output
    assert snapshot(script)[1:] == (0o777, uid, gid)
    assert snapshot(canary) == before


def test_item3_output_lands_in_the_folder_it_opened(sandbox, monkeypatch):
    """check --output D/r.json with D owned by another user, who swaps D for a symlink to a
    root-only folder while azbdiag writes: the report goes into the folder azbdiag opened, and
    nothing is written, renamed or followed in the symlink's target."""
    need_root_and_setpriv()
    uid, gid = second_user()
    import pathlib

    base = pathlib.Path(sandbox)
    public = base / "tmp"              # like /tmp: anyone can make a folder there
    public.mkdir()
    os.chmod(public, 0o1777)
    folder = public / "reports"
    as_user(uid, gid, "mkdir", folder)
    victim = base / "victim"
    victim.mkdir(mode=0o700)
    (victim / "r.json").write_bytes(b"root's file\n")
    before = tree(victim)
    real_fsync = os.fsync
    swapped = []

    def swap_then_fsync(fd):
        if not swapped:
            swapped.append(1)
            as_user(uid, gid, "sh", "-c", f"mv {folder} {folder}.moved && ln -s {victim} {folder}")
        return real_fsync(fd)

    monkeypatch.setattr(F.os, "fsync", swap_then_fsync)
    render.write_output("{}\n", str(folder / "r.json"))
    monkeypatch.setattr(F.os, "fsync", real_fsync)
    assert swapped
    assert tree(victim) == before
    written = pathlib.Path(f"{folder}.moved") / "r.json"
    assert written.read_bytes() == b"{}\n"
    assert snapshot(written)[1:] == (0o600, 0, 0)
    assert [n for n in os.listdir(f"{folder}.moved") if n.startswith(".azbdiag-")] == []


def test_item3_a_symlink_or_a_file_at_the_output_name_is_replaced_not_followed(sandbox):
    need_root_and_setpriv()
    uid, gid = second_user()
    import pathlib

    base = pathlib.Path(sandbox)
    folder = base / "reports"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o1777)
    secret = base / "secret"
    secret.write_bytes(b"root only\n")
    os.chmod(secret, 0o600)
    before = snapshot(secret)
    as_user(uid, gid, "ln", "-s", secret, folder / "r.json")
    res = invoke("check", "--root", base, "--only", "vmbackup_conf.parses", "--format", "json",
                 "--output", folder / "r.json")
    assert res.exit_code in (0, 1), res.output
    assert snapshot(secret) == before
    st = os.lstat(folder / "r.json")
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    json.loads((folder / "r.json").read_text())


def test_item4_fix_under_a_root_writes_nothing_on_the_disk_but_its_repair(tmp_path, registered,
                                                                          monkeypatch):
    """R/var/lib/azbdiag/journal -> /elsewhere (absolute and relative): fix --root R never
    writes its journal, backups or lock there, nor anywhere on the disk: they stay in this
    machine's state directory (here the default location, moved under tmp_path)."""
    from azbdiag import state
    from azbdiag.fix import journal

    machine = tmp_path / "machine"
    monkeypatch.delenv(state.STATE_ENV)
    monkeypatch.setattr(state, "STATE_DIR", str(machine / "var/lib/azbdiag"))
    monkeypatch.setattr(journal, "LIVE_LOCK", str(machine / "run/azbdiag/fix.lock"))
    root = make_root(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "var/lib/azbdiag").mkdir(parents=True)
    os.symlink(str(elsewhere), root / "var/lib/azbdiag/journal")
    os.symlink("../../../../elsewhere", root / "var/lib/azbdiag/fix.lock")
    disk = tree(root)
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    assert res.exit_code == 0, res.output
    assert os.listdir(elsewhere) == []
    changed = {p for p in set(tree(root)) | set(disk) if tree(root).get(p) != disk.get(p)}
    assert changed == {str(root / "etc/fixertest.conf")}
    assert len(os.listdir(machine / "var/lib/azbdiag/journal")) == 1
    assert invoke("undo", "--yes", "--root", root).exit_code == 0
    assert os.listdir(elsewhere) == [] and tree(root) == disk
