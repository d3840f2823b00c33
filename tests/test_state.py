"""azbdiag/state.py: where the last report and the log go, and that recording never breaks a check."""

import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azbdiag import state
from azbdiag.cli import app
from azbdiag.host import Host
from azbdiag.runner import FakeRunner

DOC = {
    "tool": {"name": "azbdiag", "version": "9.9"},
    "summary": {"ok": 3, "warn": 1, "fail": 1, "skipped": 2, "error": 0},
    "results": [{"id": "a.one", "status": "fail"}, {"id": "b.two", "status": "warn"},
                {"id": "c.three", "status": "ok"}],
}


@pytest.fixture
def redirected(tmp_path, monkeypatch):
    monkeypatch.delenv(state.NO_RECORD_ENV, raising=False)
    monkeypatch.setenv(state.STATE_ENV, str(tmp_path / "lib"))
    monkeypatch.setenv(state.LOG_ENV, str(tmp_path / "log"))
    return tmp_path


def live_host(is_root=True):
    return Host(root="/", runner=FakeRunner({}), is_root=is_root, live=True, azure=False)


def test_paths_default_and_under_root(tmp_path, monkeypatch):
    monkeypatch.delenv(state.STATE_ENV, raising=False)
    monkeypatch.delenv(state.LOG_ENV, raising=False)
    assert state.last_report_path() == "/var/lib/azbdiag/last-report.json"
    assert state.log_path() == "/var/log/azbdiag/azbdiag.log"
    assert state.journal_dir() == "/var/lib/azbdiag/journal"
    # With --root too: azbdiag's state is this machine's, never on the disk (issue 11).
    offline = Host(root=str(tmp_path), runner=FakeRunner({}), is_root=True)
    assert state.state_dir(offline) == "/var/lib/azbdiag"
    assert state.journal_dir(offline) == "/var/lib/azbdiag/journal"
    assert state.log_path(offline) == "/var/log/azbdiag/azbdiag.log"


def test_record_writes_private_report_and_appends_log(redirected):
    host = live_host()
    assert state.record_check(host, DOC, json.dumps(DOC)) is None
    assert state.record_check(host, DOC, json.dumps(DOC)) is None
    report = redirected / "lib" / "last-report.json"
    assert json.loads(report.read_text()) == DOC
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(redirected / "lib").st_mode) == 0o700
    lines = (redirected / "log" / "azbdiag.log").read_text().splitlines()
    assert len(lines) == 2
    assert "1 fail, 1 warn, 0 error, 3 ok, 2 skipped; fail: a.one; warn: b.two" in lines[0]
    assert "c.three" not in lines[0]


def test_no_record_when_not_root_offline_or_disabled(redirected, tmp_path, monkeypatch):
    assert state.record_check(live_host(is_root=False), DOC, "{}") is None
    offline = Host(root=str(tmp_path), runner=FakeRunner({}), is_root=True)
    assert state.record_check(offline, DOC, "{}") is None
    monkeypatch.setenv(state.NO_RECORD_ENV, "1")
    assert state.record_check(live_host(), DOC, "{}") is None
    assert not (redirected / "lib").exists() and not (redirected / "log").exists()


def test_unwritable_state_gives_a_message_not_an_exception(redirected):
    (redirected / "lib").write_text("a file where a directory should be")
    problem = state.record_check(live_host(), DOC, "{}")
    assert problem and "last-report.json" in problem
    assert (redirected / "log" / "azbdiag.log").exists()  # the log line still got written


def test_report_path_symlink_is_not_followed(redirected):
    (redirected / "lib").mkdir(mode=0o700)
    target = redirected / "elsewhere"
    target.write_text("keep me")
    os.symlink(target, redirected / "lib" / "last-report.json")
    assert state.record_check(live_host(), DOC, "{}") is None
    assert target.read_text() == "keep me"  # the link was replaced, its target untouched
    assert not os.path.islink(redirected / "lib" / "last-report.json")


def test_log_is_trimmed_to_its_newest_half(redirected, monkeypatch):
    (redirected / "log").mkdir(mode=0o700)
    log = redirected / "log" / "azbdiag.log"
    log.write_text("".join(f"old line {i}\n" for i in range(300)))
    monkeypatch.setattr(state, "LOG_MAX_BYTES", 1000)
    assert state.record_check(live_host(), DOC, "{}") is None
    lines = log.read_text().splitlines()
    assert os.path.getsize(log) < 1000
    assert lines[-2] == "old line 299" and "azbdiag 9.9 check" in lines[-1]
    assert all(line.startswith("old line ") for line in lines[:-1])  # no partial first line


def test_check_on_the_live_system_records(redirected):
    if os.geteuid() != 0:
        pytest.skip("records only as root")
    res = CliRunner().invoke(app, ["check", "--only", "vmbackup_conf", "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    saved = json.loads((redirected / "lib" / "last-report.json").read_text())
    assert [r["id"] for r in saved["results"]] and saved["tool"]["name"] == "azbdiag"
    assert "check:" in (redirected / "log" / "azbdiag.log").read_text()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                         max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["tool", "summary", "results", "x"]), _json, max_size=4))
def test_summary_line_never_raises(doc):
    line = state.summary_line(doc)
    assert "\n" not in line and len(line) <= state.SUMMARY_MAX and " check: " in line
