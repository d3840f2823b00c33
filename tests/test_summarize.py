"""`azbdiag summarize` over fixture reports: grouping, formats, rejected files, exit codes."""

import csv
import io
import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_schema import REPORT_SCHEMA, instance_for, json_values
from typer.testing import CliRunner

from azbdiag import render, report, schema
from azbdiag import summarize as sm
from azbdiag.cli import app

runner = CliRunner()
CHECK = schema.compile_schema(report.load_schema())


def result(rule_id, status, codes=(), fix=None, title=None):
    return {"id": rule_id, "title": title or f"title of {rule_id}", "status": status,
            "skip_reason": None, "error_codes": list(codes), "summary": f"{rule_id} is {status}",
            "evidence": [], "remedy": None, "fix": fix, "duration_ms": 1}


def make_report(hostname="", results=(), is_root=True, **top):
    results = list(results)
    counts = {s: sum(1 for r in results if r["status"] == s)
              for s in ("ok", "warn", "fail", "skipped", "error")}
    doc = {"schema_version": 1, "tool": {"name": "azbdiag", "version": "0.1.0"},
           "generated_at": "2026-01-01T00:00:00Z", "duration_ms": 5,
           "host": {"root": "/", "live": True, "distro": {"id": "debian", "version": "12",
                                                           "name": "Debian", "like": ""},
                    "kernel": "6.1", "azure": True, "is_root": is_root, "hostname": hostname,
                    "arch": "x86_64"},
           "summary": counts, "results": results}
    doc.update(top)
    return doc


BOM = result("vmbackup_conf.parses", "fail",
             ("UserErrorFsFreezeFailed", "ExtensionConfigParsingFailure"), "vmbackup-conf")
ASR = result("vmbackup_conf.isanysnapshotfailed", "fail", ("ExtensionFailedSnapshotLimitReachedError",),
             "vmbackup-conf")
LEGACY = result("vmbackup_conf.isanysnapshotfailed", "warn",
                ("ExtensionFailedSnapshotLimitReachedError",), "vmbackup-conf")
KEYS = result("vmbackup_conf.keys", "warn")
FREEZE = result("freeze.mounts", "error", ("UserErrorFsFreezeFailed",), "freeze")
OK = result("agent.running", "ok", ("UserErrorGuestAgentStatusUnavailable",), "agent")


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
        fh.write(content if isinstance(content, (bytes, str)) else json.dumps(content))
    return str(path)


@pytest.fixture
def fleet(tmp_path):
    reports = tmp_path / "reports"
    write(reports / "web1" / "report.json", make_report("vm-web1", [BOM, KEYS, OK]))
    write(reports / "db1" / "report.json", make_report("vm-db1", [ASR, FREEZE, OK]))
    write(reports / "app7" / "report.json", make_report("", [LEGACY, OK]))  # no hostname
    write(reports / "ok1" / "report.json", make_report("vm-ok1", [OK], is_root=False))
    write(reports / "notes.txt", "not a report, not *.json: ignored")
    return reports


def summarize(*args):
    res = runner.invoke(app, ["summarize", *map(str, args)])
    assert "Traceback" not in res.output
    return res


def summarize_json(tmp_path, *paths):
    out = tmp_path / "summary.json"
    res = summarize(*paths, "--format", "json", "--output", out)
    return res, (json.loads(out.read_text()) if out.exists() else None)


def test_groups_by_error_code_with_hosts_and_fix(tmp_path, fleet):
    res, s = summarize_json(tmp_path, fleet)
    assert res.exit_code == 5, res.output  # vm-db1 has an error result: 5, before 1 (a fail)
    assert s["totals"] == {"reports": 4, "rejected": 0, "hosts_fail": 2, "hosts_warn_only": 1,
                           "hosts_error": 1, "hosts_clean": 1, "hosts_not_root": 1}
    rules = {r["id"]: r for r in s["rules"]}
    assert rules["vmbackup_conf.parses"]["fail"] == ["vm-web1"]
    assert rules["vmbackup_conf.parses"]["fix"] == "vmbackup-conf"
    snap = rules["vmbackup_conf.isanysnapshotfailed"]
    assert snap["fail"] == ["vm-db1"] and snap["warn"] == ["app7"]  # folder name when no hostname
    assert rules["freeze.mounts"]["error"] == ["vm-db1"] and "agent.running" not in rules
    codes = {c["error_code"]: c for c in s["error_codes"]}
    assert codes["UserErrorFsFreezeFailed"]["rules"] == ["vmbackup_conf.parses", "freeze.mounts"]
    assert codes["UserErrorFsFreezeFailed"]["hosts_fail"] == 1
    assert codes["UserErrorFsFreezeFailed"]["hosts_error"] == 1
    assert codes["ExtensionFailedSnapshotLimitReachedError"]["hosts_fail"] == 1
    assert codes["ExtensionFailedSnapshotLimitReachedError"]["hosts_warn"] == 1
    assert codes[sm.NO_CODE]["rules"] == ["vmbackup_conf.keys"]
    assert s["error_codes"][-1]["error_code"] == sm.NO_CODE
    hosts = {h["host"]: h for h in s["hosts"]}
    assert hosts["vm-web1"]["failed_rules"] == ["vmbackup_conf.parses"]
    assert hosts["vm-web1"]["file"].endswith(os.path.join("web1", "report.json"))
    assert hosts["vm-ok1"]["fail"] == hosts["vm-ok1"]["warn"] == 0 and hosts["vm-ok1"]["ok"] == 1


def test_text_table(fleet):
    res = summarize(fleet)
    assert res.exit_code == 5
    lines = res.output.splitlines()
    assert lines[0].startswith("azbdiag summarize: 4 report(s): 2 host(s) with a fail")
    row = next(ln for ln in lines if ln.strip().startswith("vmbackup_conf.isanysnapshotfailed"))
    assert "vmbackup-conf" in row and "fail: vm-db1" in row and "warn: app7" in row
    assert "1 report(s) were made without root" in res.output
    assert "sudo azbdiag fix --vmbackup-conf" in res.output


def test_only_warnings_exit_0_and_files_can_be_named(tmp_path):
    a = write(tmp_path / "a.json", make_report("a", [LEGACY]))
    b = write(tmp_path / "b.json", make_report("b", [OK]))
    res, s = summarize_json(tmp_path, a, b)
    assert res.exit_code == 0 and s["totals"]["hosts_fail"] == 0 and s["totals"]["reports"] == 2


def test_same_file_twice_counts_once(tmp_path, fleet):
    one = fleet / "web1" / "report.json"
    os.symlink(one, tmp_path / "link.json")
    res, s = summarize_json(tmp_path, fleet, one, tmp_path / "link.json")
    assert s["totals"]["reports"] == 4


def test_duplicate_hostnames_are_told_apart_by_folder(tmp_path):
    write(tmp_path / "r" / "x1" / "report.json", make_report("clone", [BOM]))
    write(tmp_path / "r" / "x2" / "report.json", make_report("clone", [BOM]))
    res, s = summarize_json(tmp_path, tmp_path / "r")
    assert s["rules"][0]["fail"] == ["clone (x1)", "clone (x2)"]


BAD_FILES = {
    "malformed.json": ('{"schema_version": 1,, }', "malformed JSON"),
    "truncated.json": (json.dumps(make_report("t", [BOM]))[:200], "truncated JSON"),
    "binary.json": (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file"),
    "latin1.json": (b'{"a": "\xe9"}', "not UTF-8"),
    "empty.json": ("  \n", "empty file"),
    "foreign.json": ({"name": "package.json", "version": "1.0"}, "not an azbdiag report"),
    "list.json": ([1, 2, 3], "not an azbdiag report"),
    "other-tool.json": ({"schema_version": 1, "tool": {"name": "lynis"}}, "made by 'lynis'"),
    "v2.json": (make_report("v2", [BOM], schema_version=2), "schema_version 2 is newer than"),
    "v0.json": (make_report("v0", [BOM], schema_version="1"), "schema_version '1' is not supported"),
    "no-version.json": ({"tool": {"name": "azbdiag", "version": "1"}}, "no schema_version"),
    "bad-status.json": (make_report("s", [dict(BOM, status="broken")]),
                        "results[0].status: 'broken' is not one of"),
    "missing.json": ({"schema_version": 1, "tool": {"name": "azbdiag", "version": "1"}},
                     "'host' is missing"),
    "deep.json": ("[" * 100000 + "]" * 100000, "malformed JSON"),
}


def test_bad_files_are_named_and_skipped(tmp_path, fleet):
    for name, (content, _reason) in BAD_FILES.items():
        write(fleet / "bad" / name, content)
    os.makedirs(tmp_path / "empty-dir")
    res, s = summarize_json(tmp_path, fleet, tmp_path / "nope", tmp_path / "empty-dir")
    assert res.exit_code == 5 and s["totals"]["reports"] == 4
    reasons = {os.path.basename(r["file"]): r["reason"] for r in s["rejected"]}
    for name, (_content, reason) in BAD_FILES.items():
        assert reason in reasons[name], (name, reasons[name])
        assert f"skipped {fleet / 'bad' / name}: " in res.output
    assert reasons["nope"] == "no such file or folder"
    assert reasons["empty-dir"] == "folder holds no *.json file"
    assert len(s["rejected"]) == len(BAD_FILES) + 2


def test_no_valid_report_exits_3(tmp_path):
    bad = write(tmp_path / "x.json", "{")
    res = summarize(bad)
    assert res.exit_code == 3
    assert "skipped" in res.output and "no valid report" in res.output


@pytest.mark.parametrize("args", [["--format", "xml"], []])
def test_usage_errors_exit_2(tmp_path, args):
    assert summarize(*args).exit_code == 2


HOSTILE = "ev<script>il|\x1b[31m=1+1&amp;"


def hostile_fleet(tmp_path):
    title = "<b>bold</b> | *star*"
    write(tmp_path / "r" / "h" / "report.json",
          make_report(HOSTILE, [result("area.rule", "fail", ("Code<x>",), "=cmd|' /C calc'!A0", title)]))
    return tmp_path / "r"


def test_html_is_escaped_and_self_contained(tmp_path):
    out = tmp_path / "s.html"
    res = summarize(hostile_fleet(tmp_path), "--format", "html", "--output", out)
    assert res.exit_code == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<b>" not in page and "\x1b" not in page
    assert "ev&lt;script&gt;il|" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Code&lt;x&gt;" in page and "&amp;amp;" in page
    assert "src=" not in page and "href=" not in page and "http" not in page.replace(
        "http-equiv", "")


def test_markdown_escapes_table_breakers(tmp_path, fleet):
    res = summarize(hostile_fleet(tmp_path), "--format", "markdown")
    assert "\x1b" not in res.output
    row = next(ln for ln in res.output.splitlines() if ln.startswith("| area.rule"))
    assert row.count("|") - row.count("\\|") == 7  # a 6-column row: the cells add no pipes
    assert "\\<b\\>bold" in row and "ev\\<script\\>il\\|" in row
    res = summarize(fleet, "--format", "markdown")
    assert "| vmbackup\\_conf.parses<br>" in res.output and "# azbdiag fleet summary" in res.output


def test_csv_rows_and_formula_cells(tmp_path, fleet):
    out = tmp_path / "s.csv"
    summarize(fleet, "--format", "csv", "--output", out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    snap = [r for r in rows if r["rule_id"] == "vmbackup_conf.isanysnapshotfailed"]
    assert len(snap) == 1 and snap[0]["fail_hosts"] == "vm-db1" and snap[0]["warn_hosts"] == "app7"
    assert snap[0]["error_code"] == "ExtensionFailedSnapshotLimitReachedError"
    assert snap[0]["fix"] == "vmbackup-conf" and snap[0]["fail_count"] == "1"
    assert {r["error_code"] for r in rows if r["rule_id"] == "vmbackup_conf.parses"} == {
        "UserErrorFsFreezeFailed", "ExtensionConfigParsingFailure"}
    summarize(hostile_fleet(tmp_path), "--format", "csv", "--output", out)
    row = next(csv.DictReader(io.StringIO(out.read_text())))
    assert row["fix"].startswith("'=") and row["fail_hosts"] == "ev<script>il| [31m=1+1&amp;"


def test_text_strips_terminal_escapes(tmp_path):
    res = summarize(hostile_fleet(tmp_path))
    assert res.exit_code == 1 and "\x1b" not in res.output and "ev<script>il|" in res.output


def test_real_check_reports(tmp_path):
    from conftest import SAMPLES

    for name in ("healthy", "broken"):
        out = tmp_path / "r" / name / "report.json"
        out.parent.mkdir(parents=True)
        res = runner.invoke(app, ["check", "--root", os.path.join(SAMPLES, name), "--format",
                                  "json", "--output", str(out)])
        assert res.exit_code in (0, 1), res.output
    res, s = summarize_json(tmp_path, tmp_path / "r")
    assert s["totals"]["reports"] == 2 and not s["rejected"]
    rules = {r["id"]: r for r in s["rules"]}
    assert rules["vmbackup_conf.isanysnapshotfailed"]["fail"] == ["vm-broken"]


FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace"))
       | json_values.map(lambda v: json.dumps(v).encode()))
def test_loader_never_raises_on_any_bytes(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(os.path.join(tmp, "r.json"), raw)
        doc, reason = sm.load_report(path, CHECK)
    assert (doc is None) != (reason is None)
    assert reason is None or ("\n" not in reason and reason)


@FUZZ
@given(st.data())
def test_loader_and_renderers_never_raise_on_report_like_documents(data):
    docs = [instance_for(data.draw, REPORT_SCHEMA, mutate=data.draw(st.sampled_from([0, 40])))
            for _ in range(data.draw(st.integers(1, 3)))]
    with tempfile.TemporaryDirectory() as tmp:
        for i, doc in enumerate(docs):
            write(os.path.join(tmp, f"h{i}", "report.json"), doc)
        s = sm.summarize_paths([tmp])
        assert s["totals"]["reports"] + s["totals"]["rejected"] == len(docs)
        for fmt in render.SUMMARY_FORMATS:
            assert isinstance(render.summary(s, fmt), str)


def test_worker_processes_give_the_same_summary(tmp_path):
    for i in range(sm.PARALLEL_FROM + 20):  # workers only with --jobs N (one process by default)
        results = [BOM if i % 3 == 0 else OK, LEGACY if i % 5 == 0 else KEYS]
        write(tmp_path / "r" / f"h{i}" / "report.json", make_report(f"vm{i}", results))
    write(tmp_path / "r" / "bad" / "report.json", "{")
    serial = sm.summarize_paths([tmp_path / "r"], jobs=1)
    parallel = sm.summarize_paths([tmp_path / "r"], jobs=2)
    serial.pop("generated_at"), parallel.pop("generated_at")
    assert parallel == serial
    assert serial["totals"]["reports"] == sm.PARALLEL_FROM + 20 and serial["totals"]["rejected"] == 1
    assert serial["rules"][0]["id"] == "vmbackup_conf.parses"
    assert serial["rules"][0]["fail"][:3] == ["vm0", "vm3", "vm6"]  # natural order


def test_an_unexpected_error_costs_one_file_only(tmp_path, monkeypatch):
    write(tmp_path / "r" / "a" / "report.json", make_report("a", [BOM]))
    write(tmp_path / "r" / "b" / "report.json", make_report("b", [ASR]))
    real = sm.digest
    monkeypatch.setattr(sm, "digest", lambda p, d: real(p, d) if d["host"]["hostname"] == "a"
                        else 1 / 0)
    s = sm.summarize_paths([tmp_path / "r"], jobs=1)
    assert s["totals"]["reports"] == 1
    assert "ZeroDivisionError" in s["rejected"][0]["reason"]


@pytest.mark.parametrize("fmt", render.SUMMARY_FORMATS)
def test_lone_surrogates_and_undecodable_file_names_still_render(tmp_path, fmt):
    folder = os.path.join(os.fsencode(tmp_path), b"r", b"caf\xe9")
    os.makedirs(folder)
    text = json.dumps(make_report("\ud800host", [BOM], generated_at="\udfff", extra_key="\ud834"))
    with open(os.path.join(folder, b"report.json"), "w", encoding="ascii") as fh:
        fh.write(text)  # json.dumps escaped the surrogates: the file itself is plain ASCII
    out = tmp_path / f"s.{fmt}"
    res = summarize(tmp_path / "r", "--format", fmt, "--output", out)
    assert res.exit_code == 1, res.output
    assert out.read_text(encoding="utf-8")


@given(st.lists(st.text(max_size=6), max_size=8))
def test_natural_sort_key_orders_any_names(names):
    ordered = sorted(names, key=sm._natural)
    assert sorted(ordered, key=sm._natural) == ordered
    assert sorted(["vm10", "vm9", "vm²"], key=sm._natural)[:2] == ["vm9", "vm10"]


def test_unwritable_output_is_one_line(tmp_path, fleet):
    (tmp_path / "file").write_text("x")
    res = summarize(fleet, "--output", tmp_path / "file" / "out.txt")   # a wrong path: 2
    assert res.exit_code == 2 and "is not a folder" in res.output.splitlines()[-1]
    res = summarize(fleet, "--output", tmp_path / "missing" / "out.txt")
    assert res.exit_code == 2 and "does not exist" in res.output.splitlines()[-1]
    assert not (tmp_path / "missing").exists()


def test_item10_fifos_named_json_are_refused_not_waited_for(tmp_path, fleet):
    """Issue 11 item 10: summarize DIR with a FIFO named *.json (also behind a symlink, and
    named on the command line) returns at once, the FIFO named as skipped, never opened."""
    import subprocess
    import sys

    from conftest import ROOT

    d = tmp_path / "with-fifos"
    d.mkdir()
    os.mkfifo(d / "stuck.json")
    os.symlink(d / "stuck.json", d / "link.json")
    with open(fleet / "web1" / "report.json", "rb") as src:
        (d / "web1.json").write_bytes(src.read())
    os.mkfifo(tmp_path / "named.json")
    proc = subprocess.run([sys.executable, "-m", "azbdiag", "summarize", str(d),
                           str(tmp_path / "named.json"), "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode in (0, 1), proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if "FIFO" in line]
    # stuck.json and link.json are one file (read once), named.json another
    assert len(skipped) == 2 and all("not read" in line for line in skipped), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["totals"]["rejected"] == 2 and doc["totals"]["reports"] == 1


# ---- the summary against a plain reading of every report (issue 15's streaming build) -------
def reference_summary(paths):
    """The summary as the first summarize built it, host by host, every list in full: what
    build_summary (groups of hosts, a lazy hosts table) must still give."""
    import collections

    docs = []
    for path in sm.find_reports(paths)[0]:
        doc, _reason = sm.load_report(path, CHECK)
        if doc is not None:
            docs.append((path, doc))

    def parent(path):
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or path

    names = [render.one_line(d["host"].get("hostname") or "") or render.one_line(parent(p))
             or render.one_line(p) for p, d in docs]
    counts = collections.Counter(names)
    labels = [f"{n} ({render.one_line(parent(p))})" if counts[n] > 1 else n
              for n, (p, _d) in zip(names, docs)]
    counts = collections.Counter(labels)
    labels = [f"{n} ({render.one_line(p)})" if counts[lab] > 1 else lab
              for n, lab, (p, _d) in zip(names, labels, docs)]
    rules, hosts = {}, []
    for label, (path, doc) in zip(labels, docs):
        found = {s: [] for s in sm.FINDINGS}
        tally = {s: 0 for s in sm.STATUSES}
        for r in doc["results"]:
            tally[r["status"]] += 1
            if r["status"] not in sm.FINDINGS:
                continue
            found[r["status"]].append(r["id"])
            e = rules.setdefault(r["id"], {"id": r["id"], "title": render.one_line(r["title"]),
                                           "fix": r["fix"], "error_codes": [], "fail": [],
                                           "warn": [], "error": []})
            for code in map(render.one_line, r["error_codes"]):
                if code and code not in e["error_codes"]:
                    e["error_codes"].append(code)
            if e["fix"] is None and r["fix"]:
                e["fix"] = r["fix"]
            e[r["status"]].append(label)
        hostname = render.one_line(doc["host"].get("hostname") or "")
        hosts.append({"host": label, "file": path, "hostname": hostname,
                      "generated_at": doc["generated_at"], "tool_version": doc["tool"]["version"],
                      "live": doc["host"]["live"], "root": doc["host"]["root"],
                      "is_root": doc["host"]["is_root"], **tally, "failed_rules": found["fail"],
                      "warned_rules": found["warn"], "error_rules": found["error"]})
    for e in rules.values():
        for status in sm.FINDINGS:   # natural order; equal keys in the order read
            e[status] = sorted(dict.fromkeys(e[status]), key=sm._natural)
        e["fix"] = render.one_line(e["fix"]) if e["fix"] else None
    hosts.sort(key=lambda h: (-h["fail"], -h["warn"], -h["error"], sm._natural(h["host"])))
    return sorted(rules.values(), key=lambda e: (-len(e["fail"]), -len(e["warn"]),
                                                 -len(e["error"]), e["id"])), hosts


FLEET_RESULTS = [BOM, ASR, LEGACY, KEYS, FREEZE, OK, dict(BOM, fix=None), dict(BOM, fix=""),
                 dict(ASR, error_codes=["B", "UserErrorFsFreezeFailed"], title="other title"),
                 result("agent.version", "skipped"), dict(KEYS, status="error")]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["", "vm1", "VM1", "vm10", "vm9", "x (y)", "\x1bz"]),
                          st.sampled_from(["a", "b", "c/d"]),
                          st.lists(st.sampled_from(FLEET_RESULTS), max_size=5),
                          st.booleans()), min_size=1, max_size=12))
def test_summary_is_what_reading_every_report_gives(hosts):
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, folder, results, is_root) in enumerate(hosts):
            write(os.path.join(tmp, folder, f"r{i}.json"),
                  make_report(name, results, is_root=is_root, generated_at=f"t{i % 3}"))
        s = sm.summarize_paths([tmp])
        rules, table = reference_summary([tmp])
    assert s["rules"] == rules
    assert list(s["hosts"]) == table and s["hosts"] == table and len(s["hosts"]) == len(table)
    assert s["hosts"][1:3] == table[1:3] and s["hosts"][-1] == table[-1]
    # the JSON lines of the hosts table are json.dumps of its dicts
    assert list(s["hosts"].json_lines()) == [json.dumps(h) for h in table]
    assert s["totals"]["hosts_fail"] == sum(1 for h in table if h["fail"])
    assert s["totals"]["hosts_not_root"] == sum(1 for h in table if not h["is_root"])
    for code in s["error_codes"]:
        members = [r for r in rules if r["id"] in code["rules"]]
        fail = {h for r in members for h in r["fail"]}
        assert code["hosts_fail"] == len(fail)
        assert code["hosts_warn"] == len({h for r in members for h in r["warn"]} - fail)


def test_printed_summary_is_the_written_one_and_a_gone_reader_is_no_error(tmp_path, fleet):
    """Written to stdout as it is rendered: the same text as --output, and `| head` ends it
    with the exit status, not an error. The reader takes one line from a one-page pipe and
    goes: more than a page is still to come, so azbdiag surely writes into the closed pipe
    (with the default 64 KiB pipe, a summary that fits could be written whole before the
    reader left, and the test passed without a gone reader)."""
    import fcntl
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1")
    for i in range(400):   # more hosts than one piece of the JSON holds, a page of each format
        write(fleet / "many" / f"h{i}" / "report.json", make_report(f"vm{i}", [BOM, OK]))
    for fmt in render.SUMMARY_FORMATS:
        out = tmp_path / f"s.{fmt}"
        args = [sys.executable, "-m", "azbdiag", "summarize", str(fleet), "--format", fmt]
        printed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=120)
        subprocess.run(args + ["--output", str(out)], cwd=ROOT, env=env, capture_output=True,
                       timeout=120, check=False)
        assert printed.returncode == 5, printed.stderr

        def same(text):
            return "\n".join(line for line in text.splitlines() if "generated" not in line)
        assert same(printed.stdout) == same(out.read_text(encoding="utf-8"))
        read_end, write_end = os.pipe()
        fcntl.fcntl(read_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
        page = fcntl.fcntl(read_end, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        try:
            head = subprocess.Popen(args, cwd=ROOT, env=env, stdout=write_end,
                                    stderr=subprocess.PIPE)
        finally:
            os.close(write_end)
        first = b""
        try:
            while not first.endswith(b"\n"):
                byte = os.read(read_end, 1)
                assert byte, f"{fmt}: no first line"
                first += byte
        finally:
            os.close(read_end)   # the reader goes after one line
        assert len(printed.stdout.encode()) - len(first) > page, f"{fmt}: fits in the pipe"
        assert head.wait(timeout=120) == 5
        assert "error" not in head.stderr.read().decode(), fmt
        head.stderr.close()
