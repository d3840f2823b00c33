import pytest
from conftest import make_host, run_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import vmbackup_conf as vc

P = "/etc/azure/vmbackup.conf"
MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 8:17 / /data rw,relatime shared:2 - xfs /dev/sdc1 rw\n"
    "41 22 0:50 / /mnt/nfs rw,relatime shared:3 - nfs4 srv:/export rw\n"
)


def host(fs, content, **kw):
    files = {P: content, "/proc/self/mountinfo": MOUNTINFO}
    for path in files:
        if fs.exists(path):
            fs.remove_object(path)
    return make_host(fs, files, live=True, **kw)


# ---- parser --------------------------------------------------------------------------
def test_parser_good_file():
    conf = vc.parse(b"[SnapshotThread]\ntimeout = 90\nMountsToSkip: /data,/mnt/nfs\n")
    assert conf.parses and conf.error_kind is None
    assert conf.snapshot_thread == {"timeout": "90", "mountstoskip": "/data,/mnt/nfs"}
    assert vc.mounts_to_skip(conf.value("MountsToSkip")) == ["/data", "/mnt/nfs"]


@pytest.mark.parametrize("raw,kind,line", [
    (b"\xef\xbb\xbf[SnapshotThread]\ntimeout=1\n", "bom", 1),
    (b"timeout = 60\n[SnapshotThread]\n", "missing_section", 1),
    (b"[SnapshotThread]\ntimeout = 60\nTimeout = 70\n", "duplicate_option", 3),
    (b"[SnapshotThread]\n[SnapshotThread]\n", "duplicate_section", 2),
    (b"[SnapshotThread]\njust some words\n", "syntax", 2),
    (b"[SnapshotThread]\nMountsToSkip = /d\xe4ta\n", "not_utf8", 2),
    (b"\xff\xfe[\x00S\x00]\x00", "utf16", 1),
])
def test_parser_failures(raw, kind, line):
    conf = vc.parse(raw)
    assert conf.error_kind == kind
    assert conf.error_line == line


def test_parser_utf8_is_no_error():
    """PEP 538/540: Python 3.7+ decodes vmbackup.conf as UTF-8 even under the C locale."""
    conf = vc.parse("[SnapshotThread]\n# für /data\nMountsToSkip = /data\n".encode())
    assert conf.parses and conf.error_kind is None and conf.non_ascii_lines == [2]
    assert conf.value("MountsToSkip") == "/data"


def test_parser_indented_line_is_glued():
    conf = vc.parse(b"[SnapshotThread]\ntimeout = 60\n  MountsToSkip=/x\n")
    assert conf.parses
    assert conf.glued_lines == [(3, "timeout")]
    assert vc.parse_int(conf.value("timeout")) is None


def test_parser_percent_in_value():
    conf = vc.parse(b"[SnapshotThread]\nMountsToSkip = /mnt/100%\n")
    assert conf.interpolation_errors == {"mountstoskip": 2}
    assert conf.value("MountsToSkip") is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parser_never_raises_on_bytes(raw):
    conf = vc.parse(raw)
    assert isinstance(conf.parses, bool)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(
    ["[SnapshotThread]", "[Monitor]", "timeout = 5", "timeout=x", "  indented", "# c", "",
     "MountsToSkip = /a, /b", "%(x)s = 1", "k: %", "=", "[", "]", "\ufeff", "x"]), max_size=12))
def test_parser_never_raises_on_lines(lines):
    conf = vc.parse("\n".join(lines).encode("utf-8"))
    assert conf.lines is not None


# ---- rules ---------------------------------------------------------------------------
def test_missing_file_is_ok(fs):
    h = make_host(fs, {"/proc/self/mountinfo": MOUNTINFO}, live=True)
    res = run_rule(h, "vmbackup_conf.parses")
    assert res.status.value == "ok" and "absent" in res.summary
    assert run_rule(h, "vmbackup_conf.isanysnapshotfailed").status.value == "skipped"


def test_bom_fails_with_line(fs):
    res = run_rule(host(fs, b"\xef\xbb\xbf[SnapshotThread]\ntimeout = 60\n"), "vmbackup_conf.parses")
    assert res.status.value == "fail"
    assert "defaults" in res.summary and res.evidence and res.fix == "vmbackup-conf"
    assert "UserErrorFsFreezeFailed" in res.error_codes


def test_wrong_section_case_fails(fs):
    res = run_rule(host(fs, "[snapshotthread]\ntimeout = 60\n"), "vmbackup_conf.parses")
    assert res.status.value == "fail" and "case-sensitive" in res.summary


def test_isanysnapshotfailed_warn_and_fail_with_asr(fs):
    res = run_rule(host(fs, "[SnapshotThread]\nisanysnapshotfailed = True\n"),
                   "vmbackup_conf.isanysnapshotfailed")
    assert res.status.value == "warn"


def test_isanysnapshotfailed_fail_with_asr(fs):
    fs.create_dir("/usr/local/ASR")
    res = run_rule(host(fs, "[SnapshotThread]\nisanysnapshotfailed = True\n"),
                   "vmbackup_conf.isanysnapshotfailed")
    assert res.status.value == "fail"
    assert "ExtensionFailedSnapshotLimitReachedError" in res.error_codes


def test_isanysnapshotfailed_false_ok(fs):
    res = run_rule(host(fs, "[SnapshotThread]\nisanysnapshotfailed = False\n"),
                   "vmbackup_conf.isanysnapshotfailed")
    assert res.status.value == "ok"


def test_obsolete_keys(fs):
    res = run_rule(host(fs, "[SnapshotThread]\nfsfreeze: True\ndoseq = 1\nMountToSkip = /x\n"),
                   "vmbackup_conf.keys")
    assert res.status.value == "warn"
    text = " ".join(res.evidence)
    assert "fsFreezeEnabled" in text and "seqsnapshot" in text and "typo" in text


def test_integer_keys(fs):
    res = run_rule(host(fs, "[SnapshotThread]\ntimeout = 60 # seconds\nseqsnapshot = 7\n"),
                   "vmbackup_conf.integer_keys")
    assert res.status.value == "fail" and len(res.evidence) == 2


def test_integer_keys_ok(fs):
    ok_res = run_rule(host(fs, "[SnapshotThread]\ntimeout = 90\n"), "vmbackup_conf.integer_keys")
    assert ok_res.status.value == "ok"


def test_mounts_to_skip_spaces_root_and_unknown(fs):
    res = run_rule(host(fs, "[SnapshotThread]\nMountsToSkip = /data, /mnt/nfs,/,/nope\n"),
                   "vmbackup_conf.mounts_to_skip")
    assert res.status.value == "fail"
    text = "\n".join(res.evidence)
    assert "NOT skipped" in text and "'/' is a no-op" in text and "/nope" in text


def test_mounts_to_skip_root_is_a_no_op(fs):
    """fsfreezer.py freeze_safe tests for "/" before the skip list: "/" is always frozen."""
    res = run_rule(host(fs, "[SnapshotThread]\nMountsToSkip = /\n"), "vmbackup_conf.mounts_to_skip")
    assert res.status.value == "ok" and "logs local" in res.evidence[0]
    res = run_rule(host(fs, "[SnapshotThread]\nMountsToSkip = /,/data\n"),
                   "vmbackup_conf.mounts_to_skip")
    assert res.status.value == "ok" and res.evidence == [
        "'/' is a no-op: the extension always freezes the root, last"]


@pytest.mark.parametrize("value,status", [("-1", "fail"), ("0", "fail"), ("3", "fail"),
                                          ("4", "warn"), ("5", "warn"), ("6", "ok"), ("66", "ok")])
def test_safefreezewait_floor(fs, value, status):
    """safefreeze starts 3 s late and the extension polls int(N/2) times 2 s apart."""
    res = run_rule(host(fs, f"[SnapshotThread]\nSafeFreezeWaitInSeconds = {value}\n"),
                   "vmbackup_conf.integer_keys")
    assert res.status.value == status, res
    if status == "fail":
        assert f"SafeFreezeWaitInSeconds = {value} makes every freeze time out" in res.summary
        assert "UserErrorFsFreezeTimeout" in res.evidence[0]


def test_percent_costs_only_its_key(fs):
    """Each key is read by a parser of its own (HandlerUtil get_value_from_configfile)."""
    text = "[SnapshotThread]\nSafeFreezeWaitInSeconds = 120\nLoggingOff = 0 ; log 100% of it\n"
    res = run_rule(host(fs, text), "vmbackup_conf.parses")
    assert res.status.value == "warn" and "LoggingOff" in res.summary
    assert "default 0" in res.evidence[0]
    assert run_rule(host(fs, text), "vmbackup_conf.integer_keys").status.value == "ok"
    res = run_rule(host(fs, "[SnapshotThread]\nMountsToSkip = /mnt/100%\n"), "vmbackup_conf.parses")
    assert res.status.value == "fail" and "MountsToSkip" in res.summary


def test_glued_line_costs_both_keys(fs):
    res = run_rule(host(fs, "[SnapshotThread]\ntimeout = 60\n  MountsToSkip=/x\n"),
                   "vmbackup_conf.parses")
    assert res.status.value == "fail" and "timeout, MountsToSkip" in res.summary


def test_mounts_to_skip_ok(fs):
    res = run_rule(host(fs, "[SnapshotThread]\nMountsToSkip = /data,/mnt/nfs\n"),
                   "vmbackup_conf.mounts_to_skip")
    assert res.status.value == "ok"


def test_mounts_to_skip_offline_uses_fstab(fs):
    files = {P: "[SnapshotThread]\nMountsToSkip = /srv\n",
             "/etc/fstab": "UUID=1 / ext4 defaults 0 1\nUUID=2 /data xfs defaults 0 2\n"}
    h = make_host(fs, files, root="/mnt/disk", live=False)
    res = run_rule(h, "vmbackup_conf.mounts_to_skip")
    assert res.status.value == "warn" and "fstab" in res.evidence[0]


def test_unreadable_file_skips_not_crashes(fs):
    fs.create_file(P, contents="[SnapshotThread]\n")
    import os
    os.chmod(P, 0)
    h = make_host(fs, {}, is_root=False)
    res = run_rule(h, "vmbackup_conf.parses")
    assert res.status.value in ("skipped", "ok", "fail")


UTF8_COMMENT = "[SnapshotThread]\n# Sicherung für /data\nMountsToSkip = /data\n".encode()


@pytest.mark.parametrize("python,locale,status", [
    ("python3.10", None, "ok"),                     # PEP 538: UTF-8 under any locale
    ("python3.6", None, "warn"),                    # RHEL 8 / SLES 15: only under UTF-8
    ("python3.6", 'LANG="en_US.UTF-8"\n', "ok"),    # systemd passes /etc/locale.conf's LANG
    ("python2.7", None, "ok"),                      # ConfigParser reads bytes
])
def test_utf8_text_depends_on_the_extensions_python(fs, python, locale, status):
    files = {P: UTF8_COMMENT, "/proc/self/mountinfo": MOUNTINFO, f"/usr/bin/{python}": b"\x7fELF"}
    if locale is not None:
        files["/etc/locale.conf"] = locale
    h = make_host(fs, files, live=True)
    res = run_rule(h, "vmbackup_conf.parses")
    assert res.status.value == status, res
    assert res.evidence[0].startswith("line 2: '# Sicherung f")


def test_bytes_that_are_not_utf8_fail(fs):
    res = run_rule(host(fs, b"[SnapshotThread]\n# caf\xe9\nMountsToSkip = /data\n"),
                   "vmbackup_conf.parses")
    assert res.status.value == "fail" and "not UTF-8" in res.summary and "line 2" in res.evidence[0]
