"""Shared facts: backup_in_progress, and the safe order of `fix --all`."""

from conftest import make_host

from azbdiag import fixer
from azbdiag.facts import backup_in_progress

EXT = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0"


def _proc(fs, pid, cmdline, cwd="/", comm="python3"):
    fs.create_file(f"/proc/{pid}/cmdline", contents="\0".join(cmdline) + "\0")
    fs.create_file(f"/proc/{pid}/comm", contents=comm + "\n")
    fs.create_dir(cwd) if not fs.exists(cwd) else None
    fs.create_symlink(f"/proc/{pid}/cwd", cwd)


def test_daemon_started_with_relative_path_is_found_by_its_cwd(fs):
    _proc(fs, 4242, ["python3", "main/handle.py", "-daemon"], cwd=EXT)
    _proc(fs, 4243, ["python3", "main/handle.py", "-daemon"], cwd="/opt/other")
    found = backup_in_progress(make_host(fs, {}, live=True))
    assert len(found) == 1 and "pid 4242" in found[0]


def test_safefreeze_process_is_found_and_nothing_else(fs):
    _proc(fs, 77, [f"{EXT}/main/safefreeze/bin/safefreeze", "60"], comm="safefreeze")
    _proc(fs, 78, ["sshd", "-D"], comm="sshd")
    found = backup_in_progress(make_host(fs, {}, live=True))
    assert [f.split(":")[0] for f in found] == ["pid 77"]


def test_offline_root_never_reports_a_running_backup(fs):
    _proc(fs, 77, ["safefreeze"], comm="safefreeze")
    assert backup_in_progress(make_host(fs, {}, root="/mnt/disk", live=False)) == []


def test_fix_all_runs_reversible_config_fixes_before_the_irreversible_fsck():
    from azbdiag import engine

    engine.load_rules()
    orders = {k: v.order for k, v in fixer.registered_fixes().items()}
    assert set(orders) == {"vmbackup-conf", "scripts", "selinux", "agent", "dhcp", "freeze"}
    assert sorted(orders, key=orders.get) == ["vmbackup-conf", "scripts", "selinux", "agent",
                                              "dhcp", "freeze"]
