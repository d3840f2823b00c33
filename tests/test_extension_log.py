"""The extension.log timeline parser and the rotated-name parser, on logs built from the
extension's own line formats and markers (tests/extlog.py)."""

from __future__ import annotations

import datetime

import extlog
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers.extension_log import parse_duration, parse_extension_log, parse_log_time
from azbdiag.parsers.rotated_logs import parse_rotated_names


def parse(*runs):
    return parse_extension_log("\n".join(line for run in runs for line in run) + "\n")


def test_a_successful_host_snapshot_run():
    log = parse(extlog.backup_run(extlog.day(1), ("/data", "/boot", "/"), freeze=5.3, snapshot=2.0))
    assert log.malformed == 0 and len(log.runs) == 1
    run = log.runs[0]
    assert run.outcome == "success" and run.status_code == 1 and run.ext_code == 1
    assert run.start == extlog.day(1) and run.task_id.startswith("6b1c0e52")
    assert run.planned == ["/data", "/boot", "/"] and run.frozen == ["/data", "/boot", "/"]
    assert run.thawed == ["/", "/boot", "/data"]            # safefreeze thaws in reverse
    assert run.freeze_seconds == 5.3 and run.timeout == 60 and not run.timed_out
    assert run.snapshot_kind == "Host"
    assert run.snapshot_seconds == pytest.approx(2.4)      # snapshotTimeTaken: call to thaw
    assert run.frozen_seconds == pytest.approx(2.3)        # step 4 to step 7
    assert run.thaw_seconds == pytest.approx(0.3)          # the ThawTime telemetry
    assert sorted(run.steps) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert run.steps[2] is None                            # safefreeze's steps: no time of theirs
    assert run.steps[4] == extlog.day(1) + datetime.timedelta(seconds=9.05)


def test_a_failed_freeze_names_the_mount_and_keeps_the_thaw_errors_apart():
    run = parse(extlog.backup_run(extlog.day(3), ("/data", "/srv", "/"), outcome="freeze_failed",
                                  failing_mount="/srv")).runs[0]
    assert run.outcome == "failed" and run.status_code == 121 and run.ext_code == 121
    assert run.frozen == ["/data", "/srv"]
    assert run.freeze_failures == [("/srv", "Device or resource busy")]
    assert run.thaw_failures == [("/", "Invalid argument"), ("/srv", "Invalid argument")]
    assert run.freeze_error == "freeze failed for some mount"
    assert run.thaw_error == "snapshot result inconsistent"
    assert run.snapshot_seconds is None and run.frozen_seconds is None
    assert any("Enable failed" in e for e in run.errors)


def test_a_freeze_timeout():
    run = parse(extlog.backup_run(extlog.day(5), outcome="timeout", freeze=80)).runs[0]
    assert run.outcome == "failed" and run.status_code == 122 and run.timed_out
    assert run.freeze_error == "freeze timed-out"
    assert run.thaw_error == "Failed to receive timely Thaw from parent process"
    assert run.freeze_seconds > 66


def test_runs_are_split_at_each_enable_and_skipped_enables_are_not_runs():
    log = parse(extlog.backup_run(extlog.day(1)), extlog.skipped_enable(extlog.day(2)),
                extlog.backup_run(extlog.day(3), freeze=7.5))
    assert [r.start for r in log.runs] == [extlog.day(1), extlog.day(3)]
    assert [r.freeze_seconds for r in log.runs] == [5.3, 7.5]


def test_a_run_that_died_while_frozen_is_unfinished():
    run = parse(extlog.backup_run(extlog.day(8), finish=False)).runs[0]
    assert run.outcome == "unfinished" and run.status_code == 4
    assert run.planned == ["/data", "/"] and run.frozen == []   # the buffer was never written


def test_a_log_that_starts_inside_a_run():
    lines = extlog.backup_run(extlog.day(1))
    cut = next(i for i, line in enumerate(lines) if "Logs during Freeze Start" in line)
    run = parse(lines[cut:]).runs[0]
    assert run.headless and run.outcome == "success" and run.freeze_seconds == 5.3


@pytest.mark.parametrize("garbage", extlog.GARBAGE + ["2026/11/01 22:00:99.0  Info  x"])
def test_garbage_lines_are_counted_never_fatal(garbage):
    lines = extlog.backup_run(extlog.day(1))
    lines.insert(10, garbage)
    log = parse(lines)
    assert log.malformed == 1 and log.malformed_lines == [11]
    assert log.runs[0].outcome == "success" and log.runs[0].freeze_seconds == 5.3


def test_bad_values_in_known_lines_count_as_malformed():
    lines = extlog.backup_run(extlog.day(1))
    i = next(i for i, line in enumerate(lines) if "freezeTimeTaken=" in line)
    lines[i] = lines[i].replace("freezeTimeTaken=0:00:05.300000", "freezeTimeTaken=soon")
    j = next(i for i, line in enumerate(lines) if line.endswith('"code": "1", "formattedMessage"'
                                                                 ) or '[{"version"' in line)
    lines[j] = lines[j][:lines[j].index("[{")] + "[{broken json"
    log = parse(lines)
    assert log.malformed == 2
    # the freeze time then comes from the FreezeTime telemetry (freezeTimeTaken less 5 s)
    assert log.runs[0].freeze_seconds == pytest.approx(5.3)


def test_python2_lines_are_read_too():
    text = ("2019/05/01 10:00:00 [X-1.0]starting enable\n"
            "2019/05/01 10:00:03 [X-1.0]starting daemon initially\n"
            "2019/05/01 10:00:04 [X-1.0]T:S ***** freeze, time_before_freeze=2019-05-01 10:00:04,"
            " time_after_freeze=2019-05-01 10:00:09, freezeTimeTaken=0:00:05\n"
            "2019/05/01 10:00:30 [X-1.0]Enable,error,202,freeze took longer than timeout,False\n")
    run = parse_extension_log(text).runs[0]
    assert run.start == datetime.datetime(2019, 5, 1, 10, 0) and run.freeze_seconds == 5.0
    assert run.status_code == 202 and run.outcome == "failed"      # the pre-2019-12 number


def test_times_and_durations():
    assert parse_log_time("2026-11-01 22:00:01 [x]") == datetime.datetime(2026, 11, 1, 22, 0, 1)
    assert parse_log_time("2026-11-01T22:00:01Z") == datetime.datetime(2026, 11, 1, 22, 0, 1)
    assert parse_log_time("not a time") is None and parse_log_time("") is None
    assert parse_duration("2 days, 1:00:00") == 2 * 86400 + 3600
    assert parse_duration("0:61:00") is None and parse_duration("") is None


def test_rotated_names_in_every_logrotate_scheme():
    names = ["extension.log", "extension.log-2026-11-01-1793570401.gz", "extension.log-20261101",
             "extension.log.3.xz", "extension.log.2.bz2", "shell.log.1", "extension.log.0",
             "extension.logger", "extension.log.1.gz.tmp"]
    got = [(r.name, r.compression) for r in parse_rotated_names("extension.log", names)]
    assert got == [("extension.log-20261101", None), ("extension.log-2026-11-01-1793570401.gz",
                                                       "gzip"),
                   ("extension.log.3.xz", "xz"), ("extension.log.2.bz2", "bzip2"),
                   ("extension.log", None)]
    assert parse_rotated_names("", names) == [] and parse_rotated_names("x", None) == []


NEAR_VALID = st.lists(st.sampled_from(
    extlog.backup_run(extlog.day(1)) + extlog.backup_run(extlog.day(2), outcome="timeout",
                                                         freeze=70)
    + extlog.GARBAGE + ["", "   ", "2026-11-01 22:00:00 [X]Enable,error,121,", "[{", "arg : ['"]),
    max_size=40)


@settings(max_examples=100, deadline=None)
@given(NEAR_VALID)
def test_shuffled_real_lines_never_raise(lines):
    log = parse_extension_log("\n".join(lines))
    for run in log.runs:
        assert run.outcome in ("success", "failed", "unfinished")
