"""The CLI end to end through typer's CliRunner (result.output only: portable across typer)."""

import json
import os

import jsonschema
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from azbdiag import __version__, render, report
from azbdiag.cli import app

runner = CliRunner()
HEALTHY = os.path.join(SAMPLES, "healthy")
BROKEN = os.path.join(SAMPLES, "broken")


def invoke(*args):
    return runner.invoke(app, list(args))


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"azbdiag {__version__}"


def test_broken_root_reports_fail_and_exits_1():
    res = invoke("check", "--root", BROKEN, "--only", "vmbackup_conf")
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "vmbackup_conf.isanysnapshotfailed" in res.output
    assert "remedy:" in res.output and "\033[" not in res.output  # no colour without a TTY


def test_healthy_root_exits_0_and_fail_on_warn():
    res = invoke("check", "--root", HEALTHY, "--only", "vmbackup_conf")
    assert res.exit_code == 0, res.output
    res = invoke("check", "--root", BROKEN, "--only", "vmbackup_conf.keys", "--fail-on", "warn")
    assert res.exit_code == 1


def test_json_validates_against_schema(tmp_path):
    out = tmp_path / "r.json"
    res = invoke("check", "--root", BROKEN, "--format", "json", "--output", str(out))
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, report.load_schema())
    assert doc["host"]["live"] is False and doc["host"]["root"] == BROKEN
    assert doc["host"]["distro"]["id"] == "debian"
    by_id = {r["id"]: r for r in doc["results"]}
    r = by_id["vmbackup_conf.isanysnapshotfailed"]
    assert r["status"] == "fail" and r["fix"] == "vmbackup-conf"
    assert r["error_codes"] == ["ExtensionFailedSnapshotLimitReachedError"]
    assert sum(doc["summary"].values()) == len(doc["results"])


def test_schema_rejects_a_bad_document():
    doc = json.loads(json.dumps({"schema_version": 1}))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, report.load_schema())


def test_brief_stays_under_4kb():
    res = invoke("check", "--root", BROKEN, "--brief")
    assert res.exit_code == 1
    assert len(res.output.encode()) < 4096
    assert res.output.startswith("azbdiag ") and "FAIL vmbackup_conf." in res.output


def test_brief_truncates_many_findings():
    from azbdiag.model import Result, Status

    results = []
    for i in range(300):
        r = Result(Status.FAIL, "x" * 200)
        r.id, r.title, r.error_codes = f"area.rule{i}", "t", ("UserErrorFsFreezeFailed",)
        results.append(r)

    class Facts:
        def as_json(self):
            return {"root": "/", "live": True, "distro": {"id": "d", "version": "1", "name": "n"},
                    "kernel": "k", "azure": None, "is_root": True}

    text = render.report(report.build_document(Facts(), results), "brief")
    assert len(text.encode()) < 4096 and "more (use --format json)" in text


def test_root_not_a_directory_exits_3_with_one_line(tmp_path):
    res = invoke("check", "--root", str(tmp_path / "nope"))
    assert res.exit_code == 3
    assert "no such directory" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    (tmp_path / "file").write_text("x")
    res = invoke("check", "--root", str(tmp_path / "file"))
    assert res.exit_code == 3 and "not a directory" in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["check", "--format", "xml"],
    ["check", "--fail-on", "never"],
    ["check", "--no-such-option"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(args):
    res = invoke(*args)
    assert res.exit_code == 2, res.output


def test_rules_lists_every_rule_with_flags():
    res = invoke("rules", "--format", "json")
    assert res.exit_code == 0
    rows = json.loads(res.output)
    ids = {r["id"] for r in rows}
    assert "vmbackup_conf.parses" in ids
    assert all({"needs_root", "live_only", "error_codes", "title"} <= set(r) for r in rows)
    text = invoke("rules")
    assert "vmbackup_conf.parses" in text.output


def test_not_root_says_to_rerun_with_sudo(monkeypatch):
    from azbdiag import engine
    from azbdiag.model import Rule, ok

    def needs_root(ctx):
        """Needs root."""
        return ok("ran")

    monkeypatch.setitem(engine.REGISTRY, "test.needs_root",
                        Rule("test.needs_root", "needs root", needs_root, needs_root=True))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    res = invoke("check", "--root", HEALTHY, "--only", "test.needs_root")
    assert "1 skipped" in res.output and "re-run with sudo" in res.output


def test_internal_error_is_one_line_exit_3(monkeypatch):
    from azbdiag import engine

    def broken(*a, **k):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(engine, "run_rules", broken)
    res = invoke("check", "--root", HEALTHY)
    assert res.exit_code == 3
    assert "internal error" in res.output and "Traceback" not in res.output


def test_module_entry_point_runs(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "azbdiag", "--version"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"azbdiag {__version__}"


def test_healthy_sample_has_no_findings():
    res = invoke("check", "--root", HEALTHY, "--format", "json", "--fail-on", "warn")
    doc = json.loads(res.output)
    bad = [(r["id"], r["status"]) for r in doc["results"] if r["status"] in ("warn", "fail", "error")]
    assert bad == [] and res.exit_code == 0


@pytest.mark.parametrize("rule_id", [
    "agent.version", "agent.extensions_enabled", "agent.disable_agent", "dhcp.config",
    "extension.last_status", "vmbackup_conf.isanysnapshotfailed", "vmbackup_conf.integer_keys",
    "vmbackup_conf.mounts_to_skip",
])
def test_broken_sample_shows_each_planted_fault(rule_id):
    res = invoke("check", "--root", BROKEN, "--format", "json")
    by_id = {r["id"]: r for r in json.loads(res.output)["results"]}
    assert by_id[rule_id]["status"] == "fail", by_id[rule_id]


def test_internal_error_message_is_redacted(monkeypatch):
    from azbdiag import engine

    def leaky(*a, **k):
        raise RuntimeError("PUT https://acct.blob.core.windows.net/c/d?sv=1&sig=TOPSECRET failed")

    monkeypatch.setattr(engine, "run_rules", leaky)
    res = invoke("check", "--root", HEALTHY)
    assert res.exit_code == 3 and "TOPSECRET" not in res.output
    assert "https://acct.blob.core.windows.net/c/d?" in res.output
