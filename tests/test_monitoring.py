"""Monitoring: the check's result in the journal (native protocol, on a fake journald socket
here) and the metrics file for node_exporter's textfile collector, both written when a check
records its result (azbdiag/state.py), never failing the check."""

from __future__ import annotations

import doctest
import json
import os
import socket
import stat
import struct
import threading

import pytest
from conftest import SAMPLES
from test_verdict import FREEZE_121, failing_doc

from azbdiag import journald, report, state, textfile
from azbdiag.host import Host
from azbdiag.runner import FakeRunner


def decode(datagram: bytes) -> dict:
    """The fields of one native-protocol journal entry (as journald parses it)."""
    fields, pos = {}, 0
    while pos < len(datagram):
        nl = datagram.index(b"\n", pos)
        line = datagram[pos:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            pos = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", datagram[nl + 1:nl + 9])
            value = datagram[nl + 9:nl + 9 + size]
            assert datagram[nl + 9 + size:nl + 10 + size] == b"\n"
            pos = nl + 10 + size
        assert key and key.upper() == key and not key.startswith(b"_"), key
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def journal(tmp_path, monkeypatch):
    """A fake journald: a datagram socket in a temporary directory, read by a thread (the
    kernel queues only a few datagrams on a socket nobody reads). Calling it returns every
    entry sent so far: sendto(2) has queued a datagram by the time it returns, so stopping the
    thread and reading what is still queued misses none, however late the thread ran."""
    path = str(tmp_path / "journal.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    monkeypatch.setenv(journald.SOCKET_ENV, path)
    got, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                got.append(sock.recv(1 << 20))
            except socket.timeout:
                continue

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()

    def received():
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "the journal's reader did not stop"
        sock.setblocking(False)
        while True:
            try:
                got.append(sock.recv(1 << 20))
            except BlockingIOError:
                break
        return [decode(d) for d in got]

    yield received
    stop.set()
    thread.join(60)
    sock.close()


@pytest.fixture
def recording(tmp_path, monkeypatch):
    monkeypatch.delenv(state.NO_RECORD_ENV, raising=False)
    monkeypatch.setenv(state.STATE_ENV, str(tmp_path / "lib"))
    monkeypatch.setenv(state.LOG_ENV, str(tmp_path / "log"))
    return Host(root="/", runner=FakeRunner({}), is_root=True, live=True, azure=False)


def test_the_encoding_example():
    import azbdiag.journald

    assert doctest.testmod(azbdiag.journald, report=False).failed == 0


def test_a_recorded_check_logs_the_run_and_each_finding(journal, recording):
    doc = failing_doc()
    assert state.record_check(recording, doc, json.dumps(doc)) is None
    entries = journal()
    run, findings = entries[0], entries[1:]
    assert run["MESSAGE_ID"] == "277c8b13adbd48a7b6c891784609ce94" == journald.MESSAGE_ID_RUN
    assert run["PRIORITY"] == "3" and run["SYSLOG_IDENTIFIER"] == "azbdiag"
    assert "azbdiag 0.1.0 check: 3 fail, 2 warn, 1 error, 1 ok, 1 skipped" in run["MESSAGE"]
    assert (run["AZBDIAG_FAIL"], run["AZBDIAG_WARN"], run["AZBDIAG_OK"]) == ("3", "2", "1")
    assert run["AZBDIAG_LAST_BACKUP"] == "failed" and run["AZBDIAG_LAST_BACKUP_CODE"] == "121"
    assert run["AZBDIAG_LAST_BACKUP_AZURE_ERROR"] == "UserErrorFsFreezeFailed"
    assert [f["AZBDIAG_RULE"] for f in findings] == [
        "agent.version", "dhcp.config", "extension.last_status", "freeze.extension_log",
        "freeze.same_superblock", "vmbackup_conf.keys"]
    assert {f["MESSAGE_ID"] for f in findings} == {"26192388b9c3486daa4b7d91f7e6e152"}
    agent = findings[0]
    assert agent["AZBDIAG_STATUS"] == "fail" and agent["PRIORITY"] == "3"
    assert agent["AZBDIAG_FIX"] == "agent"
    assert agent["AZBDIAG_ERROR_CODES"] == "UserErrorGuestAgentStatusUnavailable"
    assert agent["MESSAGE"].startswith("azbdiag fail agent.version: the agent is 2.2.45")
    assert findings[-1]["PRIORITY"] == "4"


def test_values_with_newlines_use_the_binary_form(journal, recording):
    doc = failing_doc()
    doc["tool"]["version"] = "1.0\nevil=1"
    state.record_check(recording, doc, "{}")
    run = journal()[0]
    assert run["AZBDIAG_VERSION"] == "1.0\nevil=1" and "EVIL" not in run


def test_findings_are_bounded(journal, recording):
    doc = failing_doc()
    doc["results"] = [dict(doc["results"][0], id=f"a.r{i}") for i in range(300)]
    state.record_check(recording, doc, "{}")
    assert len(journal()) == 1 + journald.MAX_FINDINGS


def test_no_journal_no_entry_and_no_error(tmp_path, monkeypatch, recording):
    monkeypatch.setenv(journald.SOCKET_ENV, str(tmp_path / "absent.sock"))
    assert state.record_check(recording, failing_doc(), "{}") is None


def test_a_broken_journal_is_reported_not_raised(tmp_path, monkeypatch, recording):
    not_a_socket = tmp_path / "file"
    not_a_socket.write_text("")
    monkeypatch.setenv(journald.SOCKET_ENV, str(not_a_socket))
    problem = state.record_check(recording, failing_doc(), "{}")
    assert problem and "journal" in problem
    assert (tmp_path / "log" / "azbdiag.log").read_text().count("\n") == 1   # still logged


def test_the_textfile_is_written_atomically_and_world_readable(tmp_path, monkeypatch, recording):
    directory = tmp_path / "textfile"
    directory.mkdir()
    monkeypatch.setenv(textfile.DIR_ENV, str(directory))
    doc = failing_doc()
    doc["last_backup"] = dict(FREEZE_121)
    old = os.umask(0o077)                               # as in the systemd unit
    try:
        assert state.record_check(recording, doc, "{}") is None
    finally:
        os.umask(old)
    prom = directory / "azbdiag.prom"
    assert stat.S_IMODE(os.stat(prom).st_mode) == 0o644
    assert os.listdir(directory) == ["azbdiag.prom"]    # no temporary file left behind
    assert "azbdiag_backup_last_status_code 121" in prom.read_text()


@pytest.mark.parametrize("value, message", [("relative/dir", "not an absolute path"),
                                            ("/nonexistent/azbdiag-tests", "not a directory")])
def test_a_bad_textfile_dir_is_reported(monkeypatch, recording, value, message):
    monkeypatch.setenv(textfile.DIR_ENV, value)
    assert message in state.record_check(recording, failing_doc(), "{}")


def test_offline_runs_record_nothing(journal, tmp_path, monkeypatch):
    monkeypatch.delenv(state.NO_RECORD_ENV, raising=False)
    monkeypatch.setenv(textfile.DIR_ENV, str(tmp_path))
    host = Host(root=os.path.join(SAMPLES, "broken"), runner=FakeRunner({}), is_root=True)
    _ctx, _results, doc = report.run_check(host)
    assert state.record_check(host, doc, "{}") is None
    assert journal() == [] and not (tmp_path / "azbdiag.prom").exists()
