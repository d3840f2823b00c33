"""The backup history from realistic extension logs (several runs, a failed freeze, a timeout,
rotated and compressed files, garbage lines, status files), and the freeze.trend rule. The
`history` command: test_history_command.py; its HTML in a real browser:
test_history_browser.py."""

from __future__ import annotations

import gzip
import os

import extlog
import pytest
from conftest import make_host, run_rule

from azbdiag.facts import backup_history
from azbdiag.facts.backup_history import read_history


@pytest.fixture
def disk(tmp_path):
    root = tmp_path / "disk"
    extlog.write_scenario(str(root))
    return root


def host_of(root):
    return make_host(root=str(root), live=False)


def log_path(root, name="extension.log"):
    return os.path.join(str(root), extlog.LOG_DIR, name)


# ---- the timeline ----------------------------------------------------------------------------

def test_the_timeline_of_every_run_in_the_logs_and_status_files(disk):
    h = read_history(host_of(disk))
    runs = h.runs
    assert [r.start.day if r.start else None for r in runs] == [None, 1, 2, 3, 4, 5, 6, 7, 8]
    assert [r.outcome for r in runs] == ["success", "success", "success", "failed", "success",
                                         "failed", "success", "success", "unfinished"]
    assert [r.status_code for r in runs] == [1, 1, 1, 121, 1, 122, 1, 1, 4]
    assert [r.source for r in runs] == ["", "extension.log.2.gz", "extension.log.2.gz",
                                        "extension.log.1", "extension.log.1", "extension.log",
                                        "extension.log", "extension.log", "extension.log"]
    assert [r.freeze_seconds for r in runs[1:3]] + [runs[4].freeze_seconds, runs[6].freeze_seconds,
                                                    runs[7].freeze_seconds] == \
        [5.3, 6.1, 9.8, 25.2, 40.4]
    assert runs[0].start is None and runs[0].status_file.endswith("/status/0_status")
    assert runs[7].status_file.endswith("/status/7_status")
    assert runs[8].status_file.endswith("/status/8.status")
    failed_freeze, timeout = runs[3], runs[5]
    assert failed_freeze.frozen == ["/data", "/srv"]
    assert failed_freeze.freeze_failures == [("/srv", "Device or resource busy")]
    assert timeout.timed_out and timeout.freeze_error == "freeze timed-out"
    assert runs[6].snapshot_kind == "Guest-seq" and runs[1].snapshot_kind == "Host"
    for run in (runs[1], runs[2], runs[4], runs[6], runs[7]):
        assert run.frozen == ["/data", "/srv", "/"] and run.thawed == ["/", "/srv", "/data"]
    assert h.malformed == 3 and h.status_files == 3
    assert sorted(w.split(":")[0] for w in h.malformed_where) == \
        ["extension.log", "extension.log", "extension.log.2.gz"]
    assert [f.name for f in h.logs] == ["extension.log.2.gz", "extension.log.1", "extension.log"]
    assert not any(f.truncated or f.error for f in h.logs)


def test_a_run_cut_by_the_rotation_is_one_run(tmp_path):
    lines = extlog.backup_run(extlog.day(1), freeze=7.0)
    cut = next(i for i, line in enumerate(lines) if "Logs during Freeze Start" in line)
    os.makedirs(log_path(tmp_path, ""))
    with open(log_path(tmp_path, "extension.log.1"), "w") as fh:
        fh.write("\n".join(lines[:cut]) + "\n")
    with open(log_path(tmp_path, "extension.log"), "w") as fh:
        fh.write("\n".join(lines[cut:]) + "\n")
    runs = read_history(host_of(tmp_path)).runs
    assert len(runs) == 1 and runs[0].start == extlog.day(1)
    assert runs[0].outcome == "success" and runs[0].freeze_seconds == 7.0


def test_the_budget_reads_the_newest_first_and_only_the_tail(disk):
    h = read_history(host_of(disk), budget=20 * 1024)
    live, rotated = h.logs[-1], h.logs[:-1]
    assert live.truncated and live.bytes_read <= 20 * 1024
    assert all("budget" in f.error for f in rotated)
    assert h.runs[-1].start.day == 8 and all(r.start is None or r.start.day >= 6 for r in h.runs)


def test_broken_compressed_files_are_skipped_with_the_reason(disk, monkeypatch):
    with open(log_path(disk, "extension.log.3.gz"), "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00garbage that is no deflate stream")
    h = read_history(host_of(disk))
    assert h.logs[0].name == "extension.log.3.gz" and h.logs[0].error
    assert len(h.runs) == 9
    # a file that decompresses to more than the cap is refused, not read into memory
    with open(log_path(disk, "extension.log.4.gz"), "wb") as fh:
        fh.write(gzip.compress(b"\n" * (3 * 1024 * 1024)))
    monkeypatch.setattr(backup_history, "DECOMPRESSED_MAX", 1024 * 1024)
    bomb = read_history(host_of(disk)).logs[0]
    assert bomb.name == "extension.log.4.gz" and "more than" in bomb.error


def test_xz_and_bz2_copies_are_read(tmp_path):
    import bz2
    import lzma

    os.makedirs(log_path(tmp_path, ""))
    for n, (name, pack) in enumerate((("extension.log.2.xz", lzma.compress),
                                      ("extension.log.1.bz2", bz2.compress)), 1):
        with open(log_path(tmp_path, name), "wb") as fh:
            fh.write(pack(("\n".join(extlog.backup_run(extlog.day(n), freeze=5 + n)) + "\n").encode()))
    runs = read_history(host_of(tmp_path)).runs
    assert [(r.source, r.freeze_seconds) for r in runs] == [("extension.log.2.xz", 6.0),
                                                             ("extension.log.1.bz2", 7.0)]


def test_nothing_on_disk_is_no_input(tmp_path):
    from azbdiag.model import SkipRule

    with pytest.raises(SkipRule, match="no backup has run here"):
        read_history(host_of(tmp_path))


# ---- freeze.trend --------------------------------------------------------------------------

def write_runs(root, freezes, conf="[SnapshotThread]\ntimeout = 60\n"):
    os.makedirs(log_path(root, ""), exist_ok=True)
    lines = []
    for n, freeze in enumerate(freezes, 1):
        lines += extlog.backup_run(extlog.day(n), freeze=freeze)
    with open(log_path(root), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.makedirs(os.path.join(str(root), "etc/azure"), exist_ok=True)
    with open(os.path.join(str(root), "etc/azure/vmbackup.conf"), "w") as fh:
        fh.write(conf)


def test_trend_warns_on_the_scenario_where_freezes_grow(disk):
    res = run_rule(host_of(disk), "freeze.trend")
    assert res.status.value == "warn", res.summary
    assert "SafeFreezeWaitInSeconds" in res.summary and "grew from 8% to 61%" in res.summary
    assert res.data["freeze"] == {"seconds": 40.4, "limit_seconds": 66,
                                  "time": "2026-11-07T22:00:01Z"}
    assert any("timed out" in e for e in res.evidence)
    assert res.error_codes == ("UserErrorFsFreezeTimeout",)


def test_trend_is_ok_when_freezes_are_steady(tmp_path):
    write_runs(tmp_path, [5.3, 6.0, 5.1, 7.2, 5.9, 6.4])
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "ok", res.summary
    assert "6.4 s of 66 s (10%)" in res.summary and "no growth" in res.summary


def test_trend_warns_when_the_newest_freeze_is_near_its_limit(tmp_path):
    write_runs(tmp_path, [56.0])
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "warn" and "85%" in res.summary


def test_trend_uses_the_limits_of_vmbackup_conf(tmp_path):
    write_runs(tmp_path, [10, 20, 30, 40], conf="[SnapshotThread]\nSafeFreezeWaitInSeconds = 600\n")
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "ok", res.summary
    assert "40.0 s of 600 s" in res.summary and "/etc/azure/vmbackup.conf" in res.evidence[0]
    write_runs(tmp_path, [10, 20, 30, 40], conf="[SnapshotThread]\nSafeFreezeWaitInSeconds = 67\n")
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "warn", res.summary           # 40 of 66 and rising 10 s a run


def test_trend_with_too_few_runs_says_so(tmp_path):
    write_runs(tmp_path, [5.0, 30.0])
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "ok" and "too few to see a trend" in res.summary


def test_trend_is_skipped_without_logs_or_measured_freezes(tmp_path):
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "skipped" and res.skip_reason == "input missing"
    os.makedirs(log_path(tmp_path, ""))
    with open(log_path(tmp_path), "w") as fh:
        fh.write("\n".join(extlog.skipped_enable(extlog.day(1))) + "\n")
    res = run_rule(host_of(tmp_path), "freeze.trend")
    assert res.status.value == "skipped" and res.skip_reason == "not applicable"


def test_the_trend_decision():
    from azbdiag.rules.freeze_trend import fit, judge

    assert fit([1, 2, 3]) == (3.0, 1.0)
    assert judge([]) is None and judge([0.1, 0.1, 0.1, 0.1]) is None
    assert judge([0.85]).startswith("the newest run used 85%")
    assert "reaches the limit" in judge([0.2, 0.35, 0.5, 0.65])
    assert judge([0.2, 0.25, 0.3, 0.35]) is None          # rising, but far from the limit yet
