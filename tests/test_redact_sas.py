"""Storage SAS URLs (their `sig=` is a credential) never reach anything azbdiag prints or
writes: the redact() patterns, and `azbdiag check` end to end on a root whose extension
settings, status, handler and log files are full of SAS URLs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azbdiag import engine
from azbdiag.cli import app
from azbdiag.host import Host
from azbdiag.parsers.extension_dir import HANDLER
from azbdiag.redact import REDACTED, redact
from azbdiag.runner import FakeRunner

MARK = "SECRETSIG"
BLOB = "https://acct01.blob.core.windows.net/vhds/osdisk-1234.vhd"
# A signature not followed by <redacted>, in plain, URL-encoded or JSON-escaped form.
LEAK = re.compile(r"(?i)sig(?:=|%3d|\\u003d)(?!<redacted>)")


def sas(n: int) -> str:
    return f"{BLOB}?sv=2020-08-04&sr=b&sig={MARK}{n}a%2Bb%2Fc%3D&se=2027-01-01T00%3A00%3A00Z&sp=rw"


def encoded(n: int) -> str:
    """The same URL percent-encoded, as it appears when passed inside another URL."""
    from urllib.parse import quote

    return quote(sas(n), safe="")


def json_escaped(n: int) -> str:
    """The same URL with ? and & escaped the way some JSON encoders write them."""
    return sas(n).replace("?", "\\u003f").replace("&", "\\u0026")


def assert_clean(text: str, where: str) -> None:
    assert MARK not in text, f"a SAS signature leaked into {where}"
    assert not LEAK.search(text), f"a sig= query string leaked into {where}"


# ---- redact() ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [sas, encoded, json_escaped])
@pytest.mark.parametrize("frame", ["{}", "PUT {} failed: 403", '"{}"', "'{}'", "({})", "<{}>",
                                   "url={}\n", "[{}, {}]"])
def test_redact_every_form(make, frame):
    text = frame.format(make(1), make(2))
    out = redact(text)
    assert_clean(out, "redact()")
    assert REDACTED in out


@pytest.mark.parametrize("text", [
    "a%26sig%3DAB%252Bcd%253DZZEND%26se%3D1",          # URL-encoded inside another URL
    "x\\u0026sig=AB%2Bcd%3DZZEND\\u0026se=1",          # JSON-escaped &
    "status blob %NNsig%NDAB%NBcdZZEND%NNse%NDN",       # digits masked by a log summariser
    "b\\uNNNNsig\\uNNNdABcdZZEND\\uNNNNse",
])
def test_redact_whole_signature_in_escaped_forms(text):
    out = redact(text)
    assert "ZZEND" not in out and REDACTED in out


def test_redact_keeps_what_is_not_secret():
    out = redact(f"upload to {sas(1)} failed")
    assert out.startswith(f"upload to {BLOB}?") and out.endswith(" failed")
    for harmless in ("config=1 signature=2 design=3", "no url here", "", "a=b&c=d"):
        assert MARK not in redact(harmless) and redact(harmless).count(REDACTED) == 0


# A SAS signature is base64 with +, / and = percent-encoded.
SECRET_CHARS = st.lists(st.sampled_from(list("ABCDEFabcdef0123456789") + ["%2B", "%2F", "%3D"]),
                        min_size=1, max_size=30).map("".join)
NOISE = st.text(alphabet=" \t\n\"'()[]{},:;<>abcxyz", max_size=20)


@settings(max_examples=400, deadline=None)
@given(NOISE, SECRET_CHARS, NOISE, st.sampled_from(["plain", "encoded", "escaped"]))
def test_redact_property(prefix, secret, suffix, form):
    secret = MARK + secret + "ZZEND"     # the whole value must go
    url = f"{BLOB}?sv=1&sig={secret}&se=2"
    if form == "encoded":
        from urllib.parse import quote

        url = quote(url, safe="")
    elif form == "escaped":
        url = url.replace("?", "\\u003f").replace("&", "\\u0026")
    out = redact(prefix + url + suffix)
    assert MARK not in out and "ZZEND" not in out
    assert redact(out) == out          # idempotent


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_redact_never_raises(text):
    assert isinstance(redact(text), str)


# ---- end to end --------------------------------------------------------------------------
VER = "1.0.9220.0"


def sas_root(tmp_path):
    """An offline root whose backup extension files carry SAS URLs everywhere."""
    root = tmp_path / "root"
    ext = root / "var" / "lib" / "waagent" / f"{HANDLER}-{VER}"
    for d in ("config", "status", "main/safefreeze/bin"):
        (ext / d).mkdir(parents=True)
    (ext / "HandlerManifest.json").write_text("[]")
    (ext / "main" / "handle.sh").write_text("#!/bin/sh\n")
    (ext / "HandlerEnvironment.json").write_text(json.dumps([{
        "name": HANDLER, "version": 1.0, "handlerEnvironment": {
            "logFolder": f"/var/log/azure/{HANDLER}", "configFolder": "c", "statusFolder": "s",
            "heartbeatFile": "h", "statusBlobUri": sas(1)}}]))
    (ext / "config" / "HandlerState").write_text("Enabled")
    (ext / "config" / "HandlerStatus").write_text(json.dumps({
        "status": "NotReady", "code": 1009, "message": f"status upload to {sas(2)} failed; "
                                                        f"log blob {encoded(3)}"}))
    (ext / "config" / "7.settings").write_text(json.dumps({"runtimeSettings": [{
        "handlerSettings": {"publicSettings": {
            "commandToExecute": "snapshot", "logsBlobUri": sas(4), "statusBlobUri": sas(5),
            "objectStr": json_escaped(6)}}}]}))
    inner = [{"version": "1.0", "status": {
        "status": "error", "code": "76",
        "snapshotInfo": [{"isSuccessful": False, "blobUri": BLOB,
                          "errorMessage": f"PUT {sas(n)} failed with 403"} for n in (7, 8)]
        + [{"isSuccessful": False, "errorMessage": f"retry {json_escaped(9)} / {encoded(10)}"}],
        "telemetryData": [{"Key": "statusBlobUri", "Value": sas(11)}],
        "vmHealthInfo": {"vmHealthState": 256, "vmHealthStatusCode": 76}}}]
    (ext / "status" / "7.status").write_text(json.dumps([{"status": {
        "name": HANDLER, "operation": "Enable", "status": "success", "code": "76",
        "formattedMessage": {"lang": "en-US", "message": json.dumps(
            {"messageStr": f"uploading logs to {sas(12)} then {sas(13).upper()}"})},
        "substatus": [{"status": "success", "code": "0", "name": json.dumps(inner)}]}}]))
    logs = root / "var" / "log" / "azure" / HANDLER
    logs.mkdir(parents=True)
    (logs / "extension.log").write_text("".join(
        f"2026-11-25T10:00:0{n}Z ERROR upload failed {sas(20 + n)}\n" for n in range(5)))
    (root / "var" / "log" / "waagent.log").write_text("".join(
        f"2026-11-25T10:00:00.000000Z ERROR ExtHandler ExtHandler status blob {u}\n"
        for u in (sas(30), encoded(31), json_escaped(32), f"a%26sig%3D{MARK}33",
                  f"b\\u0026sig\\u003d{MARK}34")))
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "etc" / "waagent.conf").write_text(f"Extensions.Enabled=y\nHttpProxy.Host={sas(40)}\n")
    return root


def test_the_fixture_really_feeds_secrets_to_the_rules(tmp_path):
    """Without the engine's redaction the extension rules would print the signatures: this is
    what makes the end-to-end test below able to fail."""
    root = sas_root(tmp_path)
    host = Host(root=str(root), runner=FakeRunner({}), is_root=True, live=False)
    ctx = engine.Context(host, {"now": 1_800_000_000.0})
    engine.load_rules()
    raw = []
    for rid in ("extension.last_status", "extension.installed"):
        res = engine.REGISTRY[rid].func(ctx)
        raw.append(res.summary + "\n".join(res.evidence))
    assert MARK in raw[0] and MARK in raw[1]


@pytest.mark.parametrize("args", [
    ["--format", "text"], ["--format", "json"], ["--brief"], ["--format", "text", "--debug"],
])
def test_check_output_has_no_sas(tmp_path, args):
    root = sas_root(tmp_path)
    argv = ["check", "--root", str(root)] + [a for a in args if a != "--debug"]
    if "--debug" in args:
        argv = ["--debug"] + argv
    res = CliRunner().invoke(app, argv)
    assert res.exit_code in (0, 1), res.output
    assert "extension.last_status" in res.output
    assert_clean(res.output, f"check {' '.join(args)}")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_output_file_has_no_sas(tmp_path, fmt):
    root = sas_root(tmp_path)
    out = tmp_path / f"report.{fmt}"
    res = CliRunner().invoke(app, ["check", "--root", str(root), "--format", fmt,
                                   "--output", str(out)])
    assert res.exit_code in (0, 1), res.output
    text = out.read_text()
    assert "extension.last_status" in text
    assert_clean(text, f"--output ({fmt})")
    assert_clean(res.output, "stdout with --output")
    if fmt == "json":
        doc = json.loads(text)
        last = next(r for r in doc["results"] if r["id"] == "extension.last_status")
        assert last["status"] == "fail" and any(REDACTED in e for e in last["evidence"])


def test_recorded_report_and_log_have_no_sas(tmp_path, monkeypatch):
    """The last report and the log line a live root run records under /var/lib/azbdiag and
    /var/log/azbdiag (pointed elsewhere here)."""
    from azbdiag import render, state
    from azbdiag.report import run_check

    root = sas_root(tmp_path)
    monkeypatch.setenv(state.STATE_ENV, str(tmp_path / "state"))
    monkeypatch.setenv(state.LOG_ENV, str(tmp_path / "log"))
    monkeypatch.delenv(state.NO_RECORD_ENV, raising=False)
    host = Host(root=str(root), runner=FakeRunner({}), is_root=True, live=True, azure=False)
    _ctx, _results, doc = run_check(host, options={"now": 1_800_000_000.0})
    assert state.record_check(host, doc, render.report(doc, "json")) is None
    written = [state.last_report_path(host), state.log_path(host)]
    for path in written:
        with open(path, encoding="utf-8") as fh:
            assert_clean(fh.read(), path)
    with open(written[0], encoding="utf-8") as fh:
        assert "extension.last_status" in fh.read()
