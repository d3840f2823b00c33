"""`check --format prometheus`: the node_exporter textfile format, checked by a small reader
here and by Prometheus' own `promtool check metrics` (Debian's prometheus package)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import SAMPLES
from test_verdict import FREEZE_121, document, failing_doc, result
from typer.testing import CliRunner

from azbdiag import render
from azbdiag.cli import app
from azbdiag.render.prometheus import label_value

runner = CliRunner()
METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def parse(text):
    """{(name, ((label, value), ...)): float}, checking HELP/TYPE come first and once."""
    assert text.endswith("\n")
    samples, helped, typed, seen_families = {}, set(), set(), []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helped and name not in seen_families, f"{name} twice"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name in helped and kind == "gauge"
            typed.add(name)
            seen_families.append(name)
            continue
        m = METRIC.match(line)
        assert m, line
        name, labels = m.group(1), m.group(3) or ""
        assert name == seen_families[-1], f"{name} is not next to its HELP/TYPE"
        pairs, pos = [], 0
        while pos < len(labels):
            lm = LABEL.match(labels, pos)
            assert lm, labels[pos:]
            pairs.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        key = (name, tuple(pairs))
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(m.group(4))
    assert helped == typed
    return samples


def test_one_gauge_per_rule_and_status():
    doc = failing_doc()
    samples = parse(render.report(doc, "prometheus"))
    for r in doc["results"]:
        states = {dict(k[1])["status"]: v for k, v in samples.items()
                  if k[0] == "azbdiag_rule_status" and dict(k[1])["rule"] == r["id"]}
        assert set(states) == {"ok", "warn", "fail", "skipped", "error"}
        assert states[r["status"]] == 1 and sum(states.values()) == 1
    assert samples[("azbdiag_rules", (("status", "fail"),))] == 3


def test_the_last_backup_its_age_and_the_freeze_duration():
    doc = failing_doc()
    doc["last_backup"] = dict(FREEZE_121, freeze={"seconds": 40.4, "limit_seconds": 66,
                                                  "time": "2026-11-07T22:00:01Z"},
                              frozen={"seconds": 3.4, "limit_seconds": 60, "time": None})
    samples = parse(render.report(doc, "prometheus"))
    assert samples[("azbdiag_backup_last_success", ())] == 0
    assert samples[("azbdiag_backup_last_outcome", (("outcome", "failed"),))] == 1
    assert samples[("azbdiag_backup_last_status_code", ())] == 121
    assert samples[("azbdiag_backup_last_extension_code",
                    (("name", "FailedRetryableFsFreezeFailed"),
                     ("azure_error", "UserErrorFsFreezeFailed")))] == 121
    assert samples[("azbdiag_backup_last_timestamp_seconds", ())] == 1795140871
    assert samples[("azbdiag_backup_last_age_seconds", ())] == 3 * 86400
    assert samples[("azbdiag_backup_freeze_duration_seconds", ())] == 40.4
    assert samples[("azbdiag_backup_freeze_limit_seconds", ())] == 66
    assert samples[("azbdiag_backup_frozen_duration_seconds", ())] == 3.4
    assert samples[("azbdiag_check_timestamp_seconds", ())] == 1795420800  # 2026-11-23T08:00Z


def test_unknown_values_are_left_out_not_zero():
    doc = document([result("agent.installed", "ok")], None)
    text = render.report(doc, "prometheus")
    assert "azbdiag_backup_" not in text
    parse(text)


def test_label_values_are_escaped():
    assert label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    doc = document([result("agent.installed", "ok")],
                   dict(FREEZE_121, name='odd "name"\\\nx', azure_error=None))
    doc["tool"]["version"] = '0.1"\n'
    text = render.report(doc, "prometheus")
    samples = parse(text)
    assert ("azbdiag_info", (("version", '0.1\\"\\n'),)) in samples
    assert 'name="odd \\"name\\"\\\\\\nx"' in text


def promtool():
    path = shutil.which("promtool")
    if not path:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return path


def promtool_check(text):
    cp = subprocess.run([promtool(), "check", "metrics"], input=text, text=True,
                        capture_output=True, timeout=60)
    assert cp.returncode == 0 and not cp.stdout.strip() and not cp.stderr.strip(), \
        cp.stdout + cp.stderr
    return cp


def test_promtool_accepts_the_metrics_of_a_synthetic_report():
    doc = failing_doc()
    doc["last_backup"] = dict(FREEZE_121, freeze={"seconds": 40.4, "limit_seconds": 66,
                                                  "time": None}, name='odd "x"\n')
    promtool_check(render.report(doc, "prometheus"))


@pytest.mark.parametrize("sample", ["healthy", "broken"])
def test_promtool_accepts_check_format_prometheus(sample):
    tool = promtool()
    res = runner.invoke(app, ["check", "--root", os.path.join(SAMPLES, sample), "--format",
                              "prometheus"])
    assert res.exit_code == (0 if sample == "healthy" else 1), res.output
    samples = parse(res.output)
    assert samples[("azbdiag_backup_last_success", ())] == (1 if sample == "healthy" else 0)
    cp = subprocess.run([tool, "check", "metrics"], input=res.output, text=True,
                        capture_output=True, timeout=60)
    assert cp.returncode == 0 and not (cp.stdout + cp.stderr).strip(), cp.stdout + cp.stderr


def test_promtool_would_catch_a_broken_file():
    """The promtool test can fail: a sample without its TYPE line is refused."""
    promtool()
    cp = subprocess.run([promtool(), "check", "metrics"], input='x{a="1" 1\n', text=True,
                        capture_output=True, timeout=60)
    assert cp.returncode != 0
