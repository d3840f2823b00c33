"""Shared facts: backup_in_progress, and the safe order of `fix --all`."""

from conftest import make_host
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.facts import backup_in_progress
from azbdiag.fix import registered_fixes

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
    orders = {k: v.order for k, v in registered_fixes().items()}
    assert set(orders) == {"vmbackup-conf", "scripts", "selinux", "agent", "dhcp", "freeze"}
    assert sorted(orders, key=orders.get) == ["vmbackup-conf", "scripts", "selinux", "agent",
                                              "dhcp", "freeze"]


def test_process_table_reads_comm_cmdline_and_stat(fs):
    from azbdiag.facts import processes

    fs.create_file("/proc/10/stat", contents="10 (fapolicyd) S 1 10 10 0 -1")
    fs.create_file("/proc/10/cmdline", contents="/usr/sbin/fapolicyd\0--debug\0")
    fs.create_file("/proc/11/comm", contents="kworker/0:1\n")   # kernel thread: no cmdline
    fs.create_dir("/proc/self")
    table = {p.pid: p for p in processes(make_host(fs, {}, live=True))}
    assert set(table) == {"10", "11"}
    assert (table["10"].comm, table["10"].state, table["10"].argv) == (
        "fapolicyd", "S", ["/usr/sbin/fapolicyd", "--debug"])
    assert table["10"].cmdline == "/usr/sbin/fapolicyd --debug"
    assert (table["11"].comm, table["11"].state, table["11"].argv) == ("kworker/0:1", "?", [])


def test_process_table_is_empty_offline(fs):
    from azbdiag.facts import processes

    fs.create_file("/mnt/disk/proc/10/comm", contents="safefreeze\n")
    assert processes(make_host(fs, {}, root="/mnt/disk", live=False)) == []


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_stat_head_parser_never_raises(text):
    from azbdiag.parsers.proc import parse_stat_head

    head = parse_stat_head(text)
    assert head is None or (isinstance(head[0], str) and len(head[1]) == 1)


def test_rpm_dbpath_resolved_inside_the_root(fs):
    """agent Correction 5: offline, rpm gets --dbpath, the root's database with /var/lib/rpm's
    link followed inside the root (an absolute link must not reach the rescue VM's own)."""
    from azbdiag.facts import agent_packages
    from azbdiag.facts.agent import rpm_dbpath

    fs.create_file("/mnt/sles/usr/lib/sysimage/rpm/Packages.db")
    fs.create_symlink("/mnt/sles/var/lib/rpm", "/usr/lib/sysimage/rpm")
    fs.create_file("/usr/lib/sysimage/rpm/rpmdb.sqlite")        # the rescue VM's own
    sles = make_host(fs, {}, {
        "rpm --root /mnt/sles --dbpath /usr/lib/sysimage/rpm -q --qf %{NAME}\t%{VERSION}-%{RELEASE}\n "
        "walinuxagent waagent WALinuxAgent python-azure-agent":
            "python-azure-agent\t2.9.1.1-150100.3.50.1\n"}, root="/mnt/sles", live=False)
    assert rpm_dbpath(sles) == "/usr/lib/sysimage/rpm"
    assert [p.name for p in agent_packages(sles)] == ["python-azure-agent"]
    fs.create_file("/mnt/rhel/var/lib/rpm/rpmdb.sqlite")
    fs.create_dir("/mnt/rhel/usr/lib/sysimage/rpm")             # present, but empty
    assert rpm_dbpath(make_host(fs, {}, root="/mnt/rhel", live=False)) == "/var/lib/rpm"
    fs.create_dir("/mnt/deb/var/lib/dpkg")
    assert rpm_dbpath(make_host(fs, {}, root="/mnt/deb", live=False)) is None
