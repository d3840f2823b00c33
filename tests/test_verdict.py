"""The verdict-first text report: the last backup decoded, the findings that explain it
first, ok and skipped as count lines, one line for a healthy run, every rule with --all;
and the JSON's `last_backup`."""

from __future__ import annotations

import json
import os
import re
import shutil

import extlog
import jsonschema
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from azbdiag import render, report
from azbdiag.cli import app
from azbdiag.render import verdict

runner = CliRunner()
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")


def result(rule_id, status, codes=(), summary="", title="t", evidence=(), remedy=None, fix=None):
    return {"id": rule_id, "title": title, "status": status, "skip_reason": None,
            "error_codes": list(codes), "summary": summary or f"{rule_id} is {status}",
            "evidence": list(evidence), "remedy": remedy, "fix": fix, "duration_ms": 1}


FREEZE_121 = {"outcome": "failed", "status_code": 121, "ext_code": 121, "code": 121,
              "name": "FailedRetryableFsFreezeFailed", "azure_error": "UserErrorFsFreezeFailed",
              "cause_rules": ["freeze.*", "vmbackup_conf.*", "extension.processes"],
              "status_file": "/var/lib/waagent/x/status/7.status", "time": "2026-11-20T02:14:31Z",
              "age_seconds": 3 * 86400, "freeze": None, "frozen": None}


def document(results, last=None):
    counts = {s: sum(1 for r in results if r["status"] == s)
              for s in ("ok", "warn", "fail", "skipped", "error")}
    return {"schema_version": 1, "tool": {"name": "azbdiag", "version": "0.1.0"},
            "generated_at": "2026-11-23T08:00:00Z", "duration_ms": 900,
            "host": {"root": "/", "live": True, "is_root": True, "kernel": "6.1.0-28-cloud-amd64",
                     "azure": True, "distro": {"id": "debian", "version": "12",
                                               "name": "Debian GNU/Linux 12 (bookworm)"}},
            "summary": counts, "results": results, "last_backup": last}


def failing_doc():
    results = [
        result("agent.version", "fail", ["UserErrorGuestAgentStatusUnavailable"],
               "the agent is 2.2.45, below the supported minimum 2.2.53.1", fix="agent"),
        result("dhcp.config", "fail", ["ExtensionSnapshotFailedNoNetwork"], "eth0 is static"),
        result("extension.last_status", "fail", ["UserErrorFsFreezeFailed"],
               "the last run failed with 121 (FailedRetryableFsFreezeFailed), reported by Azure "
               "as UserErrorFsFreezeFailed; see freeze.*, vmbackup_conf.*, extension.processes",
               evidence=["status 7.status: code 121"]),
        result("extension.processes", "skipped"),
        result("freeze.extension_log", "error", ["UserErrorFsFreezeFailed"], "log unreadable"),
        result("freeze.same_superblock", "warn", ["UserErrorFsFreezeFailed"],
               "/srv and /srv2 are one file system", evidence=["/dev/sdc1 at /srv and /srv2"]),
        result("platform.os_support", "ok"),
        result("vmbackup_conf.keys", "warn", [], "fsfreeze is not read"),
    ]
    results[3]["skip_reason"] = "offline root"
    return document(results, FREEZE_121)


def test_with_last_status_121_a_freeze_finding_is_listed_first():
    ranked = [r["id"] for r, _ in verdict.ranked_findings(failing_doc())]
    # freeze.* findings name UserErrorFsFreezeFailed: first, the warn before the fail of others;
    # then what code 121 points at (vmbackup_conf.*), then the other fail, error, warn
    assert ranked == ["freeze.extension_log", "freeze.same_superblock", "vmbackup_conf.keys",
                      "agent.version", "dhcp.config"]
    assert "extension.last_status" not in ranked          # that is the verdict itself
    text = render.report(failing_doc(), "text")
    blocks = re.findall(r"^\[(?:FAIL|WARN|ERROR)\] ([a-z_.]+):", text, re.M)
    assert blocks[0].startswith("freeze.") and blocks == ranked


def test_the_verdict_comes_first_and_decodes_the_last_result():
    lines = render.report(failing_doc(), "text").splitlines()
    assert " ".join(x.strip() for x in lines[2:4]) == (
        "Last backup: FAILED 2026-11-20 02:14 UTC (3 days ago) with extension code 121 "
        "(FailedRetryableFsFreezeFailed), shown in Azure as UserErrorFsFreezeFailed")
    assert "STATUS" not in "\n".join(lines)                 # no table without --all
    assert "2 ok" not in lines and "1 ok (--all lists every rule)" in lines
    assert "1 skipped: 1 offline root (--all lists them)" in lines
    assert "  (names UserErrorFsFreezeFailed, the error of the last backup)" in lines
    assert "  (a known cause of extension code 121)" in lines


def test_golden_verdict_first_text():
    """The layout as a whole; regenerate with AZBDIAG_UPDATE_GOLDEN=1 when it changes on purpose."""
    text = render.report(failing_doc(), "text")
    path = os.path.join(GOLDEN, "check-verdict.txt")
    if os.environ.get("AZBDIAG_UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    with open(path, encoding="utf-8") as fh:
        assert text == fh.read()


def test_all_lists_every_rule_after_the_verdict():
    text = render.report(failing_doc(), "text", full=True)
    assert text.splitlines()[2].startswith("Last backup: FAILED")
    table = text.split("STATUS   ID", 1)[1]
    for r in failing_doc()["results"]:
        assert re.search(rf"^\S+\s+{re.escape(r['id'])} ", table, re.M), r["id"]
    assert "1 ok, 2 warn, 3 fail, 1 skipped, 1 error" in text


def test_a_healthy_run_is_one_line():
    doc = document([result("agent.installed", "ok"), result("extension.last_status", "ok",
                                                            summary="the last run succeeded"),
                    result("selinux.mode", "skipped")],
                   dict(FREEZE_121, outcome="success", status_code=1, ext_code=1, code=1,
                        name="success", azure_error=None, age_seconds=7200))
    lines = render.report(doc, "text").splitlines()
    assert len(lines) == 3 and lines[1] == ""
    assert lines[2] == ("Healthy: no check found a problem (2 ok, 1 skipped); last backup: "
                        "succeeded 2026-11-20 02:14 UTC (2 h ago).")


@pytest.mark.parametrize("last, status, expected", [
    (None, "skipped", "Last backup: none on record (extension.last_status is skipped)"),
    (dict(FREEZE_121, outcome="stuck", status_code=4, code=4, name="", azure_error=None),
     "fail", "Last backup: STUCK in progress since 2026-11-20 02:14 UTC (3 days ago)"),
    (dict(FREEZE_121, outcome="in progress", status_code=4, code=4), "ok",
     "Last backup: in progress (started 2026-11-20 02:14 UTC (3 days ago))"),
    (dict(FREEZE_121, status_code=121, ext_code=761, code=121), "fail",
     "UserErrorFsFreezeFailed (vmHealthStatusCode 761)"),
])
def test_each_kind_of_last_result(last, status, expected):
    doc = document([result("extension.last_status", status), result("agent.conf", "warn")], last)
    assert expected in " ".join(render.report(doc, "text").split())


# ---- through the CLI on real rules -----------------------------------------------------------

@pytest.fixture
def failed_freeze_disk(tmp_path):
    """The broken sample, with a last backup that failed with 121 on /srv: its status file and
    an extension.log that shows the FIFREEZE failure."""
    root = tmp_path / "disk"
    shutil.copytree(os.path.join(SAMPLES, "broken"), root, symlinks=True)
    extlog.write_failed_freeze(str(root))
    return root


def test_the_cli_ranks_a_freeze_finding_first_for_code_121(failed_freeze_disk):
    res = runner.invoke(app, ["check", "--root", str(failed_freeze_disk)])
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    head = " ".join(x.strip() for x in lines[2:4])
    assert head.startswith("Last backup: FAILED 2026-11-07 22:00 UTC")
    assert "extension code 121 (FailedRetryableFsFreezeFailed), shown in Azure as " \
           "UserErrorFsFreezeFailed" in head
    first = re.search(r"^\[(FAIL|WARN|ERROR)\] ([a-z_.]+):", res.output, re.M)
    assert first.group(2).startswith("freeze."), res.output
    assert "/srv" in res.output


def test_the_cli_json_keeps_every_result_and_adds_last_backup(failed_freeze_disk):
    res = runner.invoke(app, ["check", "--root", str(failed_freeze_disk), "--format", "json"])
    doc = json.loads(res.output)
    jsonschema.validate(doc, report.load_schema())
    from azbdiag import engine

    assert [r["id"] for r in doc["results"]] == sorted(r.id for r in engine.all_rules())
    last = doc["last_backup"]
    assert (last["outcome"], last["status_code"], last["code"], last["azure_error"]) == \
        ("failed", 121, 121, "UserErrorFsFreezeFailed")
    assert last["time"] == "2026-11-07T22:00:01Z" and last["age_seconds"] > 0
    assert last["freeze"] == {"seconds": 5.3, "limit_seconds": 66, "time": "2026-11-06T22:00:01Z"}
    assert set(doc) == {"schema_version", "tool", "generated_at", "duration_ms", "host",
                        "summary", "results", "last_backup"}


def test_the_cli_healthy_sample_is_one_line_and_all_is_the_table():
    healthy = os.path.join(SAMPLES, "healthy")
    res = runner.invoke(app, ["check", "--root", healthy])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert len(lines) == 3 and lines[2].startswith("Healthy: no check found a problem (")
    assert "last backup: succeeded" in lines[2]
    full = runner.invoke(app, ["check", "--root", healthy, "--all"])
    assert full.exit_code == 0 and "STATUS   ID" in full.output
    from azbdiag import engine

    for r in engine.all_rules():
        assert re.search(rf"^\S+\s+{re.escape(r.id)} ", full.output, re.M), r.id


def test_only_without_the_verdict_rule_has_no_verdict():
    res = runner.invoke(app, ["check", "--root", os.path.join(SAMPLES, "broken"), "--only",
                              "vmbackup_conf"])
    assert "Last backup" not in res.output and "[FAIL] vmbackup_conf." in res.output
