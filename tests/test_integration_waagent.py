"""A Debian 12 chroot with Debian's real `waagent` package: `azbdiag check --root` must report
the agent installed with the version the package's own CLI prints, and below the minimum only
if it is. Needs root and debootstrap (CI runs it as root); skipped otherwise."""

import json
import re

import pytest
from chroots import bookworm_chroot, chroot_run, cleanup_chroot
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.parsers import agent_version, waagent_version

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def waagent_root(tmp_path_factory):
    root = bookworm_chroot(str(tmp_path_factory.mktemp("waagent") / "root"), packages=["waagent"])
    try:
        yield root
    finally:
        cleanup_chroot(root)


def check(root, *extra):
    res = CliRunner().invoke(app, ["check", "--root", root, "--format", "json", *extra])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.output)
    return {r["id"]: r for r in doc["results"]}, doc


def test_real_waagent_package_is_found_with_its_version(waagent_root):
    cp = chroot_run(waagent_root, ["waagent", "--version"], timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    real = waagent_version.parse_version_output(cp.stdout)
    assert real.installed is not None, cp.stdout
    results, doc = check(waagent_root, "--only", "agent")
    assert doc["host"]["distro"]["id"] == "debian" and doc["host"]["live"] is False

    installed = results["agent.installed"]
    assert installed["status"] == "ok", installed
    evidence = "\n".join(installed["evidence"])
    assert re.search(rf"package: waagent {re.escape(str(real.installed))}", evidence), evidence
    assert "command: /usr/sbin/waagent" in evidence
    assert f"AGENT_VERSION {real.installed}" in evidence

    version = results["agent.version"]
    assert str(real.installed) in version["summary"]
    if agent_version.below_minimum(real.installed):
        assert version["status"] == "fail", version
    else:
        assert version["status"] in ("ok", "warn"), version
        assert "below" not in version["summary"]
    # Debian 12 ships 2.7.3.0, which meets the minimum.
    assert str(real.installed) == "2.7.3.0"
    assert version["status"] == "ok"


def test_debian_package_layout(waagent_root):
    results, _ = check(waagent_root, "--only", "agent", "--only", "platform.os_support")
    service = results["agent.service"]
    assert "walinuxagent.service" in service["summary"] or any(
        "walinuxagent.service" in e for e in service["evidence"])
    # Debian's waagent.conf turns auto-update off: shown as information, not counted, since
    # the package's agent it leaves running (2.7.3.0) is supported.
    assert results["agent.conf"]["status"] == "ok", results["agent.conf"]
    assert any(e.startswith("AutoUpdate.Enabled=n (line ") and "which is supported" in e
               for e in results["agent.conf"]["evidence"]), results["agent.conf"]
    assert results["agent.extensions_enabled"]["status"] == "ok"
    assert results["platform.os_support"]["status"] == "ok"
    for rid, res in results.items():
        assert res["status"] != "error", (rid, res)


def _tree(root, subdirs):
    import hashlib
    import os
    import stat

    out = {}
    for sub in subdirs:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, sub)):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as fh:
                        out[p] = (st.st_mode, st.st_uid, st.st_gid,
                                  hashlib.sha256(fh.read()).hexdigest())
                elif stat.S_ISLNK(st.st_mode):
                    out[p] = ("link", os.readlink(p))
                else:
                    out[p] = (st.st_mode, st.st_uid, st.st_gid)
    return out


def test_fix_agent_on_the_real_package_files(waagent_root, monkeypatch, tmp_path):
    import os

    from azbdiag.state import STATE_ENV

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))   # the journal is this machine's
    conf = os.path.join(waagent_root, "etc/waagent.conf")
    with open(conf, "rb") as fh:
        shipped = fh.read()
    disable = os.path.join(waagent_root, "var/lib/waagent/disable_agent")
    try:
        with open(conf, "ab") as fh:
            fh.write(b"Extensions.Enabled=n\n")
        open(disable, "wb").close()
        before = _tree(waagent_root, ("etc", "var/lib/waagent"))
        res = CliRunner().invoke(app, ["fix", "--agent", "--yes", "--root", waagent_root])
        assert res.exit_code == 0, res.output
        with open(conf, "rb") as fh:
            assert fh.read() == shipped + b"Extensions.Enabled=y\n"
        assert not os.path.exists(disable)
        res = CliRunner().invoke(app, ["undo", "--yes", "--root", waagent_root])
        assert res.exit_code == 0, res.output
        assert _tree(waagent_root, ("etc", "var/lib/waagent")) == before
    finally:
        with open(conf, "wb") as fh:
            fh.write(shipped)
        if os.path.exists(disable):
            os.unlink(disable)
