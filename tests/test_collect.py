"""`azbdiag collect`: the support bundle holds what support needs and no secret.

Secrets are planted in every place they occur on a real VM (the extension's settings and status,
the agent's status blob, logs in plain, URL-encoded and JSON-escaped form, a rotated .gz log,
workload.conf, a NetworkManager keyfile), the bundle is unpacked and every byte of it searched.
Run on the sample roots, on every distribution of the corpus, and live on a fake file system."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import zlib

import corpus
import pytest
from conftest import SAMPLES, make_host
from typer.testing import CliRunner

from azbdiag.bundle import MANIFEST, Bundle, Member
from azbdiag.cli import app
from azbdiag.collect import collect, inflate_tail
from azbdiag.fix.files import create_exclusive
from azbdiag.redact import RULES, redact_counted, redact_json_counted

HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
BLOB = "https://acct01.blob.core.windows.net/vhds/osdisk.vhd"
SECRETS = {
    "sig_settings": "SIGSETTINGS1a2b",
    "sig_objectstr": "SIGOBJECTSTR3c4d",
    "sig_status": "SIGSTATUS5e6f",
    "sig_log": "SIGLOGPLAIN7g8h",
    "sig_log_escaped": "SIGLOGESCAPED9i",
    "sig_log_encoded": "SIGLOGENCODED0j",
    "sig_rotated": "SIGROTATEDGZ1k",
    "sig_agent_status": "SIGAGENTSTATUS2l",
    "sig_bare": "SIGBARE3m4n",
    "protected": "MIIBPROTECTEDBLOBxyzzy0123456789abcdef",
    "protected_in_log": "MIIBPROTECTEDINLOGqwerty",
    "credstring": "dbadmin/CREDSECRETpw@ORCL",
    "wifi_psk": "WIFIPSKSECRET99",
}
LEAK = re.compile(r"(?i)sig(?:=|%3d|\\u003d)(?!<redacted>)")


def sas(sig: str) -> str:
    return f"{BLOB}?sv=2020-08-04&sr=b&sig={sig}%2Bx%3D&se=2027-01-01&sp=rw"


def plant(root: str, ext_dir: str, seq: int = 7) -> None:
    """Put every secret where the agent and the extension would write it."""
    def write(guest, data, mode=0o644):
        path = os.path.join(root, guest.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.chmod(path, mode)

    obj = base64.b64encode(json.dumps({"blobSASUri": [sas(SECRETS["sig_objectstr"])],
                                       "backupMetadata": []}).encode()).decode()
    write(f"{ext_dir}/config/{seq}.settings", json.dumps({"runtimeSettings": [{
        "handlerSettings": {"protectedSettingsCertThumbprint": "9A4F2C6E8B1D3F5A7C9E0B2D4F6A8C1E",
                            "protectedSettings": SECRETS["protected"],
                            "publicSettings": {"objectStr": obj, "taskId": "t-1",
                                               "logsBlobUri": sas(SECRETS["sig_settings"])}}}]}),
        0o600)
    inner = json.dumps([{"status": {"status": "error", "snapshotInfo": [
        {"blobUri": sas(SECRETS["sig_status"]), "isSuccessful": False}]}}])
    write(f"{ext_dir}/status/{seq}.status", json.dumps([{"version": "1.0", "status": {
        "name": HANDLER, "status": "success", "code": "121",
        "substatus": [{"name": inner, "status": "success", "code": "0"}]}}]))
    write("/var/log/waagent.log",
          f"2026-01-01T00:00:00.000000Z INFO ExtHandler Downloading {sas(SECRETS['sig_log'])}\n"
          f"2026-01-01T00:00:01.000000Z INFO ExtHandler blob: "
          f"{sas(SECRETS['sig_log_escaped']).replace('&', chr(92) + 'u0026')}\n"
          f"2026-01-01T00:00:02.000000Z INFO ExtHandler url%3D"
          f"{BLOB}%3Fsv%3D1%26sig%3D{SECRETS['sig_log_encoded']}%26se%3D2\n"
          f"2026-01-01T00:00:03.000000Z INFO ExtHandler token sv=1&sig={SECRETS['sig_bare']}\n")
    write("/var/log/waagent.log.1.gz",
          gzip.compress(f"old line {sas(SECRETS['sig_rotated'])}\n".encode()))
    write(f"/var/log/azure/{HANDLER}/extension.log",
          f'2026-01-01 00:00:00 settings: {{"protectedSettings": "{SECRETS["protected_in_log"]}",'
          f' "publicSettings": {{}}}}\n')
    write("/var/lib/waagent/history/2026-01-01T00-00-00__3/waagent_status.json",
          json.dumps({"version": "1.1", "statusBlobUri": sas(SECRETS["sig_agent_status"])}))
    write("/etc/azure/workload.conf",
          f"[workload]\nworkload_name = oracle\ncredString = {SECRETS['credstring']}\n")
    write("/etc/NetworkManager/system-connections/wifi.nmconnection",
          f"[connection]\nid=wifi\n[wifi-security]\nkey-mgmt=wpa-psk\npsk={SECRETS['wifi_psk']}\n",
          0o600)


def unpack(path: str):
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
        return members, {m.name: tar.extractfile(m).read() for m in members}


def assert_bundle_clean_and_complete(path: str, expect_redacted=True) -> dict:
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    members, data = unpack(path)
    for name, blob in data.items():
        for label, secret in SECRETS.items():
            assert secret.encode() not in blob, f"{label} leaked into {name}"
        assert not LEAK.search(blob.decode("utf-8", "replace")), f"a sig= leaked into {name}"
    for m in members:
        assert (m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) == (0o600, 0, 0, "root",
                                                                   "root", 0), m.name
    manifest = json.loads(data[MANIFEST])
    listed = {e["name"]: e for e in manifest["members"]}
    assert set(listed) == set(data) - {MANIFEST}
    for name, entry in listed.items():
        assert entry["size"] == len(data[name]), name
        assert entry["sha256"] == hashlib.sha256(data[name]).hexdigest(), name
        assert set(entry["redactions"]) <= set(RULES), name
    assert manifest["total_bytes"] == sum(len(b) for n, b in data.items() if n != MANIFEST)
    if expect_redacted:
        assert sum(manifest["redactions_total"].values()) > 0
    return manifest


def run_collect(*args):
    return CliRunner().invoke(app, ["collect", *[str(a) for a in args]])


# ---- the sample roots ------------------------------------------------------------------

@pytest.fixture
def planted(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(os.path.join(SAMPLES, "broken"), root, symlinks=True)
    ext = f"/var/lib/waagent/{HANDLER}-1.0.9220.0"
    plant(str(root), ext)
    return root


def test_collect_removes_every_planted_secret(planted, tmp_path):
    out = tmp_path / "bundle.tar.gz"
    res = run_collect("--root", planted, "--output", out, "--deadline", "60")
    assert res.exit_code == 0, res.output
    assert f"{out}: " in res.output and "mode 0600" in res.output
    manifest = assert_bundle_clean_and_complete(str(out))
    totals = manifest["redactions_total"]
    for rule in ("protected_settings", "protected_settings_thumbprint", "secret_uri",
                 "workload_credstring", "config_secret", "sas_url_query"):
        assert totals.get(rule), (rule, totals)
    _, data = unpack(str(out))
    names = set(data)
    assert {"report.json", "packages.json", "files/etc/waagent.conf", "files/etc/fstab",
            "files/etc/azure/workload.conf", "files/var/log/waagent.log",
            "files/var/log/waagent.log.1", "machine/mountinfo.txt"} <= names
    settings = json.loads(data[f"files/var/lib/waagent/{HANDLER}-1.0.9220.0/config/7.settings"])
    public = settings["runtimeSettings"][0]["handlerSettings"]["publicSettings"]
    assert public["taskId"] == "t-1"                     # what is not secret stays
    inner = json.loads(base64.b64decode(public["objectStr"]))
    assert inner["blobSASUri"] == [f"{BLOB}?<redacted>"]
    assert b"credString = <redacted>" in data["files/etc/azure/workload.conf"]
    assert json.loads(data["report.json"])["schema_version"] == 1
    entry = {e["name"]: e for e in manifest["members"]}["files/var/log/waagent.log.1"]
    assert entry["source"] == "/var/log/waagent.log.1.gz" and "inflated" in entry["note"]


def test_collect_healthy_sample(tmp_path):
    out = tmp_path / "healthy.tar.gz"
    res = run_collect("--root", os.path.join(SAMPLES, "healthy"), "-o", out)
    assert res.exit_code == 0, res.output
    assert_bundle_clean_and_complete(str(out), expect_redacted=False)


def test_collect_never_replaces_a_file_or_follows_a_link(planted, tmp_path):
    existing = tmp_path / "exists.tar.gz"
    existing.write_text("keep me")
    res = run_collect("--root", planted, "-o", existing)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert existing.read_text() == "keep me"
    target = tmp_path / "target"
    target.write_text("not yours")
    link = tmp_path / "link.tar.gz"
    link.symlink_to(target)
    res = run_collect("--root", planted, "-o", link)
    assert res.exit_code == 2 and target.read_text() == "not yours"
    assert run_collect("--root", planted, "-o", tmp_path / "no" / "dir.tgz").exit_code == 2
    assert run_collect("--root", planted, "--max-size", "0").exit_code == 2


def test_size_cap_leaves_rotated_logs_out_and_says_so(planted, tmp_path):
    big = "".join(f"2026-01-01T00:00:{i % 60:02d}.000000Z INFO ExtHandler line {i} "
                  f"{'x' * 200}\n" for i in range(6000)).encode()
    for n in (2, 3):
        (planted / "var" / "log" / f"waagent.log.{n}.gz").write_bytes(gzip.compress(big))
    out = tmp_path / "capped.tar.gz"
    res = run_collect("--root", planted, "-o", out, "--max-size", "1")
    assert res.exit_code == 0, res.output
    assert "reached its size cap of 1 MB: left out" in res.output
    manifest = assert_bundle_clean_and_complete(str(out))
    capped = [e for e in manifest["left_out"] if e["reason"].startswith("size cap")]
    assert capped and all("waagent.log." in e["source"] for e in capped)
    assert manifest["total_bytes"] <= 1024 * 1024
    assert "report.json" in {e["name"] for e in manifest["members"]}


def test_default_name_in_the_current_directory(planted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_collect("--root", planted)
    assert res.exit_code == 0, res.output
    made = [p for p in os.listdir(tmp_path) if p.startswith("azbdiag-collect-vm-broken-")]
    assert len(made) == 1 and made[0].endswith(".tar.gz")
    assert_bundle_clean_and_complete(str(tmp_path / made[0]))


# ---- every distribution of the corpus ------------------------------------------------------

@pytest.mark.parametrize("key", list(corpus.DISTROS))
def test_collect_on_corpus_roots(tmp_path, key):
    root = corpus.build(tmp_path, key)
    plant(str(root.path), root.ext_dir, root.seq)
    out = tmp_path / "bundle.tar.gz"
    runner = corpus.CorpusRunner(root, root.table)
    with corpus._patched_runner(runner):
        res = run_collect("--root", root.path, "-o", out)
    assert res.exit_code == 0, res.output
    manifest = assert_bundle_clean_and_complete(str(out))
    names = {e["name"] for e in manifest["members"]}
    assert f"files{root.ext_dir}/status/{root.seq}.status" in names
    assert f"files/var/log/azure/{HANDLER}/extension.log" in names
    packages = json.loads(unpack(str(out))[1]["packages.json"])
    assert packages["agent_packages"] and packages["extension"] == [corpus.EXT_VERSION]


# ---- live, on a fake file system -------------------------------------------------------

def test_collect_live_on_a_fake_machine(fs):
    files = {
        "/etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
        "/etc/waagent.conf": "Extensions.Enabled=y\n",
        "/proc/self/mountinfo": "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                "40 27 0:50 / /var/log/azure rw - nfs4 srv:/logs rw\n",
        "/proc/swaps": "Filename Type\n",
        "/var/log/waagent.log": f"x {sas(SECRETS['sig_log'])}\n",
        "/var/log/azure/" + HANDLER + "/extension.log": "fine\n",
        "/var/log/azure/" + HANDLER + "/extension.log.1": "older\n",
    }
    host = make_host(fs, files, {"dmesg": "[1.0] EXT4-fs (sda1): mounted filesystem x r/w\n",
                                 "lsblk -b -P -o NAME,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,"
                                 "PARTUUID,PARTLABEL,MAJ:MIN,RO,SIZE,MOUNTPOINT":
                                     'NAME="sda" TYPE="disk"\n'}, live=True)
    bundle, meta = collect(host, '{"report": "https://x/y?sig=abc"}', 1024 * 1024)
    names = {m.name for m in bundle.members}
    assert {"report.json", "files/var/log/waagent.log", "machine/kernel-fs.log",
            "machine/lsblk.txt"} <= names
    # /var/log/azure is an NFS mount here: never read, and said so
    assert not [n for n in names if n.startswith("files/var/log/azure")]
    assert any(e["source"] == f"/var/log/azure/{HANDLER}" and "network or FUSE" in e["reason"]
               for e in bundle.left_out)
    assert meta["source"]["live"] is True and meta["source"]["root"] == "/"
    assert not any(SECRETS["sig_log"].encode() in m.data for m in bundle.members)
    assert any("blkid" in e["source"] for e in bundle.left_out)     # not in the fake table
    path = "/out/b.tar.gz"
    os.makedirs("/out")
    saved = os.umask(0)                                  # even with a lax umask
    try:
        create_exclusive(path, bundle.tar_gz(bundle.manifest(meta, RULES)))
    finally:
        os.umask(saved)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_exclusive(path, b"again")


# ---- the pieces ----------------------------------------------------------------------------

def test_the_bundle_is_reproducible():
    def build():
        b = Bundle(10_000)
        b.add(Member("b.txt", b"two\n", "/b", "config"))
        b.add(Member("a.txt", b"one\n", "/a", "config", {"sas_url_query": 1}))
        assert not b.add(Member("c.txt", b"x" * 20_000, "/c", "log"))
        return b.tar_gz(b.manifest({"tool": "t"}, RULES))
    first, second = build(), build()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"                      # the gzip header's time is fixed
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert tar.getnames() == [MANIFEST, "a.txt", "b.txt"]
        manifest = json.load(tar.extractfile(MANIFEST))
    assert manifest["left_out"][0]["source"] == "/c" and "size cap" in manifest["left_out"][0][
        "reason"]


def test_inflate_tail_stops_a_bomb(monkeypatch):
    import azbdiag.collect as mod

    monkeypatch.setattr(mod, "INFLATE_LIMIT", 1024 * 1024)
    tail, cut = inflate_tail(gzip.compress(b"\0" * (8 * 1024 * 1024)), 100)
    assert cut and len(tail) == 100
    with pytest.raises(zlib.error):          # Collector.log leaves such a file out, saying why
        inflate_tail(b"not gzip at all", 10)


def test_a_corrupt_rotated_log_is_left_out_with_the_reason(planted, tmp_path):
    (planted / "var" / "log" / "waagent.log.2.gz").write_bytes(b"\x1f\x8b broken")
    out = tmp_path / "b.tar.gz"
    assert run_collect("--root", planted, "-o", out).exit_code == 0
    manifest = assert_bundle_clean_and_complete(str(out))
    left = {e["source"]: e["reason"] for e in manifest["left_out"]}
    assert left["/var/log/waagent.log.2.gz"].startswith("unreadable:")


@pytest.mark.parametrize("text, rule", [
    ('"protectedSettings": "MIIBxx"', "protected_settings"),
    ('&quot;protectedSettings&quot;:&quot;MIIBxx&quot;', "protected_settings"),
    ('\\"protectedSettingsCertThumbprint\\": \\"9A4F\\"', "protected_settings_thumbprint"),
    ("see https://a.blob.core.windows.net/c/d?sv=1&sig=abc&se=2", "sas_url_query"),
    ("sv=1&sig=abc&se=2", "sas_parameter"),
    ("sig%3Dabc%26se", "sas_signature_encoded"),
])
def test_text_rules(text, rule):
    out, counts = redact_counted(text)
    assert "MIIBxx" not in out and "abc" not in out and "9A4F" not in out
    assert counts.get(rule), counts


def test_config_rules_only_where_asked():
    text = "[workload]\ncredString=s3cret\n[802-1x]\npassword=p4ss\npassword-flags=1\n"
    assert redact_counted(text)[0] == text
    out, counts = redact_counted(text, config=True)
    assert "s3cret" not in out and "p4ss" not in out and "password-flags=1" in out
    assert counts == {"workload_credstring": 1, "config_secret": 1}


def test_json_rules_keep_the_shape():
    doc = {"a": [{"statusBlobUri": "https://x/y?sv=1&sig=s"}], "n": 3,
           "protectedSettings": None, "nested": json.dumps({"protectedSettings": "MIIB"})}
    out, counts = redact_json_counted(json.dumps(doc))
    got = json.loads(out)
    assert got["a"][0]["statusBlobUri"] == "https://x/y?<redacted>" and got["n"] == 3
    assert got["protectedSettings"] is None
    assert json.loads(got["nested"]) == {"protectedSettings": "<redacted>"}
    assert counts == {"secret_uri": 1, "protected_settings": 1}
    assert redact_json_counted("not json sig=abc")[0] == "not json sig=<redacted>"


# ---- redaction under arbitrary surroundings ------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

AROUND = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(AROUND, AROUND, st.sampled_from(["plain", "json", "config"]))
def test_a_planted_signature_never_survives(before, after, mode):
    text = f"{before} {sas('ZZSECRETZZ')} {after}\n"
    if mode == "json":
        text = json.dumps({"status": text, "protectedSettings": "ZZSECRETZZ" + after})
        out, counts = redact_json_counted(text)
    else:
        out, counts = redact_counted(text, config=mode == "config")
    assert "ZZSECRETZZ" not in out and counts


def test_not_root_is_said(planted, tmp_path, monkeypatch):
    from azbdiag.host import Host

    monkeypatch.setattr(Host, "is_root", property(lambda self: False))
    res = run_collect("--root", planted, "-o", tmp_path / "b.tar.gz")
    assert res.exit_code == 0 and "not root: files only root can read are left out" in res.output


def test_kernel_log_keeps_its_last_lines(fs, monkeypatch):
    from azbdiag import collect as C

    monkeypatch.setattr(C, "MAX_KERNEL_LINES", 3)
    klog = "".join(f"[{i}.0] EXT4-fs (sda1): mounted filesystem {i} r/w\n" for i in range(1, 8))
    host = make_host(fs, {"/etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
                          "/proc/self/mountinfo": "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n"},
                     {"dmesg": klog}, live=True)
    bundle, _meta = collect(host, "{}", 1024 * 1024)
    (member,) = [m for m in bundle.members if m.name == "machine/kernel-fs.log"]
    assert member.data.decode().splitlines()[-3:] == [
        f"EXT4-fs (sda1): mounted filesystem {i} r/w" for i in (5, 6, 7)]
    assert len(member.data.decode().splitlines()) == 3
    assert member.truncated and member.note == "the last 3 of 7 lines"
