"""`azbdiag fix --vmbackup-conf`: the repair() rewrite and the planner, end to end on real
files under tmp_path (the CLI runs the fixer, its journal and undo for real)."""

from __future__ import annotations

import hashlib
import os
import re
import stat

import pytest
from conftest import make_host, run_rule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.model import Status
from azbdiag.parsers import vmbackup_conf as vc
from azbdiag.parsers import vmbackup_conf_repair
from azbdiag.state import STATE_ENV

P = "/etc/azure/vmbackup.conf"
runner = CliRunner()

# name -> broken file; each one makes vmbackup_conf.parses or .isanysnapshotfailed fail/warn.
BROKEN = {
    "bom": b"\xef\xbb\xbf[SnapshotThread]\n# keep me\ntimeout = 90\n",
    "utf16": "[SnapshotThread]\r\n; a comment\r\nMountsToSkip = /data\r\n".encode("utf-16"),
    "non_ascii": "[SnapshotThread]\n# Größe – “quoted”\nMountsToSkip = /dätä\ntimeout = 90\n"
                 .encode(),
    "latin1": b"[SnapshotThread]\n# caf\xe9\ntimeout = 90\n",
    "duplicate_key": b"[SnapshotThread]\ntimeout = 60\nMountsToSkip = /data\nTimeout = 120\n",
    "missing_header": b"# settings\ntimeout = 90\nMountsToSkip = /data\n",
    "lower_header": b"[snapshotthread]\ntimeout = 90\n[monitor]\nRun = False\n",
    "spaced_header": b"[Snapshot Thread]\ntimeout = 90\n",
    "indented": b"[SnapshotThread]\ntimeout = 90\n  MountsToSkip = /data\n\tseqsnapshot = 2\n",
    "junk_line": b"[SnapshotThread]\ntimeout = 90\nthis is not a setting\n",
    "percent": b"[SnapshotThread]\nMountsToSkip = /mnt/100%\ntimeout = 90\n",
    "duplicate_section": b"[SnapshotThread]\ntimeout = 90\n[Monitor]\nRun = False\n"
                         b"[SnapshotThread]\nseqsnapshot = 2\n",
    "isanysnapshotfailed": b"[SnapshotThread]\n# from 2018\nisanysnapshotfailed = True\n"
                           b"timeout = 90\n",
    "everything": "\ufeff  timeout = 60\nisanysnapshotfailed: TRUE\n[snapshotthread]\n"
                  "Timeout = 90 \n# noté\nfsfreeze: True\n".encode("utf-8"),
    "crlf_isany": b"[SnapshotThread]\r\nIsAnySnapshotFailed=True\r\ntimeout=90\r\n",
    "empty": b"",
    "comments_only": b"# nothing here yet\n",
    "binary": b"\x00\x01\x02[SnapshotThread]\x00\ntimeout = 9\x000\n",
}


def _comments(raw_text):
    return [ln.strip() for ln in raw_text.splitlines() if ln.strip().startswith(("#", ";"))]


def _decoded(raw):
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_repair_gives_a_clean_file(name, fs):
    raw = BROKEN[name]
    new, changes = vmbackup_conf_repair.repair(raw)
    assert changes and new != raw
    assert all(isinstance(c, str) and c for c in changes)
    assert new.decode("ascii")           # plain ASCII
    conf = vc.parse(new)
    assert vc.is_clean(conf), (name, new)
    host = make_host(fs, {P: new}, live=False)
    for rule_id in ("parses", "isanysnapshotfailed", "keys", "integer_keys", "mounts_to_skip"):
        res = run_rule(host, "vmbackup_conf." + rule_id)
        if name == "everything" and rule_id == "keys":
            # fsfreeze has no effect: a finding for the admin to decide, not for the repair
            assert res.status == Status.WARN and "fsfreeze" in res.evidence[0]
        else:
            assert res.status == Status.OK, (rule_id, res.summary, res.evidence)
    # nothing more to do on the result
    assert vmbackup_conf_repair.repair(new) == (new, [])


@pytest.mark.parametrize("name", ["bom", "utf16", "duplicate_key", "missing_header", "lower_header",
                                  "indented", "junk_line", "percent", "duplicate_section",
                                  "isanysnapshotfailed", "crlf_isany"])
def test_repair_keeps_other_keys_and_comments(name):
    raw = BROKEN[name]
    new, _ = vmbackup_conf_repair.repair(raw)
    text = new.decode("ascii")
    for comment in _comments(_decoded(raw)):
        assert comment in text
    after = vc.parse(new).sections
    checked = set()
    # every key the original file names is still set (last value for duplicates)
    for ln in vc.scan_lines(_decoded(raw).replace("\r\n", "\n")):
        m = re.match(r"\s*([^=:\s][^=:]*?)\s*[=:]", ln.text)
        if ln.kind in ("option", "continuation") and m:
            key = m.group(1).lower()
            assert any(key in keys for keys in after.values()), (key, text)
            checked.add(key)
    assert checked


def test_repair_specifics():
    new, changes = vmbackup_conf_repair.repair(BROKEN["duplicate_key"])
    conf = vc.parse(new)
    assert conf.snapshot_thread["timeout"] == "120"        # the last value wins
    assert b"# duplicate, replaced below: timeout = 60" in new
    assert any("line 2" in c and "kept the later line 4" in c for c in changes)

    new, changes = vmbackup_conf_repair.repair(BROKEN["non_ascii"])
    assert vc.parse(new).snapshot_thread["mountstoskip"] == "/data"
    assert b'# Grosse - "quoted"' in new
    assert any(c.startswith("line 2: transliterated") for c in changes)

    new, changes = vmbackup_conf_repair.repair(BROKEN["percent"])
    assert vc.parse(new).value("MountsToSkip") == "/mnt/100%"

    new, changes = vmbackup_conf_repair.repair(BROKEN["indented"])
    conf = vc.parse(new)
    assert conf.snapshot_thread == {"timeout": "90", "mountstoskip": "/data", "seqsnapshot": "2"}

    new, changes = vmbackup_conf_repair.repair(BROKEN["crlf_isany"])
    assert new == b"[SnapshotThread]\r\nIsAnySnapshotFailed=False\r\ntimeout=90\r\n"
    assert changes == ["line 2: set isanysnapshotfailed to False (was 'True')"]

    new, changes = vmbackup_conf_repair.repair(BROKEN["missing_header"])
    assert new == b"# settings\n[SnapshotThread]\ntimeout = 90\nMountsToSkip = /data\n"
    assert changes == ["added the missing [SnapshotThread] header before line 2"]


def test_repair_leaves_a_good_file_alone():
    good = b"# ok\n[SnapshotThread]\ntimeout = 90\nisanysnapshotfailed = False\n[Monitor]\nRun=False"
    assert vmbackup_conf_repair.repair(good) == (good, [])
    assert vmbackup_conf_repair.repair(vc.parse(good)) == (good, [])


FRAGMENTS = st.sampled_from([
    "[SnapshotThread]", "[snapshotthread]", "[Monitor]", "[DEFAULT]", "[x]", "[]", "timeout = 60",
    "Timeout: 70", "isanysnapshotfailed = True", "  MountsToSkip=/x", "\tfoo", "junk", "a=100%",
    "a=%(b)s", "# c", "; c", "", "  ", "\ufeff", "ä", "=x", ":", "[a] = 1", "k = v\r", "\x00",
    "\x0c", "\u2028", "%", "[SnapshotThread", "key", "isanysnapshotfailed: true"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=10),
       st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_repair_fuzz_structured(parts, newline, bom):
    raw = newline.join(parts).encode("utf-8", errors="replace")
    if bom:
        raw = b"\xef\xbb\xbf" + raw
    new, changes = vmbackup_conf_repair.repair(raw)
    conf = vc.parse(new)
    assert vc.is_clean(conf) or (new == raw and not changes and vc.is_clean(vc.parse(raw)))
    assert (conf.snapshot_thread.get("isanysnapshotfailed") or "").strip().lower() != "true"
    assert vmbackup_conf_repair.repair(new) == (new, [])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_repair_fuzz_bytes(raw):
    new, changes = vmbackup_conf_repair.repair(raw)
    assert vc.is_clean(vc.parse(new))
    assert (new == raw) == (changes == [])


# ---- the fix, end to end through the CLI ------------------------------------------------------

def tree(root):
    """Every path under root -> (kind, mode, uid, gid, sha256 or link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            s = os.lstat(p)
            meta = (stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid)
            if stat.S_ISLNK(s.st_mode):
                out[p] = ("link", os.readlink(p), s.st_uid, s.st_gid)
            elif stat.S_ISREG(s.st_mode):
                with open(p, "rb") as fh:
                    out[p] = ("file", *meta, hashlib.sha256(fh.read()).hexdigest())
            else:
                out[p] = ("dir", *meta)
    return out


def make_root(tmp_path, content, mode=0o640):
    root = tmp_path / "root"
    (root / "etc" / "azure").mkdir(parents=True)
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "etc" / "fstab").write_text("/dev/sda1 / ext4 defaults 0 1\n")
    conf = root / "etc" / "azure" / "vmbackup.conf"
    conf.write_bytes(content)
    os.chmod(conf, mode)
    if os.geteuid() == 0:
        os.chown(conf, 1234, 4321)      # an owner the fix must keep
    return str(root), str(conf)


@pytest.fixture(autouse=True)
def state_dir(monkeypatch, tmp_path):
    """The journal goes next to the root, not into it, so the whole root can be compared."""
    path = tmp_path / "state"
    monkeypatch.setenv(STATE_ENV, str(path))
    return path


def fix_cli(root, *extra):
    return runner.invoke(app, ["fix", "--vmbackup-conf", "--root", root, *extra])


@pytest.mark.parametrize("name", ["everything", "bom", "isanysnapshotfailed", "duplicate_section"])
def test_fix_then_undo_restores_the_tree(tmp_path, name, state_dir):
    root, conf = make_root(tmp_path, BROKEN[name])
    before = tree(root)
    st_before = os.stat(conf)
    res = fix_cli(root, "--yes")
    assert res.exit_code == 0, res.output
    assert "vmbackup_conf.parses" in res.output and "-> ok" in res.output
    with open(conf, "rb") as fh:
        new = fh.read()
    assert new == vmbackup_conf_repair.repair(BROKEN[name])[0] and vc.is_clean(vc.parse(new))
    st_after = os.stat(conf)
    assert stat.S_IMODE(st_after.st_mode) == 0o640
    assert (st_after.st_uid, st_after.st_gid) == (st_before.st_uid, st_before.st_gid)
    assert os.listdir(state_dir / "journal")
    res = runner.invoke(app, ["undo", "--root", root, "--yes"])
    assert res.exit_code == 0, res.output
    assert tree(root) == before


def test_fix_twice_changes_nothing_the_second_time(tmp_path):
    root, conf = make_root(tmp_path, BROKEN["everything"])
    assert fix_cli(root, "--yes").exit_code == 0
    after_first = tree(root)
    res = fix_cli(root, "--yes")
    assert res.exit_code == 0, res.output
    assert "--vmbackup-conf: nothing to do" in res.output
    assert tree(root) == after_first


def test_fix_with_ok_checks_plans_nothing(tmp_path):
    root, _ = make_root(tmp_path, b"[SnapshotThread]\ntimeout = 90\nisanysnapshotfailed = False\n")
    before = tree(root)
    res = fix_cli(root, "--yes")
    assert res.exit_code == 0, res.output
    assert "nothing to do" in res.output and "Plan:" not in res.output
    assert tree(root) == before


def test_fix_without_a_file_plans_nothing(tmp_path):
    root, conf = make_root(tmp_path, b"")
    os.unlink(conf)
    before = tree(root)
    res = fix_cli(root, "--yes")
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert tree(root) == before


def test_dry_run_shows_the_plan_and_why(tmp_path):
    root, _ = make_root(tmp_path, BROKEN["duplicate_key"] + b"isanysnapshotfailed = True\n")
    before = tree(root)
    res = fix_cli(root, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "write /etc/azure/vmbackup.conf" in res.output
    assert "kept the later line 4" in res.output
    assert "set isanysnapshotfailed to False" in res.output
    assert "+# duplicate, replaced below: timeout = 60" in res.output
    assert tree(root) == before


def test_oversized_file_is_refused(tmp_path):
    root, _ = make_root(tmp_path, b"[SnapshotThread]\ntimeout = 60\ntimeout = 70\n"
                        + b"# padding\n" * 110000)
    before = tree(root)
    res = fix_cli(root, "--yes")
    assert res.exit_code == 3
    assert "refused --vmbackup-conf" in res.output and "by hand" in res.output
    assert tree(root) == before
