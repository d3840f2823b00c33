"""`azbdiag fix --dhcp` end to end on a real temporary root: plan, apply, re-check, run again
(nothing to do), undo (the tree is byte for byte as before, owners and modes too)."""

from __future__ import annotations

import os
import stat

import pytest
from test_dhcp import NETWORKD_STATIC, RHEL_STATIC, SUSE_STATIC
from test_network import AZURE_NETPLAN, KEYFILE, STATIC_NETPLAN
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.parsers import netplan
from azbdiag.state import STATE_ENV


def tree(root):
    """Everything under root: kind, mode, owner, and the bytes or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("link", os.readlink(p)) + meta
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    out[p] = ("file", fh.read()) + meta
            else:
                out[p] = ("dir",) + meta
    return out


def invoke(*args):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


def make_root(tmp_path, files, mode=0o640, owner=(1234, 5678)):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("vm\n")
    for path, content in files.items():
        real = root / path.lstrip("/")
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(real, mode)
        if os.geteuid() == 0:
            os.chown(real, *owner)
    return root


CASES = [
    ("/etc/netplan/50-cloud-init.yaml", STATIC_NETPLAN,
     lambda t: netplan.netplan_set_dhcp4(t, "eth0")[0]),
    ("/etc/sysconfig/network-scripts/ifcfg-eth0", RHEL_STATIC,
     lambda t: t.replace("BOOTPROTO=none", "BOOTPROTO=dhcp")),
    ("/etc/sysconfig/network/ifcfg-eth0", SUSE_STATIC,
     lambda t: t.replace("BOOTPROTO='static'", "BOOTPROTO='dhcp'")),
    ("/etc/NetworkManager/system-connections/eth0.nmconnection", KEYFILE,
     lambda t: t.replace("method=manual", "method=auto")),
]


@pytest.mark.parametrize("path,text,expected", CASES, ids=["netplan", "ifcfg", "ifcfg-suse",
                                                           "nm-keyfile"])
def test_fix_dhcp_apply_rerun_undo(tmp_path, state, path, text, expected):
    root = make_root(tmp_path, {path: text})
    before = tree(root)
    real = str(root) + path
    res = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert "next reboot or network restart" in res.output
    assert "SSH session stays up" in res.output
    with open(real, encoding="utf-8") as fh:
        assert fh.read() == expected(text)
    st = os.stat(real)
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    after = tree(root)
    assert after != before
    # a second run finds the check ok and plans nothing
    again = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert tree(root) == after
    undone = invoke("undo", "--yes", "--root", str(root))
    assert undone.exit_code == 0, undone.output
    assert tree(root) == before


def test_fix_dhcp_packaged_netplan_gets_an_etc_override(tmp_path, state):
    root = make_root(tmp_path, {"/lib/netplan/50-base.yaml": STATIC_NETPLAN})
    before = tree(root)
    res = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    override = root / "etc" / "netplan" / "50-base.yaml"
    assert override.read_text() == netplan.netplan_set_dhcp4(STATIC_NETPLAN, "eth0")[0]
    assert stat.S_IMODE(os.stat(override).st_mode) == 0o600
    assert (root / "lib" / "netplan" / "50-base.yaml").read_text() == STATIC_NETPLAN
    assert invoke("undo", "--yes", "--root", str(root)).exit_code == 0
    assert tree(root) == before


def test_fix_dhcp_ok_plans_nothing(tmp_path, state):
    root = make_root(tmp_path, {"/etc/netplan/50-cloud-init.yaml": AZURE_NETPLAN})
    before = tree(root)
    res = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert tree(root) == before
    assert not os.path.exists(state / "journal") or not os.listdir(state / "journal")


def test_fix_dhcp_dry_run_shows_the_diff(tmp_path, state):
    root = make_root(tmp_path, {"/etc/sysconfig/network-scripts/ifcfg-eth0": RHEL_STATIC})
    before = tree(root)
    res = invoke("fix", "--dhcp", "--dry-run", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert "-BOOTPROTO=none" in res.output and "+BOOTPROTO=dhcp" in res.output
    assert tree(root) == before


def test_fix_dhcp_refuses_stacks_it_does_not_edit(tmp_path, state):
    root = make_root(tmp_path, {"/etc/systemd/network/10-eth0.network": NETWORKD_STATIC})
    before = tree(root)
    res = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    # The rule marks the finding not fixable: fix says why, and the fail it leaves is exit 1.
    assert res.exit_code == 1, res.output
    assert "is not repaired by this fix" in res.output and "DHCP=ipv4" in res.output
    assert tree(root) == before


def test_fix_dhcp_refuses_flow_style_netplan(tmp_path, state):
    text = "network: {version: 2, ethernets: {eth0: {addresses: [10.0.0.5/24]}}}\n"
    root = make_root(tmp_path, {"/etc/netplan/01.yaml": text})
    before = tree(root)
    res = invoke("fix", "--dhcp", "--yes", "--root", str(root))
    assert res.exit_code == 3 and "by hand" in res.output
    assert tree(root) == before
