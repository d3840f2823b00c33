"""The stand-ins the README harness puts in its VM (tests/readme_stubs/) check what they are
given and answer as the real tools do: they are part of the test, so they are tested too.
(Unit tests: each runs in a temporary folder, nothing else is touched.)"""

import json
import os
import subprocess
import sys

import pytest

STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "readme_stubs")


@pytest.fixture
def stub(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "blob" / "tools").mkdir(parents=True)
    env = dict(os.environ, READMESTUBS_LOG=str(tmp_path / "calls.jsonl"),
               READMESTUBS_RUNDIR=str(tmp_path / "run"), READMESTUBS_BLOBS=str(tmp_path / "blob"))

    def run(tool, *args):
        cp = subprocess.run([sys.executable, os.path.join(STUBS, tool), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
        log = tmp_path / "calls.jsonl"
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return cp, calls[-1] if calls else None

    run.path = tmp_path
    return run


def test_run_command_runs_the_script_and_keeps_the_last_4096_bytes_whatever_its_status(stub):
    script = "head -c 5000 /dev/zero | tr '\\0' x; echo END; echo oops >&2; exit 3"
    cp, rec = stub("az", "vm", "run-command", "invoke", "-g", "RG", "-n", "VM", "--command-id",
                   "RunShellScript", "--scripts", script, "--query", "value[0].message", "-o", "tsv")
    assert cp.returncode == 0, cp.stderr                  # Run Command "succeeds" whatever the script did
    assert cp.stdout.startswith("Enable succeeded: \n[stdout]\n")
    out = cp.stdout.split("[stdout]\n", 1)[1].split("\n[stderr]\n", 1)[0]
    assert len(out.encode()) == 4096 and out.endswith("xEND\n")
    assert cp.stdout.split("[stderr]\n", 1)[1] == "oops\n\n"
    assert (rec["script_rc"], rec["stdout_bytes"], rec["script_bytes"]) == (3, 5004, len(script))
    assert os.listdir(stub.path / "run") == []            # the downloaded script is removed
    cp, _ = stub("az", "vm", "run-command", "invoke", "-g", "RG", "-n", "VM", "--command-id",
                 "RunShellScript", "--scripts", "echo a", "echo b")
    message = json.loads(cp.stdout)["value"][0]["message"]
    assert message == "Enable succeeded: \n[stdout]\na\nb\n\n[stderr]\n\n"


@pytest.mark.parametrize("args, refusal", [
    (["--command-id", "RunPowerShellScript", "--scripts", "dir"], "a Linux VM takes RunShellScript"),
    (["--command-id", "RunShellScript"], "RunShellScript needs --scripts"),
    (["--command-id", "RunShellScript", "--scripts", *["x" * 90000] * 3], "over Run Command's"),  # 3 lines
    (["--command-id", "RunShellScript", "--scripts", "true", "--query", "value[0].code"], "--query"),
    (["--command-id", "RunShellScript", "--scripts", "true", "--bogus"], "unknown argument '--bogus'"),
])
def test_run_command_refuses_what_azure_would_reject_or_the_stub_does_not_know(stub, args, refusal):
    cp, rec = stub("az", "vm", "run-command", "invoke", "-g", "RG", "-n", "VM", *args)
    assert cp.returncode == 2 and refusal in cp.stderr and refusal in rec["refused"]


def test_vm_list_and_vm_create(stub):
    cp, rec = stub("az", "vm", "list", "-g", "RG", "--query", "[?storageProfile.osDisk.osType=='Linux'].name",
                   "-o", "tsv")
    assert cp.stdout.split() == rec["names"] == ["vm-web1", "vm-db1"]
    cfg = stub.path / "c.yaml"
    cfg.write_text("#cloud-config\npackages: [azbdiag]\n")
    create = ["vm", "create", "-g", "RG", "-n", "VM", "--image", "Debian:debian-12:12:latest",
              "--custom-data"]
    cp, rec = stub("az", *create, "c.yaml", "...")
    assert cp.returncode == 0 and rec["custom_data_bytes"] == len(cfg.read_bytes()) and rec["elided"]
    cfg.write_text("packages: [azbdiag]\n")
    cp, rec = stub("az", *create, "c.yaml")
    assert cp.returncode == 2 and "does not start with #cloud-config" in rec["refused"]
    cp, rec = stub("az", *create, "missing.yaml")
    assert cp.returncode == 2 and "no such file" in rec["refused"]
    cp, rec = stub("az", "group", "delete", "-n", "RG")
    assert cp.returncode == 2 and "not a command the stand-in knows" in rec["refused"]


def test_curl_serves_blobs_and_nothing_else(stub):
    (stub.path / "blob" / "tools" / "azbdiag.pyz").write_bytes(b"PK\x03\x04zip")
    cp, rec = stub("curl", "-fsS", "-o", "out", "https://acct.blob.core.windows.net/tools/azbdiag.pyz?sig=x")
    assert cp.returncode == 0 and (stub.path / "out").read_bytes() == b"PK\x03\x04zip" and rec["sas"]
    cp, rec = stub("curl", "-fsS", "-o", "out2", "https://acct.blob.core.windows.net/tools/other.pyz?sig=x")
    assert cp.returncode == 22 and "404" in cp.stderr and not (stub.path / "out2").exists()
    cp, rec = stub("curl", "-fsS", "https://example.com/azbdiag.pyz")
    assert cp.returncode == 6 and "Could not resolve host: example.com" in cp.stderr
    cp, rec = stub("curl", "--insecure", "https://acct.blob.core.windows.net/tools/azbdiag.pyz")
    assert cp.returncode == 2 and "unknown option" in rec["refused"]


def test_dnf_installs_only_local_rpm_files(stub):
    cp, rec = stub("dnf", "install", "python3.11")
    assert cp.returncode == 1 and "No match for argument: python3.11" in cp.stderr
    cp, rec = stub("dnf", "install", "./missing-1.0-1.noarch.rpm")
    assert cp.returncode == 1 and "no such file" in rec["refused"]
    cp, rec = stub("dnf", "remove", "azbdiag")
    assert cp.returncode == 2 and "not a command the stand-in knows" in rec["refused"]


def test_sudo_only_runs_its_command(tmp_path):
    cp = subprocess.run([os.path.join(STUBS, "sudo"), "sh", "-c", "echo $0 \"$1\"; exit 7", "a b", "c d"],
                        capture_output=True, text=True, timeout=60)
    assert (cp.returncode, cp.stdout) == (7, "a b c d\n")
