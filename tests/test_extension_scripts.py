"""Pre/post script rules (extension.scripts_config, extension.scripts_permissions) and
`azbdiag fix --scripts`, end to end on a real temporary root."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from conftest import make_host, run_rule
from typer.testing import CliRunner

from azbdiag import engine
from azbdiag.cli import app
from azbdiag.fix import registered_fixes
from azbdiag.host import Host
from azbdiag.runner import FakeRunner
from azbdiag.state import STATE_ENV

PLUGIN = "/etc/azure/VMSnapshotScriptPluginConfig.json"
PHOST = "/etc/azure/VMSnapshotPluginHost.conf"
PRE, POST = "/etc/azure/pre.sh", "/etc/azure/post.sh"
ROOT = "/mnt/disk"


def config(**over):
    data = {"pluginName": "ScriptRunner", "preScriptLocation": PRE, "postScriptLocation": POST,
            "preScriptParams": [], "postScriptParams": [], "timeoutInSeconds": 60,
            "continueBackupOnFailure": True, "fsFreezeEnabled": True}
    data.update(over)
    return json.dumps(data)


def setup_host(fs, modes=None, owners=None, conf=None, extra=None, root=ROOT, **kw):
    """Plugin config and both scripts, root-owned and with the modes the extension wants,
    unless `modes` / `owners` (path -> mode / uid) say otherwise."""
    files = {PLUGIN: conf if conf is not None else config(), PRE: "#!/bin/sh\necho pre\n",
             POST: "#!/bin/sh\necho post\n"}
    files.update(extra or {})
    h = make_host(fs, files, root=root, live=False, **kw)
    wanted = {PLUGIN: 0o600, PRE: 0o700, POST: 0o700, PHOST: 0o644}
    wanted.update({p: 0o644 for p in files if p.endswith("/VMSnapshotPluginHost.conf")})
    wanted.update(modes or {})
    for path in files:
        if path in wanted:
            os.chmod(h.path(path), wanted[path])
            os.chown(h.path(path), (owners or {}).get(path, 0), 0)
    return h


# ---- extension.scripts_permissions -------------------------------------------------------
def test_permissions_ok(fs):
    res = run_rule(setup_host(fs), "extension.scripts_permissions")
    assert res.status.value == "ok" and "3 file(s)" in res.summary


def test_permissions_no_config_ok(fs):
    h = make_host(fs, {"/etc/hostname": "vm\n"}, root=ROOT, live=False)
    res = run_rule(h, "extension.scripts_permissions")
    assert res.status.value == "ok", res.evidence
    assert "no pre/post scripts" in run_rule(h, "extension.scripts_config").summary


def test_permissions_plugin_config_readable_by_others_warns(fs):
    res = run_rule(setup_host(fs, modes={PLUGIN: 0o644}), "extension.scripts_permissions")
    assert res.status.value == "warn" and res.fix == "scripts"
    assert "code 317" in res.evidence[0]
    assert res.data["repairs"] == [{"path": PLUGIN, "role": "plugin config", "chown": False,
                                    "mode": 0o600, "old_mode": 0o644}]


def test_permissions_owner_execute_bit_on_json_is_rejected(fs):
    res = run_rule(setup_host(fs, modes={PLUGIN: 0o700}), "extension.scripts_permissions")
    assert res.status.value == "warn" and res.data["repairs"][0]["mode"] == 0o600


def test_permissions_script_not_root_and_no_continue_fails(fs):
    h = setup_host(fs, modes={PRE: 0o755}, owners={POST: 1000},
                   conf=config(continueBackupOnFailure=False))
    res = run_rule(h, "extension.scripts_permissions")
    assert res.status.value == "fail"
    text = "\n".join(res.evidence)
    assert "code 306" in text and "code 307" in text and "uid 1000" in text
    repairs = {r["path"]: r for r in res.data["repairs"]}
    assert repairs[PRE]["mode"] == 0o700 and not repairs[PRE]["chown"]
    assert repairs[POST]["chown"] and repairs[POST]["mode"] == 0o700


def test_permissions_plugin_host_conf_may_be_read_not_written(fs):
    extra = {PHOST: "[pre_post]\nnumberOfPlugins: 1\npluginName0: ScriptRunner\n"
                    f"pluginPath0: /etc/azure\npluginConfigPath0: {PLUGIN}\n"}
    assert run_rule(setup_host(fs, extra=extra), "extension.scripts_permissions").status.value == "ok"


def test_permissions_plugin_host_conf_world_writable(fs):
    extra = {PHOST: f"[pre_post]\nnumberOfPlugins: 1\npluginConfigPath0: {PLUGIN}\n"}
    res = run_rule(setup_host(fs, modes={PHOST: 0o666}, extra=extra),
                   "extension.scripts_permissions")
    assert res.status.value == "warn" and "code 314" in res.evidence[0]
    assert res.data["repairs"][0]["mode"] == 0o644


class _Unreadable(Host):
    def read_bytes(self, p, limit=8 * 1024 * 1024):
        if p == PLUGIN:
            raise PermissionError(13, "Permission denied", p)
        return super().read_bytes(p, limit)


def test_not_root_cannot_read_the_config_is_skipped(fs):
    setup_host(fs)
    h = _Unreadable(root=ROOT, runner=FakeRunner({}), is_root=False, live=False)
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == "skipped" and res.skip_reason == "not root"
    res = run_rule(h, "extension.scripts_permissions")
    assert res.status.value == "skipped" and res.skip_reason == "not root"


def test_workload_flow_skips_the_script_rules(fs):
    h = setup_host(fs, extra={"/etc/azure/workload.conf": "[workload]\nworkload_name = mysql\n"})
    for rid in ("extension.scripts_config", "extension.scripts_permissions"):
        res = run_rule(h, rid)
        assert res.status.value == "skipped" and "mysql" in res.summary


# ---- extension.scripts_config ------------------------------------------------------------
def test_config_ok(fs):
    res = run_rule(setup_host(fs), "extension.scripts_config")
    assert res.status.value == "ok" and "60 s" in res.summary


def test_config_string_timeout_warns(fs):
    """ScriptRunner.get_config raises on min("60", ...); PluginHost.load_modules turns it into
    304 and handle.py takes a file-system-consistent backup: the backup survives."""
    for stop in (True, False):
        res = run_rule(setup_host(fs, conf=config(timeoutInSeconds="60",
                                                  continueBackupOnFailure=stop)),
                       "extension.scripts_config")
        assert res.status.value == "warn" and "code 304" in res.evidence[0]
        assert "file-system-consistent" in res.summary
        fs.reset()


@pytest.mark.parametrize("changes,status", [
    ({"fsFreezeEnabled": False}, "warn"),                              # 302, backup unfrozen
    ({"continueBackupOnFailure": True}, "warn"),
    ({"continueBackupOnFailure": False}, "fail"),                      # 302 fails the backup
    ({"continueBackupOnFailure": False, "fsFreezeEnabled": False}, "fail"),
])
def test_config_missing_script_fails_only_without_continue(fs, changes, status):
    """ScriptRunner.validate_scripts returns 302 with dobackup = continueBackupOnFailure."""
    res = run_rule(setup_host(fs, conf=config(preScriptLocation="/opt/none.sh", **changes)),
                   "extension.scripts_config")
    assert res.status.value == status and "code 302" in res.evidence[0]


def test_config_timeout_above_limit_warns(fs):
    res = run_rule(setup_host(fs, conf=config(timeoutInSeconds=7200)), "extension.scripts_config")
    assert res.status.value == "warn" and "1800 s" in res.summary


def test_config_timeout_capped_by_plugin_host_conf(fs):
    extra = {PHOST: f"[pre_post]\ntimeoutInSeconds: 120\nnumberOfPlugins: 1\n"
                    f"pluginConfigPath0: {PLUGIN}\n"}
    res = run_rule(setup_host(fs, conf=config(timeoutInSeconds=600), extra=extra),
                   "extension.scripts_config")
    assert res.status.value == "warn" and "above the limit of 120" in res.evidence[0]


def test_config_missing_script(fs):
    h = setup_host(fs, conf=config(postScriptLocation="/opt/app/post.sh"))
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == "warn" and "code 303" in res.evidence[0]
    fs.remove_object(h.path(PLUGIN))
    fs.create_file(h.path(PLUGIN), contents=config(postScriptLocation="/opt/app/post.sh",
                                                    continueBackupOnFailure=False))
    os.chmod(h.path(PLUGIN), 0o600)
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == "fail"


def test_config_unloadable_json_warns(fs):
    res = run_rule(setup_host(fs, conf='{"preScriptLocation": "/etc/azure/pre.sh",}'),
                   "extension.scripts_config")
    assert res.status.value == "warn" and "code 305" in res.summary


def test_config_bash_script_under_dash(fs):
    h = setup_host(fs)
    fs.remove_object(h.path(PRE))
    fs.create_file(h.path(PRE), contents="#!/bin/bash\n[[ -d /x ]] && echo y\n")
    os.chmod(h.path(PRE), 0o700)
    fs.create_symlink(h.path("/bin/sh"), "dash")
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == "warn" and "dash" in res.evidence[0]


# ---- the planner -------------------------------------------------------------------------
def test_planner_actions(fs):
    h = setup_host(fs, modes={PLUGIN: 0o640, PRE: 0o755}, owners={PLUGIN: 1000})
    res = run_rule(h, "extension.scripts_permissions")
    ctx = engine.Context(h, {})
    planner = registered_fixes()["scripts"].planner
    actions = planner(ctx, [res])
    described = [a.describe() for a in actions]
    assert described == [f"chown 0:0 {PLUGIN}", f"chmod 0600 {PLUGIN}", f"chmod 0700 {PRE}"]
    healthy = run_rule(setup_host(fs, root="/mnt/ok"), "extension.scripts_permissions")
    assert healthy.status.value == "ok"
    assert planner(engine.Context(h, {}), [healthy]) == []


# ---- fix --scripts end to end (real files) -----------------------------------------------
def snapshot(root):
    """path -> (kind, mode, uid, gid, content hash or link target) for everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("link", os.readlink(p), st.st_uid, st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[p] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest)
            else:
                out[p] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def real_root(tmp_path, bad=True):
    root = tmp_path / "root"
    azure = root / "etc" / "azure"
    azure.mkdir(parents=True)
    (azure / "VMSnapshotScriptPluginConfig.json").write_text(config())
    (azure / "pre.sh").write_text("#!/bin/sh\necho pre\n")
    (azure / "post.sh").write_text("#!/bin/sh\necho post\n")
    (azure / "VMSnapshotPluginHost.conf").write_text(
        f"[pre_post]\ntimeoutInSeconds: 1800\nnumberOfPlugins: 1\npluginName0: ScriptRunner\n"
        f"pluginPath0: /etc/azure\npluginConfigPath0: {PLUGIN}\n")
    (root / "opt").mkdir()
    (root / "opt" / "real-post.sh").write_text("#!/bin/sh\necho real post\n")
    if bad:
        layout = {"VMSnapshotScriptPluginConfig.json": (0o644, 1000, 1000),
                  "pre.sh": (0o755, 0, 0), "post.sh": (0o750, 0, 1000),
                  "VMSnapshotPluginHost.conf": (0o664, 0, 0)}
    else:
        layout = {"VMSnapshotScriptPluginConfig.json": (0o600, 0, 0), "pre.sh": (0o700, 0, 0),
                  "post.sh": (0o700, 0, 0), "VMSnapshotPluginHost.conf": (0o644, 0, 0)}
    for name, (mode, uid, gid) in layout.items():
        os.chown(azure / name, uid, gid)
        os.chmod(azure / name, mode)
    return root


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to root and back needs root")


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def check_json(root):
    res = invoke("check", "--root", str(root), "--only", "extension.scripts_permissions",
                 "--format", "json")
    return json.loads(res.output)["results"][0]


@needs_root
def test_fix_scripts_end_to_end_and_undo(tmp_path, state_dir):
    root = real_root(tmp_path)
    before = snapshot(root)
    assert check_json(root)["status"] == "warn"
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    azure = root / "etc" / "azure"
    expect = {"VMSnapshotScriptPluginConfig.json": 0o600, "pre.sh": 0o700, "post.sh": 0o700,
              "VMSnapshotPluginHost.conf": 0o644}
    for name, mode in expect.items():
        st = os.stat(azure / name)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, 0, 0), name
    assert check_json(root)["status"] == "ok"
    after = snapshot(root)
    # contents never change, only owners and modes
    assert {p: v[-1] for p, v in after.items()} == {p: v[-1] for p, v in before.items()}
    # a second run changes nothing
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert snapshot(root) == after
    res = invoke("undo", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert snapshot(root) == before


@needs_root
def test_fix_scripts_through_a_symlink_changes_the_target_only(tmp_path, state_dir):
    root = real_root(tmp_path)
    post = root / "etc" / "azure" / "post.sh"
    post.unlink()
    os.symlink("/opt/real-post.sh", post)            # absolute link inside the guest
    target = root / "opt" / "real-post.sh"
    os.chown(target, 1000, 1000)
    os.chmod(target, 0o775)
    before = snapshot(root)
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    st = os.stat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 0)
    assert os.readlink(post) == "/opt/real-post.sh"
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert snapshot(root) == before


@needs_root
def test_fix_scripts_on_a_healthy_root_plans_nothing(tmp_path, state_dir):
    root = real_root(tmp_path, bad=False)
    before = snapshot(root)
    res = invoke("fix", "--scripts", "--dry-run", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    res = invoke("fix", "--scripts", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert snapshot(root) == before
    assert not (state_dir / "journal").exists() or not os.listdir(state_dir / "journal")


@pytest.mark.parametrize("content,stops,status", [
    (b"#!/usr/bin/python3\nprint(1)\n", False, "warn"),
    (b"#!/usr/bin/python3\nprint(1)\n", True, "fail"),
    (b"\x7fELF\x02\x01", True, "fail"),
])
def test_config_script_sh_cannot_run(fs, content, stops, status):
    h = setup_host(fs, conf=config(continueBackupOnFailure=not stops))
    fs.remove_object(h.path(POST))
    fs.create_file(h.path(POST), contents=content)
    os.chmod(h.path(POST), 0o700)
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == status
    assert any("runs it" in e and POST in e for e in res.evidence)


def test_config_bash_script_where_sh_is_bash_is_ok(fs):
    h = setup_host(fs)
    fs.remove_object(h.path(PRE))
    fs.create_file(h.path(PRE), contents="#!/bin/bash\necho pre\n")
    os.chmod(h.path(PRE), 0o700)
    fs.create_symlink(h.path("/bin/sh"), "bash")
    assert run_rule(h, "extension.scripts_config").status.value == "ok"


def test_config_relative_script_path(fs):
    res = run_rule(setup_host(fs, conf=config(preScriptLocation="pre.sh")),
                   "extension.scripts_config")
    assert res.status.value == "warn"
    assert any("relative path" in e for e in res.evidence)


class _HostConfClosed(Host):
    def read_bytes(self, p, limit=8 * 1024 * 1024):
        if p == PHOST:
            raise PermissionError(13, "Permission denied", p)
        return super().read_bytes(p, limit)


def test_not_root_cannot_read_the_plugin_host_conf_is_skipped(fs):
    setup_host(fs, extra={PHOST: "[pre_post]\n"}, modes={PHOST: 0o600})
    h = _HostConfClosed(root=ROOT, runner=FakeRunner({}), is_root=False, live=False)
    res = run_rule(h, "extension.scripts_config")
    assert res.status.value == "skipped" and res.skip_reason == "not root"


def test_bundled_plugin_host_conf_is_checked_like_etc_azure(fs):
    """PluginHost.pre_check falls back to ./main/VMSnapshotPluginHost.conf of the extension
    directory it runs from and applies the same checks (314: file-system-consistent backup)."""
    ext = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0"
    bundled = f"{ext}/main/VMSnapshotPluginHost.conf"
    extra = {bundled: f"[pre_post]\ntimeoutInSeconds: 1800\nnumberOfPlugins: 1\n"
                      f"pluginName0: ScriptRunner\npluginPath0: /etc/azure\n"
                      f"pluginConfigPath0: {PLUGIN}\n",
             f"{ext}/config/HandlerState": "Enabled"}
    h = setup_host(fs, extra=extra)
    os.chmod(h.path(bundled), 0o666)
    res = run_rule(h, "extension.scripts_permissions")
    assert res.status.value == "warn" and "file-system consistent" in res.summary
    assert res.evidence == [f"bundled plugin host config {bundled}: mode 0666: group and others "
                            f"may at most read it (code 314)"]
    plan = registered_fixes()["scripts"].planner(engine.Context(h, {}), [res])
    assert [(a.path, a.mode) for a in plan] == [(bundled, 0o644)]
    fs.reset()                      # (pyfakefs may change modes once a file was read)
    h = setup_host(fs, extra=extra, modes={bundled: 0o644})
    assert run_rule(h, "extension.scripts_permissions").status.value == "ok"
