"""Issue 11 items 14-18, 20, 21 and the fix bits of issue 12: the fixer as a write-ahead log,
its journal on this machine, writes through one primitive, plans and journals redacted, and a
fix that says what it did not do."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.fix import Chmod, RunCommand, WriteFile, steps
from azbdiag.fix import files as F
from azbdiag.fix.journal import Lock, lock_path
from azbdiag.fix.run import run_fix
from azbdiag.host import Host, Unreadable
from azbdiag.report import run_check
from tests import fixtures_fix
from tests.fixtures_fix import (
    CONF,
    make_root,
    need_root_and_setpriv,
    second_user,
    tree,
)

# pytest fixtures shared with the other fixer tests
registered = fixtures_fix.registered
sandbox = fixtures_fix.sandbox


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def journal_of(state_dir) -> dict:
    (run,) = os.listdir(state_dir / "journal")
    return json.loads((state_dir / "journal" / run / "journal.json").read_text())


def no_internal_error(res):
    assert "internal error" not in res.output and "Traceback" not in res.output, res.output


# ---- item 14: lock, then plan, then confirm; unchanged since the plan -------------------------

def test_item14_the_plan_is_made_under_the_lock_and_an_edit_while_asking_is_kept(
        tmp_path, registered):
    root = make_root(tmp_path)
    seen = {}

    def planner(ctx, findings):
        other = Lock(lock_path())
        seen["locked by the fixer"] = not other.acquire()
        other.release()
        return [WriteFile(CONF, b"good\n")]

    def confirm(question):
        (root / "etc/fixertest.conf").write_bytes(b"edited by the admin meanwhile\n")
        return True

    registered["actions"] = planner
    msgs = []
    code = run_fix(Host(str(root)), ["scripts"], check=run_check, interactive=True,
                   confirm=confirm, out=msgs.append, err=msgs.append)
    assert seen["locked by the fixer"]
    assert code == 1, msgs
    assert (root / "etc/fixertest.conf").read_bytes() == b"edited by the admin meanwhile\n"
    assert any("changed since the plan" in m for m in msgs), msgs
    assert journal_of(registered["state"])["status"] == "failed"


# ---- item 15: each step journaled before it acts ---------------------------------------------

def test_item15_a_step_is_journaled_pending_with_its_backup_before_it_acts(tmp_path, registered,
                                                                          monkeypatch):
    root = make_root(tmp_path)
    seen = []
    real = F.write_at

    def spy(dirfd, name, *args, **kw):
        if name == "fixertest.conf":
            data = journal_of(registered["state"])
            rec = data["actions"][0]
            seen.append((data["status"], rec["outcome"], rec["before"]["sha256"],
                         rec["tmp"]))
        return real(dirfd, name, *args, **kw)

    monkeypatch.setattr(F, "write_at", spy)
    assert invoke("fix", "--scripts", "--yes", "--root", root).exit_code == 0
    import hashlib

    ((status, outcome, before, tmp),) = seen
    assert (status, outcome) == ("applying", "pending")
    assert before == hashlib.sha256(b"bad\n").hexdigest() and tmp.startswith(".azbdiag-")
    data = journal_of(registered["state"])
    assert data["actions"][0]["outcome"] == "ok" and data["status"] == "applied"


# ---- item 16: disk full ----------------------------------------------------------------------

def test_item16_disk_full_on_the_target_is_one_line_and_a_journal_that_says_so(
        tmp_path, registered, monkeypatch):
    root = make_root(tmp_path)
    real = F.write_at

    def full(dirfd, name, *args, **kw):
        if name == "fixertest.conf":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(dirfd, name, *args, **kw)

    monkeypatch.setattr(F, "write_at", full)
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    no_internal_error(res)
    assert res.exit_code == 1 and "No space left on device" in res.output
    data = journal_of(registered["state"])
    assert data["status"] == "failed"
    assert data["actions"][0]["outcome"] == "failed"
    assert "No space left" in data["actions"][0]["error"]
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"
    assert [n for n in os.listdir(root / "etc") if n.startswith(".azbdiag-")] == []


def test_item16_a_full_journal_disk_stops_before_anything_changes(tmp_path, registered,
                                                                  monkeypatch):
    root = make_root(tmp_path)
    before = tree(root)
    real = F.write_at

    def full(dirfd, name, *args, **kw):
        if name == "journal.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(dirfd, name, *args, **kw)

    monkeypatch.setattr(F, "write_at", full)
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    no_internal_error(res)
    assert res.exit_code == 3 and "cannot write the journal: No space left" in res.output
    assert "nothing was changed" in res.output
    assert tree(root) == before


def test_item16_when_the_journal_disk_fills_up_the_reserve_lets_it_say_what_happened(
        tmp_path, registered, monkeypatch):
    """The reserve file is given up so the journal can still record the failed step."""
    root = make_root(tmp_path)
    real = F.write_at
    state = {"full": False}

    def filling(dirfd, name, *args, **kw):
        if name == "fixertest.conf":
            state["full"] = True
            raise OSError(errno.ENOSPC, "No space left on device")
        if state["full"] and name == "journal.json":
            try:
                os.stat("reserve", dir_fd=dirfd)
                raise OSError(errno.ENOSPC, "No space left on device")
            except FileNotFoundError:
                pass
        return real(dirfd, name, *args, **kw)

    monkeypatch.setattr(F, "write_at", filling)
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    no_internal_error(res)
    assert res.exit_code == 1
    data = journal_of(registered["state"])
    assert data["status"] == "failed" and data["actions"][0]["outcome"] == "failed"
    (run,) = os.listdir(registered["state"] / "journal")
    assert not (registered["state"] / "journal" / run / "reserve").exists()


# ---- item 17: chmod and chown record modes and owners; undo is idempotent ---------------------

def test_item17_chmod_of_a_2_gb_file_keeps_no_copy(tmp_path, registered):
    root = make_root(tmp_path)
    big = root / "etc" / "big.sh"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024 ** 3)               # sparse: 2 GiB that costs no disk
    os.chmod(big, 0o777)
    registered["actions"] = lambda ctx, f: [Chmod("/etc/big.sh", 0o700, why="private"),
                                            WriteFile(CONF, b"good\n")]
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(big.stat().st_mode) == 0o700
    data = journal_of(registered["state"])
    rec = data["actions"][0]
    assert rec["kind"] == "chmod" and rec["before"]["mode"] == 0o777
    assert "backup" not in rec["before"] and "sha256" not in rec["before"]
    (run,) = os.listdir(registered["state"] / "journal")
    assert os.listdir(registered["state"] / "journal" / run / "backups") == ["002"]
    assert invoke("undo", "--yes", "--root", root).exit_code == 0
    assert stat.S_IMODE(big.stat().st_mode) == 0o777


def test_item17_undo_again_after_an_interrupted_undo_finishes_without_false_alarms(
        tmp_path, registered, monkeypatch):
    root = make_root(tmp_path)
    (root / "etc/other").write_bytes(b"other\n")
    registered["actions"] = lambda ctx, f: [WriteFile("/etc/other", b"new other\n"),
                                            WriteFile(CONF, b"good\n")]
    assert invoke("fix", "--scripts", "--yes", "--root", root).exit_code == 0
    real = steps.undo
    calls = {"n": 0}

    def interrupted(host, journal, rec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(host, journal, rec)

    monkeypatch.setattr(steps, "undo", interrupted)
    res = invoke("undo", "--yes", "--root", root)
    assert res.exit_code == 130
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"          # newest step first
    monkeypatch.setattr(steps, "undo", real)
    res = invoke("undo", "--yes", "--root", root)
    assert res.exit_code == 0, res.output
    assert "changed since" not in res.output
    assert (root / "etc/other").read_bytes() == b"other\n"
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"
    assert journal_of(registered["state"])["status"] == "undone"


# ---- item 18: no SAS signature in plans or journals -------------------------------------------

SIG = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
SAS_LINE = (f"# logs go to https://acct.blob.core.windows.net/backup/x.log?sv=2021-06-08&ss=b"
            f"&sig={SIG}&se=2030-01-01\n")


def test_item18_vmbackup_conf_plan_dry_run_and_journal_are_redacted(tmp_path):
    root = tmp_path / "root"
    (root / "etc/azure").mkdir(parents=True)
    conf = root / "etc/azure/vmbackup.conf"
    conf.write_bytes(b"\xef\xbb\xbf[SnapshotThread]\n" + SAS_LINE.encode()
                     + f"why = sig={SIG}\n".encode() + b"isanysnapshotfailed = True\n")
    dry = invoke("fix", "--vmbackup-conf", "--dry-run", "--root", root)
    assert dry.exit_code == 0 and "Plan:" in dry.output, dry.output
    res = invoke("fix", "--vmbackup-conf", "--yes", "--root", root)
    assert res.exit_code in (0, 1), res.output
    state = os.environ["AZBDIAG_STATE_DIR"]
    journals = []
    for dirpath, _dirs, files in os.walk(os.path.join(state, "journal")):
        journals += [open(os.path.join(dirpath, f)).read() for f in files if f == "journal.json"]
    assert journals
    for text in [dry.output, res.output] + journals:
        assert SIG not in text and "c2VjcmV0" not in text
    assert "<redacted>" in dry.output
    assert SIG.encode() in conf.read_bytes()          # the file itself keeps its content
    assert invoke("undo", "--yes", "--root", root).exit_code == 0
    assert conf.read_bytes().startswith(b"\xef\xbb\xbf")


def test_item18_waagent_conf_diff_is_redacted(tmp_path):
    from tests.test_agent_fix import build_root

    root = build_root(tmp_path)
    with open(root / "etc/waagent.conf", "ab") as fh:
        fh.write(f"HttpProxy.Host=proxy\n# https://a.blob.core.windows.net/c?sig={SIG}\n"
                 f"Extensions.Enabled=n\n".encode())
    res = invoke("fix", "--agent", "--dry-run", "--root", root)
    assert "Plan:" in res.output, res.output
    assert SIG not in res.output and "c?<redacted>" in res.output, res.output


def test_item18_netplan_diff_and_journal_are_redacted(tmp_path, monkeypatch):
    from test_network import STATIC_NETPLAN

    monkeypatch.setenv("AZBDIAG_STATE_DIR", str(tmp_path / "state"))
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    text = STATIC_NETPLAN.replace("      dhcp4: no", f"      # sas: sig={SIG}\n      dhcp4: no")
    (root / "etc/netplan/50-static.yaml").write_text(text)
    res = invoke("fix", "--dhcp", "--yes", "--root", root)
    assert "Plan:" in res.output and "dhcp4: true" in res.output, res.output
    journal = journal_of(tmp_path / "state")
    assert SIG not in res.output and SIG not in json.dumps(journal)
    assert "sig=<redacted>" in res.output


# ---- item 20: a journal that is a file, garbage or nested too deep ------------------------------

@pytest.mark.parametrize("damage", ["file", "garbage", "nested", "list", "huge"])
def test_item20_a_broken_journal_is_one_line(tmp_path, registered, damage):
    root = make_root(tmp_path)
    state = registered["state"]
    if damage == "file":
        state.mkdir()
        (state / "journal").write_text("not a folder\n")
    else:
        run = state / "journal" / "20250101T000000Z"
        run.mkdir(parents=True)
        os.chmod(state, 0o700)
        os.chmod(state / "journal", 0o700)
        body = {"garbage": b"\x00\xffnot json{",
                "nested": b"[" * 200000 + b"]" * 200000,
                "list": b"[]",
                "huge": b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'}[damage]
        (run / "journal.json").write_bytes(body)
    for args in (["undo", "--list", "--root", root], ["undo", "--yes", "--root", root],
                 ["undo", "--yes", "--root", root, "20250101T000000Z"],
                 ["fix", "--scripts", "--yes", "--root", root]):
        res = invoke(*args)
        no_internal_error(res)
        if damage == "file" or args[1] != "--list":
            assert res.exit_code in (0, 3), (args, res.output)
    listed = invoke("undo", "--list", "--root", root)
    if damage == "file":
        assert listed.exit_code == 3 and "not a folder" in listed.output
        assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"    # no fix without journal
    else:
        assert "unreadable journal" in listed.output, listed.output
        res = invoke("undo", "--yes", "--root", root, "20250101T000000Z")
        assert res.exit_code == 3 and len(res.output.strip().splitlines()) == 1, res.output


def test_item20_journal_nesting_is_measured_without_parsing():
    from azbdiag.fix.journal import JournalError, json_depth, parse_journal

    assert json_depth(b'{"a": [1, {"b": "[[[["}]}') == 3
    with pytest.raises(JournalError, match="nested deeper"):
        parse_journal(b"[" * 100 + b"]" * 100, "20250101T000000Z")


# ---- item 21: modes whatever the umask --------------------------------------------------------

def test_item21_outputs_0600_and_folders_0700_under_umask_0(tmp_path, registered):
    root = make_root(tmp_path)
    old = os.umask(0)
    try:
        res = invoke("check", "--root", root, "--only", "fixertest", "--format", "json",
                     "--output", tmp_path / "report.json")
        assert res.exit_code in (0, 1), res.output
        res = invoke("fix", "--scripts", "--yes", "--root", root)
        assert res.exit_code == 0, res.output
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "report.json").st_mode) == 0o600
    state = registered["state"]
    (run,) = os.listdir(state / "journal")
    for d in (state, state / "journal", state / "journal" / run,
              state / "journal" / run / "backups"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    for f in (state / "journal" / run / "journal.json",
              state / "journal" / run / "backups" / "001", state / "fix.lock"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    assert stat.S_IMODE(os.stat(root / "etc/fixertest.conf").st_mode) == 0o640


# ---- issue 12: --output errors are one line; fix says what it leaves ---------------------------

@pytest.mark.parametrize("where,code,says", [
    ("/proc/x/report.json", 2, "does not exist"),
    ("{tmp}/missing/report.json", 2, "does not exist"),
    ("{tmp}", 2, "is a folder"),
    ("{tmp}/file/report.json", 2, "is not a folder"),
    ("/proc/self/report.json", 3, "cannot write"),
])
def test_output_errors_are_one_line_and_create_no_folder(tmp_path, where, code, says):
    (tmp_path / "file").write_text("x")
    path = where.format(tmp=tmp_path)
    res = invoke("check", "--root", tmp_path, "--only", "vmbackup_conf.parses", "--output", path)
    no_internal_error(res)
    assert res.exit_code == code and says in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()


def test_a_fail_the_fix_cannot_repair_exits_1_and_says_why(tmp_path, registered):
    root = make_root(tmp_path)
    registered["actions"] = lambda ctx, f: []
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    assert res.exit_code == 1, res.output
    assert "fixertest.conf (fail: not good): the fix found nothing it can change" in res.output


def test_dhcp_says_why_it_plans_nothing_and_check_does_not_advise_it(tmp_path):
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
    res = invoke("check", "--root", root, "--only", "dhcp.config")
    assert "WARN" in res.output and "fix --dhcp" not in res.output.split("remedy:")[0]
    assert "fix: sudo azbdiag fix --dhcp" not in res.output
    doc = json.loads(invoke("check", "--root", root, "--only", "dhcp.config", "--format",
                            "json").output)
    assert doc["results"][0]["fix"] is None
    res = invoke("fix", "--dhcp", "--yes", "--root", root)
    assert res.exit_code == 0 and "nothing to do" not in res.output
    assert "dhcp.config (warn) is not repaired by this fix: no configuration file names eth0" \
        in res.output


def test_an_unreadable_file_in_a_planner_is_a_refusal(tmp_path, registered):
    root = make_root(tmp_path)

    def planner(ctx, findings):
        raise Unreadable("/etc/fixertest.conf", "permission denied", denied=True)

    registered["actions"] = planner
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    no_internal_error(res)
    assert res.exit_code == 3 and "refused --scripts: cannot read /etc/fixertest.conf" in res.output


def test_commands_are_refused_for_an_offline_root(tmp_path, registered):
    root = make_root(tmp_path)
    registered["actions"] = lambda ctx, f: [RunCommand(["true"]), WriteFile(CONF, b"good\n")]
    res = invoke("fix", "--scripts", "--yes", "--root", root)
    assert res.exit_code == 3 and "would run on this machine" in res.output
    assert (root / "etc/fixertest.conf").read_bytes() == b"bad\n"


def test_undo_list_as_another_user_says_the_journal_is_unreadable(sandbox):
    need_root_and_setpriv()
    uid, gid = second_user()
    import subprocess
    import sys

    from conftest import ROOT

    state = os.path.join(sandbox, "state")
    os.makedirs(os.path.join(state, "journal", "20250101T000000Z"), mode=0o700)
    os.chmod(state, 0o700)
    # The second user runs a copy of the code: the checkout may be in a folder only root can enter
    # (/root, or the package build's tree under a 0700 cache folder).
    import shutil
    src = os.path.join(sandbox, "src")
    for package in ("azbdiag", "rules"):
        shutil.copytree(os.path.join(ROOT, package), os.path.join(src, package),
                        ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, files in os.walk(src):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    env = dict(os.environ, AZBDIAG_STATE_DIR=state, PYTHONPATH=src, PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                          sys.executable, "-m", "azbdiag", "undo", "--list"], cwd="/",
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "permission denied" in res.stderr and "no fix runs" not in res.stdout + res.stderr


@pytest.mark.integration
def test_item16_a_really_full_file_system(tmp_path, registered, monkeypatch):
    """On a real full tmpfs: the target's disk full is one line and a journal that says which
    step failed; the journal's disk full stops the run before anything changes."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a small tmpfs)")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        root = make_root(small)
        registered["actions"] = lambda ctx, f: [WriteFile(CONF, b"good\n" * 20000)]
        (small / "state").mkdir(mode=0o700)         # for the second run, below
        (small / "state" / "fix.lock").touch(mode=0o600)
        fd = os.open(small / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        before = tree(root)
        res = invoke("fix", "--scripts", "--yes", "--root", root)
        no_internal_error(res)
        assert res.exit_code == 1 and "No space left on device" in res.output, res.output
        data = journal_of(registered["state"])
        assert data["status"] == "failed" and "No space left" in data["actions"][0]["error"]
        assert tree(root) == before
        monkeypatch.setenv("AZBDIAG_STATE_DIR", str(small / "state"))
        res = invoke("fix", "--scripts", "--yes", "--root", root)
        no_internal_error(res)
        assert res.exit_code == 3 and "No space left on device" in res.output, res.output
        assert "cannot write the journal" in res.output and "nothing was changed" in res.output
        assert tree(root) == before
    finally:
        open_here = []
        for n in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{n}").startswith(str(small)):
                    open_here.append(os.readlink(f"/proc/self/fd/{n}"))
            except OSError:
                pass
        if subprocess.run(["umount", str(small)], check=False).returncode:
            subprocess.run(["umount", "-l", str(small)], check=False)
    assert open_here == []          # azbdiag left no descriptor open on the disk


# ---- journals are kept on this machine, keyed by the root they were made for -----------------

def test_journals_belong_to_their_root_also_when_it_is_mounted_elsewhere(tmp_path, registered):
    """A run made for root A is listed and undone only for A: not for another root B, not for
    the live system; A moved to another path (the same disk mounted elsewhere) is still A."""
    a = make_root(tmp_path / "a")
    b = make_root(tmp_path / "b")
    assert invoke("fix", "--scripts", "--yes", "--root", a).exit_code == 0
    (run,) = os.listdir(registered["state"] / "journal")
    assert not (a / "var" / "lib" / "azbdiag").exists(), "nothing is journaled on the disk"

    listed = invoke("undo", "--list", "--root", a)
    assert listed.exit_code == 0 and run in listed.output, listed.output
    other = invoke("undo", "--list", "--root", b)
    assert other.exit_code == 0 and run not in other.output, other.output
    assert run not in invoke("undo", "--list").output        # the live system's runs
    refused = invoke("undo", run, "--yes", "--root", b)
    assert refused.exit_code == 3 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert (b / "etc" / "fixertest.conf").read_bytes() == b"bad\n"

    moved = tmp_path / "elsewhere"
    os.rename(a, moved)                                      # same file system, same inode
    assert run in invoke("undo", "--list", "--root", moved).output
    done = invoke("undo", run, "--yes", "--root", moved)
    assert done.exit_code == 0, done.output
    assert (moved / "etc" / "fixertest.conf").read_bytes() == b"bad\n"
