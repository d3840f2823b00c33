"""`azbdiag explain`: the catalogue covers every code of the reference files, and the rules
listed under a code come from the rule registry."""

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azbdiag import catalogue, engine, render
from azbdiag.cli import app
from azbdiag.fix import registered_fixes
from azbdiag.model import ok

REF = os.environ.get("AZBDIAG_REFERENCE", "/work/shared/reference")
needs_ref = pytest.mark.skipif(not os.path.isdir(REF), reason=f"reference files not found in {REF}")
runner = CliRunner()


def _section(name, start, end):
    with open(os.path.join(REF, name), encoding="utf-8") as fh:
        text = fh.read()
    return text[text.index(start):text.index(end)]


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


# ---- the reference tables, parsed -----------------------------------------------------------

def peers_table():
    """(names, linux column) for every row of peers.md section 7's table."""
    rows = []
    for line in _section("peers.md", "## 7.", "## 8.").splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if cells[0] in ("code", "") or set(cells[0]) <= set("-"):
            continue
        code = cells[0].replace("**", "").strip()
        linux = cells[2].replace("**", "").strip()
        names = []
        m = re.match(r"(\w+)\*\s*\((.*)\)$", code)
        if m:   # UserErrorCrossSubscriptionRestore* (NotSupportedForOLR, …ForCRR, ...)
            prefix = m.group(1)
            for item in m.group(2).split(","):
                item = item.strip()
                # "…" stands for the NotSupported of the first item
                names.append(prefix + ("NotSupported" + item[1:] if item.startswith("…") else item))
        else:
            for part in code.split("/"):
                names.extend(part.split())    # "320001 ResourceNotFound" -> both
        rows.append((names, linux))
    return rows


def extension_table():
    """(numbers, names, health) for every row of vmbackup-extension.md section 3."""
    rows = []
    for line in _section("vmbackup-extension.md", "## 3.", "## 4.").splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) < 4 or not cells[0][:1].isdigit():
            continue
        num = cells[0]
        if "–" in num or re.match(r"\d+-\d+$", num):
            lo, hi = re.split(r"[–-]", num)
            numbers = list(range(int(lo), int(hi) + 1))
        else:
            numbers = [int(n) for n in num.split("/")]
        name = cells[1]
        m = re.match(r"(\w+)\{(.*)\}", name)
        if m:
            names = [m.group(1) + x.strip() for x in m.group(2).split(",")]
        else:
            names = [n.strip().lstrip("…") for n in name.split("/")]
        rows.append((numbers, names, cells[2]))
    return rows


def surfaces_table():
    pairs = []
    for line in _section("vmbackup-extension.md", "Service-side names", "## 4.").splitlines():
        cells = _cells(line) if line.strip().startswith("|") else []
        if len(cells) == 2 and cells[0].isdigit():
            pairs.append((int(cells[0]), cells[1]))
    return pairs


def article_codes():
    with open(os.path.join(REF, "000_fcc71c2b20eab0a3.txt"), encoding="utf-8") as fh:
        text = fh.read()
    found = re.findall(r"Codice (?:di )?errore:\s*(?:messaggio di errore\s+)?(?:(\d+),\s*)?"
                       r"([A-Za-z][A-Za-z0-9]+)", text)
    return found


# ---- coverage ------------------------------------------------------------------------------

@needs_ref
def test_every_peers_code_is_found_with_its_linux_relevance():
    rows = peers_table()
    assert len(rows) >= 35                      # the parser found the table
    allowed = {"Y": {"yes"}, "P": {"partly"}, "N": {"windows-only", "platform"},
               "N*": {"windows-only", "platform", "partly"}}
    seen = 0
    for names, linux in rows:
        for name in names:
            entry = catalogue.lookup(name)
            assert entry is not None, f"{name} missing from the catalogue"
            if not name.isdigit():
                assert entry["linux"] in allowed[linux], (name, entry["linux"], linux)
            seen += 1
    assert seen >= 45


@needs_ref
def test_numbers_and_names_of_a_row_are_the_same_entry():
    for names, _ in peers_table():
        numbers = [n for n in names if n.isdigit()]
        for number in numbers:
            following = names[names.index(number) + 1]
            assert catalogue.lookup(number) is catalogue.lookup(following)


@needs_ref
def test_every_code_of_the_italian_article_is_found():
    codes = article_codes()
    assert len(codes) >= 24
    for number, name in codes:
        entry = catalogue.lookup(name)
        assert entry is not None, f"{name} missing"
        if number:
            assert catalogue.lookup(number) is entry
            assert entry["number"] == int(number)


@needs_ref
def test_every_extension_status_code_is_found():
    rows = extension_table()
    assert sum(len(n) for n, _, _ in rows) == 54
    for numbers, names, health in rows:
        for i, number in enumerate(numbers):
            status = catalogue.extension_status(number)
            assert status is not None, f"extension code {number} missing"
            assert catalogue.lookup(str(number))["code"] == status["name"]
            name = names[i] if len(names) == len(numbers) else names[0]
            assert status["name"].endswith(name), (number, status["name"], name)
            if health in ("green", "yellow", "red"):
                assert status["health"] == health, number
            else:                               # "—" or "(missing)": none defined
                assert status["health"] is None, number


@needs_ref
def test_surfaces_as_matches_the_reference():
    pairs = surfaces_table()
    assert len(pairs) == 7
    for number, name in pairs:
        assert catalogue.extension_status(number)["surfaces_as"] == name
        assert catalogue.lookup(name)["kind"] == "azure"


def test_issue_examples():
    expect = {
        "AzureVmOffline": 380008, "ResourceNotFound": 320001, "BCMV2VMNotFound": 400094,
    }
    for name, number in expect.items():
        assert catalogue.lookup(str(number)) is catalogue.lookup(name)
    assert catalogue.lookup("VmNotInDesirableState")["code"] == "UserErrorVmNotInDesirableState"
    assert catalogue.lookup("VMBackupLinuxExtensionConfFileWrongEncodingFormat")["linux"] == "yes"
    assert catalogue.extension_status(121)["surfaces_as"] == "UserErrorFsFreezeFailed"
    assert catalogue.extension_status(122)["surfaces_as"] == "UserErrorFsFreezeTimeout"
    assert catalogue.extension_status(123)["surfaces_as"] == "UserErrorUnableToOpenMount"
    assert catalogue.extension_status(76)["surfaces_as"] == "ExtensionSnapshotFailedNoNetwork"
    assert catalogue.extension_status(85)["surfaces_as"] == "ExtensionFailedSnapshotLimitReachedError"
    assert catalogue.extension_status(173)["surfaces_as"] == "ExtensionFailedSnapshotRateExceededError"
    assert catalogue.extension_status(308)["surfaces_as"] == "ExtensionPreScriptTimeout"


def test_every_code_a_rule_names_is_in_the_catalogue():
    for r in engine.all_rules():
        for code in r.error_codes:
            assert catalogue.lookup(code) is not None, f"{r.id} names unknown code {code}"


# ---- lookup --------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["usererrorfsfreezefailed", "USERERRORFSFREEZEFAILED",
                                   "  UserErrorFsFreezeFailed ", "FsFreezeFailed"])
def test_lookup_is_case_insensitive(query):
    assert catalogue.lookup(query)["code"] == "UserErrorFsFreezeFailed"


def test_lookup_extension_spellings():
    assert catalogue.lookup("121")["code"] == "FailedRetryableFsFreezeFailed"
    assert catalogue.lookup("StatusCode.FailedRetryableFsFreezeFailed,")["number"] == 121
    assert catalogue.lookup("failedretryablefsfreezefailed")["number"] == 121
    assert catalogue.lookup("Pre-ScriptTimeout")["number"] == 308
    assert catalogue.lookup("0")["code"] == "success_appconsistent"
    assert catalogue.lookup("0121")["number"] == 121


@pytest.mark.parametrize("query", ["", "  ", "999999", "NoSuchCode", "usererror", None, "-1"])
def test_lookup_unknown(query):
    assert catalogue.lookup(query) is None


@pytest.mark.parametrize("query", [None, "x", "9999", 1.5, "abc"])
def test_extension_status_unknown(query):
    assert catalogue.extension_status(query) is None


def test_extension_status_shape():
    status = catalogue.extension_status(4)
    assert set(status) == {"code", "name", "health", "surfaces_as", "meaning"}
    assert status["code"] == 4 and status["name"] == "ExtensionTempTerminalState"
    assert catalogue.extension_status(556)["health"] is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_lookup_never_raises(text):
    entry = catalogue.lookup(text)
    assert entry is None or isinstance(entry, dict)


# ---- data integrity ------------------------------------------------------------------------

def test_entries_are_complete_and_names_unique():
    seen = {}
    for entry in catalogue.entries():
        assert entry["kind"] in catalogue.KINDS
        assert entry["linux"] in catalogue.RELEVANCE
        assert entry["title"].strip() and entry["meaning"].strip()
        assert isinstance(entry["causes"], list) and isinstance(entry["steps"], list)
        if entry["kind"] == "extension":
            assert isinstance(entry["number"], int)
            assert entry["health"] in ("green", "yellow", "red", None)
        names = [entry["code"], *entry["aliases"]]
        if entry["number"] is not None:
            names.append(str(entry["number"]))
        for name in names:
            key = name.lower()
            assert key not in seen, f"{name} names both {seen[key]} and {entry['code']}"
            seen[key] = entry["code"]


def test_fix_commands_in_steps_are_real_fix_ids():
    fix_ids = registered_fixes()
    for entry in catalogue.entries():
        for step in entry["steps"]:
            for fix_id in re.findall(r"azbdiag fix --([a-z-]+)", step):
                assert fix_id in fix_ids, (entry["code"], fix_id)


def test_check_commands_in_steps_name_real_rules():
    rules = engine.all_rules()
    for entry in catalogue.entries():
        for step in entry["steps"]:
            for only in re.findall(r"--only ([a-z0-9_.]+)", step):
                assert any(engine.matches(r.id, [only]) for r in rules), (entry["code"], only)


# ---- rules and fixes come from the registry --------------------------------------------------

def test_rules_under_a_code_come_from_the_registry():
    entry = catalogue.lookup("UserErrorCrossSubscriptionRestoreInvalidTenant")
    assert catalogue.as_dict(entry)["rules"] == []

    @engine.rule("zz_catalogue_test.probe", "probe rule for the catalogue test",
                 error_codes=("usererrorcrosssubscriptionrestoreinvalidtenant",), fix="dhcp")
    def probe(ctx):
        return ok("fine")

    try:
        data = catalogue.as_dict(entry)
        assert data["rules"] == [{"id": "zz_catalogue_test.probe",
                                  "title": "probe rule for the catalogue test", "fix": "dhcp"}]
        assert data["fixes"] == [{"id": "dhcp", "command": "sudo azbdiag fix --dhcp"}]
        text = render.code_entry(catalogue.as_dict(entry), "text")
        assert "zz_catalogue_test.probe" in text and "sudo azbdiag fix --dhcp" in text
    finally:
        del engine.REGISTRY["zz_catalogue_test.probe"]
    assert catalogue.as_dict(entry)["rules"] == []


def test_vmbackup_conf_rules_are_listed():
    data = catalogue.as_dict(catalogue.lookup("ExtensionFailedSnapshotLimitReachedError"))
    ids = [r["id"] for r in data["rules"]]
    assert "vmbackup_conf.isanysnapshotfailed" in ids
    assert {"id": "vmbackup-conf", "command": "sudo azbdiag fix --vmbackup-conf"} in data["fixes"]
    registry = {r.id for r in engine.all_rules()}
    for entry in catalogue.entries():
        for r in catalogue.as_dict(entry)["rules"]:
            assert r["id"] in registry


def test_extension_entry_lists_the_rules_of_the_azure_error():
    azure_rules = catalogue.as_dict(catalogue.lookup("UserErrorFsFreezeFailed"))["rules"]
    ext_rules = catalogue.as_dict(catalogue.lookup("121"))["rules"]
    assert azure_rules and all(r in ext_rules for r in azure_rules)
    behind = catalogue.as_dict(catalogue.lookup("UserErrorFsFreezeFailed"))["extension_codes"]
    assert behind == [{"number": 121, "name": "FailedRetryableFsFreezeFailed"}]


# ---- rendering and the CLI -----------------------------------------------------------------

AZURE_KEYS = {"code", "aliases", "number", "kind", "title", "linux_relevance", "meaning", "causes",
              "steps", "rules", "fixes", "extension_codes"}
EXT_KEYS = (AZURE_KEYS - {"extension_codes"}) | {"health", "surfaces_as", "raised_when"}


def test_json_shape():
    for entry in catalogue.entries():
        text = render.code_entry(catalogue.as_dict(entry), "json")
        assert text.endswith("\n")
        data = json.loads(text)
        assert set(data) == (EXT_KEYS if entry["kind"] == "extension" else AZURE_KEYS)
        assert data["code"] == entry["code"]


def test_text_render_for_every_entry():
    for entry in catalogue.entries():
        text = render.code_entry(catalogue.as_dict(entry), "text")
        assert text.endswith("\n") and text.startswith(entry["code"])
        assert "Linux guests:" in text


def test_cli_explain_number():
    res = runner.invoke(app, ["explain", "380008"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("AzureVmOffline (380008)")
    assert "Linux guests:  yes" in res.output


def test_cli_explain_case_insensitive_and_extension_code():
    res = runner.invoke(app, ["explain", "usererrorvmnotindesirablestate"])
    assert res.exit_code == 0 and "SELinux" in res.output
    res = runner.invoke(app, ["explain", "123"])
    assert res.exit_code == 0
    assert "FailedRetryableUnableToOpenMount (123)" in res.output
    assert "UserErrorUnableToOpenMount" in res.output


def test_cli_explain_shows_rules_and_fixes():
    res = runner.invoke(app, ["explain", "ExtensionFailedSnapshotLimitReachedError"])
    assert res.exit_code == 0
    assert "vmbackup_conf.isanysnapshotfailed" in res.output
    assert "sudo azbdiag fix --vmbackup-conf" in res.output


def test_cli_explain_json():
    res = runner.invoke(app, ["explain", "--format", "json", "400094"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["code"] == "BCMV2VMNotFound" and data["number"] == 400094
    assert data["linux_relevance"] == "platform" and set(data) == AZURE_KEYS


def test_cli_explain_unknown():
    res = runner.invoke(app, ["explain", "NotARealCode"])
    assert res.exit_code == 2  # a usage error, like an unknown rule id
    assert "unknown error code" in res.output
    assert "Traceback" not in res.output


def test_cli_explain_needs_a_code():
    res = runner.invoke(app, ["explain"])
    assert res.exit_code == 2


def test_cli_list_text():
    res = runner.invoke(app, ["explain", "--list"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split() == ["CODE", "LINUX", "TITLE"]
    assert len(lines) == len(catalogue.entries()) + 1
    row = next(ln for ln in lines if ln.startswith("UserErrorFsFreezeFailed "))
    assert row.split()[1] == "yes"
    assert any(ln.startswith("121 FailedRetryableFsFreezeFailed ") for ln in lines)


def test_cli_list_json_is_stable():
    first = runner.invoke(app, ["explain", "--list", "--format", "json"])
    second = runner.invoke(app, ["explain", "--list", "--format", "json"])
    assert first.exit_code == 0 and first.output == second.output
    rows = json.loads(first.output)
    assert len(rows) == len(catalogue.entries())
    assert all(set(r) == {"code", "number", "kind", "linux_relevance", "title"} for r in rows)
    assert {r["linux_relevance"] for r in rows} == set(catalogue.RELEVANCE)


def test_cli_bad_format():
    res = runner.invoke(app, ["explain", "--format", "xml", "121"])
    assert res.exit_code == 2


def test_damaged_data_file_is_one_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "error_codes.json"
    bad.write_bytes(b"\x00not json")
    monkeypatch.setattr(catalogue, "DATA_FILE", str(bad))
    monkeypatch.setattr(catalogue, "_entries", None)
    monkeypatch.setattr(catalogue, "_index", None)
    with pytest.raises(catalogue.CatalogueError, match="cannot read the error code catalogue"):
        catalogue.lookup("121")
    res = runner.invoke(app, ["explain", "121"])
    assert res.exit_code == 3 and "cannot read the error code catalogue" in res.output
    assert "Traceback" not in res.output
