"""`azbdiag fix --agent`: end to end on a real temporary root through the CLI, undo, and the
planner's live plan from fake results."""

import hashlib
import os
import stat

import pytest
from conftest import make_host
from typer.testing import CliRunner

from azbdiag import engine
from azbdiag.cli import app
from azbdiag.fix import FIXES, DeleteFile, RunCommand, Symlink, WriteFile
from azbdiag.fix.journal import list_runs
from azbdiag.state import STATE_ENV

UNIT_PATH = "lib/systemd/system/walinuxagent.service"
WANTS = "etc/systemd/system/multi-user.target.wants/walinuxagent.service"
CONF_TEXT = (b"# Microsoft Azure Linux Agent Configuration\n"
             b"Provisioning.Agent=auto\n"
             b"Extensions.Enabled=n # turned off by an image script\n"
             b"AutoUpdate.Enabled=y\n"
             b"Logs.Verbose=n\n")


@pytest.fixture(autouse=True)
def journal_in_tmp(monkeypatch, tmp_path):
    """The fix journal and lock are this machine's (also with --root): keep them in tmp_path."""
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))


def build_root(tmp_path, broken=True):
    root = tmp_path / "root"
    files = {
        "etc/os-release": b'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
        "var/lib/dpkg/status": b"Package: waagent\nStatus: install ok installed\nVersion: 2.7.3.0-1\n",
        "usr/sbin/waagent": b"#!/usr/bin/python3\n",
        "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py":
            b"AGENT_VERSION = '2.7.3.0'\n",
        UNIT_PATH: b"[Service]\nExecStart=/usr/sbin/waagent -daemon\n[Install]\n"
                   b"WantedBy=multi-user.target\n",
        "etc/waagent.conf": CONF_TEXT if broken else CONF_TEXT.replace(b"Enabled=n", b"Enabled=y"),
    }
    if broken:
        files["var/lib/waagent/disable_agent"] = b""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "var/lib/waagent").mkdir(parents=True, exist_ok=True)
    os.chmod(root / "var/lib/waagent", 0o700)
    os.chmod(root / "usr/sbin/waagent", 0o755)
    os.chmod(root / "etc/waagent.conf", 0o640)
    if os.geteuid() == 0:
        os.chown(root / "etc/waagent.conf", 1234, 4321)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    if not broken:
        (root / WANTS).parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/" + UNIT_PATH, root / WANTS)
    return root


def tree(root, skip="/var/lib/azbdiag"):
    """Everything under root (but the fixer's journal): kind, mode, owner and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(p, root)
            if rel == skip or rel.startswith(skip + "/"):
                continue
            st = os.lstat(p)
            owner = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), owner)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), owner, digest)
            else:
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), owner)
    return out


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_fix_agent_offline_end_to_end_and_undo(tmp_path):
    root = build_root(tmp_path)
    original = tree(root)
    res = invoke("fix", "--agent", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert "delete /var/lib/waagent/disable_agent" in res.output
    # The result: extensions on, everything else in the file kept, mode and owner kept.
    conf = root / "etc/waagent.conf"
    assert conf.read_bytes() == CONF_TEXT.replace(b"Extensions.Enabled=n # turned",
                                                  b"Extensions.Enabled=y # turned")
    st = conf.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 4321)
    assert not (root / "var/lib/waagent/disable_agent").exists()
    assert os.readlink(root / WANTS) == "/" + UNIT_PATH
    for rid in ("agent.extensions_enabled", "agent.disable_agent", "agent.service"):
        assert f"{rid}: fail -> ok" in res.output
    # Twice changes nothing.
    fixed = tree(root)
    again = invoke("fix", "--agent", "--yes", "--root", str(root))
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert tree(root) == fixed
    # Undo brings the tree back byte for byte, with modes and owners.
    back = invoke("undo", "--yes", "--root", str(root))
    assert back.exit_code == 0, back.output
    assert tree(root) == original


def test_fix_agent_on_a_healthy_root_plans_nothing(tmp_path):
    root = build_root(tmp_path, broken=False)
    before = tree(root)
    res = invoke("fix", "--agent", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert tree(root) == before
    assert list_runs(make_host(root=str(root), live=False)) == []


def test_fix_agent_dry_run_shows_the_plan(tmp_path):
    root = build_root(tmp_path)
    before = tree(root)
    res = invoke("fix", "--agent", "--dry-run", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert "+Extensions.Enabled=y # turned off" in res.output
    assert "symlink /etc/systemd/system/multi-user.target.wants/walinuxagent.service" in res.output
    assert tree(root) == before


def test_fix_agent_offline_unmasks_and_undo_restores_the_mask(tmp_path):
    root = build_root(tmp_path, broken=False)
    os.unlink(root / WANTS)
    os.symlink("/dev/null", root / "etc/systemd/system/walinuxagent.service")
    original = tree(root)
    res = invoke("fix", "--agent", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert not os.path.lexists(root / "etc/systemd/system/walinuxagent.service")
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert tree(root) == original


# ---- the live plan, from fake results --------------------------------------------------
DEB = 'ID=debian\nVERSION_ID="12"\n'


def live_findings(fs, commands):
    files = {
        "/etc/os-release": DEB,
        "/var/lib/dpkg/status": "Package: waagent\nStatus: install ok installed\nVersion: 2.2.45-1\n",
        "/usr/sbin/waagent": "#!/usr/bin/python3\n",
        "/lib/systemd/system/walinuxagent.service": "[Service]\nExecStart=/usr/sbin/waagent\n",
        "/etc/waagent.conf": "Extensions.Enabled=n\n",
        "/var/lib/waagent/disable_agent": "",
        "/run/systemd/system": None,
    }
    h = make_host(fs, files, commands, live=True)
    os.chmod("/usr/sbin/waagent", 0o755)
    ctx = engine.Context(h, {})
    spec = FIXES["agent"]
    results = engine.run_rules(ctx, only=list(spec.rules))
    findings = [r for r in results if r.status.value in ("warn", "fail") and r.fix == "agent"]
    return ctx, spec, findings


def test_live_plan_order_undo_and_package_update(fs):
    cmds = {"systemctl --version": "systemd 252",
            "systemctl is-active walinuxagent.service": (3, "inactive"),
            "systemctl is-enabled walinuxagent.service": (1, "disabled"),
            "/usr/sbin/waagent --version": "WALinuxAgent-2.2.45 running on debian 12\n"
                                           "Goal state agent: 2.2.45\n"}
    ctx, spec, findings = live_findings(fs, cmds)
    assert {f.id for f in findings} == {"agent.extensions_enabled", "agent.disable_agent",
                                        "agent.service", "agent.version"}
    actions = spec.planner(ctx, findings)
    kinds = [type(a) for a in actions]
    assert kinds[:2] == [WriteFile, DeleteFile]
    runs = [a for a in actions if isinstance(a, RunCommand)]
    assert [list(a.argv) for a in runs] == [
        ["systemctl", "enable", "walinuxagent.service"],
        ["systemctl", "start", "walinuxagent.service"],
        ["apt-get", "update"],
        ["apt-get", "install", "--only-upgrade", "-y", "waagent"]]
    assert list(runs[0].undo_argv) == ["systemctl", "disable", "walinuxagent.service"]
    assert list(runs[1].undo_argv) == ["systemctl", "stop", "walinuxagent.service"]
    assert not runs[2].reversible and not runs[3].reversible
    assert not any(isinstance(a, Symlink) for a in actions)


def test_live_plan_restarts_a_running_agent_after_conf_change(fs):
    cmds = {"systemctl --version": "systemd 252",
            "systemctl is-active walinuxagent.service": (0, "active"),
            "systemctl is-enabled walinuxagent.service": (0, "enabled"),
            "/usr/sbin/waagent --version": "WALinuxAgent-2.7.3.0 running on debian 12\n"}
    ctx, spec, findings = live_findings(fs, cmds)
    actions = spec.planner(ctx, findings)
    runs = [list(a.argv) for a in actions if isinstance(a, RunCommand)]
    assert runs == [["systemctl", "restart", "walinuxagent.service"]]


def test_fix_agent_offline_refuses_a_package_update(tmp_path):
    root = build_root(tmp_path, broken=False)
    status = root / "var/lib/dpkg/status"
    status.write_bytes(status.read_bytes().replace(b"2.7.3.0-1", b"2.2.45-1"))
    (root / "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py").write_bytes(
        b"AGENT_VERSION = '2.2.45'\n")
    before = tree(root)
    res = invoke("fix", "--agent", "--yes", "--root", str(root))
    assert res.exit_code == 3, res.output
    assert "needs the live VM" in res.output
    assert tree(root) == before
