"""`azbdiag fix --selinux`: offline end to end on a real temporary root (schedules the guest's
own relabel), and live through a fake command table (restorecon per previewed file, undone with
chcon back to the old label)."""

from __future__ import annotations

import os

import pytest
from test_dhcp_fix import invoke, make_root, tree

from azbdiag.fix import registered_fixes
from azbdiag.fix.run import run_fix
from azbdiag.fix.undo import run_undo
from azbdiag.host import Host
from azbdiag.report import run_check
from azbdiag.runner import CommandResult, FakeRunner
from azbdiag.state import STATE_ENV

CONFIG = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
OLD = "unconfined_u:object_r:user_tmp_t:s0"
FILE = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9/main/handle.sh"


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


def selinux_root(tmp_path, labelled=False):
    root = make_root(tmp_path, {"/etc/selinux/config": CONFIG,
                                "/etc/selinux/targeted/contexts/files/file_contexts": "",
                                FILE: "#!/bin/sh\n"}, mode=0o700, owner=(0, 0))
    if labelled:
        try:
            for dirpath, dirnames, filenames in os.walk(root / "var/lib/waagent"):
                for name in [""] + dirnames + filenames:
                    os.setxattr(os.path.join(dirpath, name), "security.selinux",
                                b"system_u:object_r:var_lib_t:s0\x00", follow_symlinks=False)
        except OSError as exc:
            pytest.skip(f"cannot set security.selinux here: {exc.strerror}")
    return root


def test_fix_selinux_offline_schedules_relabel(tmp_path, state):
    root = selinux_root(tmp_path)
    res = invoke("fix", "--selinux", "--yes", "--root", str(root))
    assert "/.autorelabel" in res.output and "setenforce" not in res.output
    assert res.exit_code in (0, 1), res.output       # labels stay wrong until the VM boots
    assert (root / ".autorelabel").read_bytes() == b""
    assert (root / "etc/selinux/config").read_text() == CONFIG     # the mode is never touched
    after = tree(root)
    again = invoke("fix", "--selinux", "--yes", "--root", str(root))
    # The relabel is scheduled: the fix says so instead of planning again (issue 12).
    assert again.exit_code == 0 and "already scheduled" in again.output, again.output
    assert tree(root) == after


def test_fix_selinux_offline_undo(tmp_path, state):
    root = selinux_root(tmp_path)
    before = tree(root)
    assert invoke("fix", "--selinux", "--yes", "--root", str(root)).exit_code in (0, 1)
    assert (root / ".autorelabel").exists()
    undone = invoke("undo", "--yes", "--root", str(root))
    assert undone.exit_code == 0, undone.output
    assert tree(root) == before


def test_fix_selinux_ok_plans_nothing(tmp_path, state):
    root = selinux_root(tmp_path, labelled=True)
    before = tree(root)
    res = invoke("fix", "--selinux", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output, res.output
    assert tree(root) == before


def test_fix_selinux_disabled_plans_nothing(tmp_path, state):
    root = make_root(tmp_path, {"/etc/selinux/config": "SELINUX=disabled\n", FILE: "x"})
    before = tree(root)
    res = invoke("fix", "--selinux", "--yes", "--root", str(root))
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert tree(root) == before


class FakeSelinux:
    """restorecon's preview lists FILE until `restorecon -v FILE` ran; chcon puts it back."""

    def __init__(self):
        self.wrong = True
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append(argv)
        if argv[:4] == ("restorecon", "-R", "-n", "-v"):
            out = (f"Would relabel {FILE} from {OLD} to system_u:object_r:var_lib_t:s0\n"
                   if self.wrong else "")
            return CommandResult(argv, 0, out)
        if argv == ("restorecon", "-v", FILE):
            self.wrong = False
            return CommandResult(argv, 0, f"Relabeled {FILE} from {OLD} to "
                                          f"system_u:object_r:var_lib_t:s0\n")
        if argv == ("chcon", "-h", OLD, FILE):
            self.wrong = True
            return CommandResult(argv, 0, "")
        return CommandResult(argv, None, not_found=True)


def live_host(tmp_path):
    root = selinux_root(tmp_path)
    (root / "sys/fs/selinux").mkdir(parents=True)
    (root / "sys/fs/selinux/enforce").write_text("1")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/restorecon").write_text("#!/bin/sh\n")
    os.chmod(root / "usr/sbin/restorecon", 0o755)
    fake = FakeSelinux()
    table = {"restorecon -R -n -v /var/lib/waagent": fake, f"restorecon -v {FILE}": fake,
             f"chcon -h {OLD} {FILE}": fake}
    return Host(root=str(root), runner=FakeRunner(table), is_root=True, live=True), fake


def test_fix_selinux_live_relabels_previewed_files_and_undoes(tmp_path, state):
    host, fake = live_host(tmp_path)
    out = []
    code = run_fix(host, ["selinux"], check=run_check, yes=True, out=out.append,
                         err=out.append)
    text = "\n".join(out)
    assert code == 0, text
    assert f"run: restorecon -v {FILE}" in text and "why: preview: Would relabel" in text
    assert "cannot be undone" not in text
    assert not any(c[0] in ("setenforce", "setsebool", "semanage") for c in fake.calls)
    assert fake.wrong is False
    out.clear()
    assert run_fix(host, ["selinux"], check=run_check, yes=True, out=out.append,
                         err=out.append) == 0
    assert "nothing to do" in "\n".join(out)
    assert run_undo(host, None, yes=True, out=out.append, err=out.append) == 0
    assert ("chcon", "-h", OLD, FILE) in fake.calls and fake.wrong is True


def test_fix_selinux_live_without_restorecon_refuses(tmp_path, state):
    host, _ = live_host(tmp_path)
    os.unlink(host.path("/usr/sbin/restorecon"))
    out = []
    code = run_fix(host, ["selinux"], check=run_check, yes=True, out=out.append,
                         err=out.append)
    assert code == 3 and "restorecon is not installed" in "\n".join(out)


def test_fix_all_orders_selinux_before_dhcp(tmp_path, state):
    from test_network import STATIC_NETPLAN

    root = make_root(tmp_path, {"/etc/selinux/config": CONFIG,
                                "/etc/selinux/targeted/contexts/files/file_contexts": "",
                                FILE: "#!/bin/sh\n",
                                "/etc/netplan/50-cloud-init.yaml": STATIC_NETPLAN})
    before = tree(root)
    res = invoke("fix", "--all", "--dry-run", "--root", str(root))
    assert "--selinux:" in res.output and "--dhcp:" in res.output, res.output
    assert res.output.index("--selinux:") < res.output.index("--dhcp:")
    orders = {k: v.order for k, v in registered_fixes().items()}
    # labels are repaired before the agent is (re)started, and the network change comes last
    assert orders["selinux"] < orders.get("agent", 99) and orders["selinux"] < orders["dhcp"]
    assert orders["dhcp"] >= max(v for k, v in orders.items() if k not in ("dhcp", "freeze"))
    assert tree(root) == before
