"""`azbdiag history` on a disk with realistic extension logs (tests/extlog.py): text, JSON,
HTML, and what it says without any backup."""

from __future__ import annotations

import json
import os
import re

import extlog
import pytest
from typer.testing import CliRunner

from azbdiag.cli import app

runner = CliRunner()


@pytest.fixture
def disk(tmp_path):
    root = tmp_path / "disk"
    extlog.write_scenario(str(root))
    return root


def log_path(root, name="extension.log"):
    return os.path.join(str(root), extlog.LOG_DIR, name)


def test_history_text(disk):
    res = runner.invoke(app, ["history", "--root", str(disk)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "9 run(s) from extension.log.2.gz, extension.log.1, extension.log and 3 status" in out
    assert "3 malformed log line(s) skipped" in out
    assert re.search(r"2026-11-03 22:00\s+FAILED\s+121 .*/srv \(FAILED: Device or resource busy\)",
                     out)
    assert re.search(r"2026-11-07 22:00\s+success\s+1\s+40.4 s\s+61%", out)
    assert "code 122 FailedRetryableFsFreezeTimeout (UserErrorFsFreezeTimeout)" in out
    assert "Trend (freeze.trend): WARN" in out


def test_history_json(disk, tmp_path):
    out = tmp_path / "h.json"
    res = runner.invoke(app, ["history", "--root", str(disk), "--format", "json", "-o", str(out),
                              "--last", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == "azbdiag-history/1" and doc["runs_total"] == 9
    assert [r["start"] for r in doc["runs"]] == ["2026-11-06T22:00:01Z", "2026-11-07T22:00:01Z",
                                                 "2026-11-08T22:00:01Z"]
    assert doc["limits"] == {"safe_freeze_wait": 66, "freeze_window_seconds": 66, "timeout": 60,
                             "source": "/etc/azure/vmbackup.conf"}
    run = doc["runs"][1]
    assert run["mounts_frozen"] == ["/data", "/srv", "/"] and run["freeze_ratio"] == 0.6121
    assert run["frozen_limit_seconds"] == 60 and run["snapshot_path"] == "Host"
    assert doc["trend"]["status"] == "warn" and doc["note"] is None


def test_history_of_a_disk_without_backups_says_so(tmp_path):
    res = runner.invoke(app, ["history", "--root", str(tmp_path)])
    assert res.exit_code == 0 and "No backup run on record" in res.output
    res = runner.invoke(app, ["history", "--root", str(tmp_path), "--format", "json"])
    assert json.loads(res.output)["runs"] == []


def test_history_usage_errors(disk):
    assert runner.invoke(app, ["history", "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app, ["history", "--last", "-1"]).exit_code == 2
    res = runner.invoke(app, ["history", "--root", str(disk / "nope")])
    assert res.exit_code == 3 and len(res.output.strip().splitlines()) == 1


def test_history_html_escapes_what_comes_from_the_disk(tmp_path):
    os.makedirs(log_path(tmp_path, ""))
    lines = extlog.backup_run(extlog.day(1), ("/data<script>alert(1)</script>", "/"))
    with open(log_path(tmp_path), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    res = runner.invoke(app, ["history", "--root", str(tmp_path), "--format", "html"])
    assert res.exit_code == 0
    assert "<script>" not in res.output and "&lt;script&gt;" in res.output
    assert not re.search(r"(?i)(https?:|//[a-z]|src=|@import|url\()", res.output)


def test_unreadable_status_files_are_said_not_hidden(disk, monkeypatch):
    from azbdiag.facts import backup_history
    from azbdiag.host import Unreadable

    def denied(host):
        raise Unreadable("/var/lib/waagent", "Permission denied", denied=True)

    monkeypatch.setattr(backup_history, "status_reports", denied)
    res = runner.invoke(app, ["history", "--root", str(disk)])
    assert res.exit_code == 0
    assert "status files not read: cannot read /var/lib/waagent: Permission denied (re-run as " \
           "root)" in res.output
    assert "8 run(s)" in res.output                    # the logs' runs are still there
