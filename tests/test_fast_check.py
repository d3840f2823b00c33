"""azbdiag/fast_check.py: `azbdiag check` in its everyday forms runs without typer and answers
exactly as the full command line does; every other form goes to the full command line."""

import doctest
import os
import re
import subprocess
import sys

import pytest

from azbdiag import cli_core, fast_check, report
from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_INTERRUPTED
from tests.conftest import ROOT, SAMPLES

HEALTHY = os.path.join(SAMPLES, "healthy")
BROKEN = os.path.join(SAMPLES, "broken")


def test_the_doctests_pass():
    assert doctest.testmod(fast_check, report=False).failed == 0


@pytest.mark.parametrize("args, expected", [
    ([], {"root": "/", "fmt": "text", "fail_on": "fail", "only": [], "skip": [], "full": False,
          "brief": False}),
    (["--root=/mnt", "--fail-on", "warn", "--skip", "platform", "--all"],
     {"root": "/mnt", "fmt": "text", "fail_on": "warn", "only": [], "skip": ["platform"],
      "full": True, "brief": False}),
    (["--brief", "--format", "brief"], {"root": "/", "fmt": "brief", "fail_on": "fail",
                                         "only": [], "skip": [], "full": False, "brief": True}),
])
def test_the_everyday_forms_are_parsed(args, expected):
    assert fast_check.parse(args) == expected


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--root"], ["--root", ""], ["--root", "-x"], ["--root="],
    ["--format", "JSON"], ["--format", "html"], ["--fail-on", "error"], ["--brief", "--format", "json"],
    ["--output", "r.json"], ["-o", "r.json"], ["--deadline", "5"], ["--freeze-test"],
    ["--mount", "/"], ["--disk", "/dev/sdc"], ["--all=yes"], ["extra"], ["--"], ["--debug"],
    ["--only"], ["--only", "--all"],
])
def test_every_other_form_goes_to_the_full_command_line(args):
    assert fast_check.parse(args) is None
    assert fast_check.run(["check", *args]) is None


def test_only_check_is_taken_and_it_can_be_turned_off(monkeypatch):
    assert fast_check.run(["rules"]) is None
    assert fast_check.run(["--debug", "check"]) is None
    monkeypatch.setenv("AZBDIAG_FULL_CLI", "1")
    assert fast_check.run(["check", "--root", HEALTHY]) is None


def test_problems_found_before_the_run_go_to_the_full_command_line(tmp_path):
    assert fast_check.run(["check", "--root", str(tmp_path / "absent")]) is None
    assert fast_check.run(["check", "--root", HEALTHY, "--only", "no.such.rule"]) is None
    assert fast_check.run(["check", "--root", HEALTHY, "--skip", "  "]) is None


def _cli(args, full):
    env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_FULL_CLI="1" if full else "0",
               AZBDIAG_NO_RECORD="1", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "azbdiag", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=ROOT)
    # What differs from one run to the next: timings, ages ("6 h 49 min ago" becomes "6 h 50
    # min ago" between two runs), and free space and inodes of the real /
    out = re.sub(r'"(duration_ms|generated_at|age_seconds)": [^,\n]*|duration_seconds [0-9.]+'
                 r'|timestamp_seconds [0-9.]+|[0-9][0-9 hdaysmin]* ago'
                 r'|\d+ MiB free of \d+ MiB \(\d+% used\), \d+ inodes free \(\d+% used\)',
                 "X", proc.stdout)
    return proc.returncode, out, proc.stderr


@pytest.mark.parametrize("args", [
    ["--root", HEALTHY],
    ["--root", HEALTHY, "--format", "json"],
    [f"--root={BROKEN}", "--format=json"],
    ["--root", BROKEN, "--all"],
    ["--root", BROKEN, "--brief"],
    ["--root", BROKEN, "--brief", "--format", "brief", "--fail-on", "warn"],
    ["--root", BROKEN, "--format", "prometheus", "--only", "agent", "--only", "dhcp"],
    ["--root", HEALTHY, "--skip", "platform", "--fail-on", "warn"],
    ["--root", BROKEN, "--only", "vmbackup_conf", "--format", "json"],
    # the full command line words these
    ["--root", HEALTHY, "--only", "agnet"],
    ["--root", os.path.join(SAMPLES, "absent")],
    ["--root", BROKEN, "--brief", "--format", "text"],
    ["--root", BROKEN, "--format", "JSON"],
])
def test_the_fast_path_answers_as_the_full_command_line(args):
    fast, full = _cli(["check", *args], full=False), _cli(["check", *args], full=True)
    assert fast == full
    assert fast[0] in (0, 1, 2, 3, 5) and (fast[1] or fast[2])


def test_the_fast_path_imports_neither_typer_nor_click():
    code = ("import sys; sys.argv = ['azbdiag', 'check', '--root', sys.argv[1], '--format', "
            "'json']; from azbdiag.__main__ import main; code = main(); "
            "sys.stderr.write(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('typer', 'click', 'sh'))))")
    proc = subprocess.run([sys.executable, "-c", code, HEALTHY], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1"),
                          timeout=120)
    assert proc.stdout.lstrip().startswith("{") and '"results"' in proc.stdout
    assert proc.stderr == ""


def _failing_run(exc):
    def run_check(*_args, **_kwargs):
        raise exc
    return run_check


@pytest.mark.parametrize("exc, code, line", [
    (RuntimeError("boom"), EXIT_CANNOT_RUN,
     "azbdiag: internal error: RuntimeError: boom (run with --debug for details)\n"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "azbdiag: interrupted\n"),
    (cli_core.Fatal("cannot go on", 3), 3, "azbdiag: cannot go on\n"),
])
def test_a_failure_during_the_run_is_one_line_and_its_exit_code(monkeypatch, capsys, exc, code,
                                                                  line):
    monkeypatch.setattr(report, "run_check", _failing_run(exc))
    assert fast_check.run(["check", "--root", HEALTHY]) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", line)
