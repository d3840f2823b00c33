"""Hostile and damaged roots (issue 11): the host layer reads only regular files inside the
root, bounded in size, line length and time; unreadable is not absent; host facts come from
the root's own files. Real directory trees in tmp dirs (FIFOs, sockets and device nodes need a
real file system); device nodes and a second user need root."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from conftest import ROOT, SAMPLES, run_rule

from azbdiag import engine
from azbdiag import host as host_mod
from azbdiag.host import Host
from azbdiag.runner import FakeRunner

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
EXT = "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0"
EXT_LOGS = "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
# The inputs issue 11 found blocking a rule when they are FIFOs, plus the host facts' own.
FIFO_INPUTS = [
    "etc/waagent.conf", "etc/azure/vmbackup.conf", f"{EXT}/status/0.status", "etc/fstab",
    "var/lib/dpkg/status", f"{EXT_LOGS}/extension.log", f"{EXT_LOGS}/shell.log",
    f"{EXT}/HandlerEnvironment.json", f"{EXT}/config/HandlerState",
    "etc/netplan/50-cloud-init.yaml", "etc/cloud/cloud.cfg", "etc/selinux/config",
    "etc/default/grub", "var/log/audit/audit.log", "etc/environment",
    "etc/systemd/system.conf", "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json",
    "etc/hostname", "bin/sh",
]
RHEL9 = ('NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\n'
         'ID_LIKE="fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n')


def within(fn, seconds=20.0):
    """fn() in a thread; fails (instead of hanging the suite) when it does not return."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds:g} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def outcome(fn, seconds=20.0):
    """("value", fn()) or ("error", exception), failing when fn does not return in time."""
    try:
        return "value", within(fn, seconds)
    except AssertionError as exc:
        if "still running" in str(exc):
            raise
        return "error", exc
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        return "error", exc


def assert_unreadable(result, match=""):
    kind, value = result
    assert kind == "error" and type(value).__name__ == "Unreadable", result
    assert match in str(value), result


def release_fifos(root):
    """Unblock a reader stuck in open() on a FIFO (only on a layer that opened one)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if stat.S_ISFIFO(os.lstat(path).st_mode):
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass


def put(root, rel, text="", mode=None):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def fifo(root, rel):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.mkfifo(path)
    return path


def offline(root, **kw):
    return Host(root=str(root), runner=FakeRunner({}), is_root=kw.pop("is_root", True),
                live=kw.pop("live", False), **kw)


def cli(*args, timeout=120, user=None, cwd=None):
    """Run `python -m azbdiag ARGS` as a real process in its own session; returns
    (CompletedProcess, seconds). On timeout its process group is killed and the test fails."""
    env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1", NO_COLOR="1",
               PYTHONDONTWRITEBYTECODE="1")
    argv = [sys.executable, "-m", "azbdiag", *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        assert isinstance(user, int), "a uid, also used as gid"
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=cwd or tempfile.gettempdir(), start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        pytest.fail(f"azbdiag {' '.join(args)} still ran after {timeout} s")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), time.monotonic() - started


# ---- paths stay inside the root ------------------------------------------------------------

def test_symlinks_resolve_inside_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    put(outside, "secret", "rescue machine's secret\n")
    put(root, "usr/lib/os-release", "ID=inside\n")
    os.symlink("/usr/lib/os-release", root / "abs")                        # absolute: into root
    os.symlink("../../../../../../outside/secret", root / "climb")         # .. stops at root
    os.symlink(str(outside / "secret"), root / "full")                     # absolute real path
    h = offline(root)
    assert h.read_text("/abs") == "ID=inside\n"
    for p in ("/climb", "/full"):
        assert h.try_read_text(p) is None and not h.exists(p)
    assert h.islink("/full") and h.readlink("/full") == str(outside / "secret")
    assert h.path("/abs") == str(root / "usr/lib/os-release")


def test_dotdot_and_deep_trees(tmp_path):
    put(tmp_path, "etc/x", "x\n")
    os.makedirs(tmp_path / "a" / "b")
    h = offline(tmp_path)
    assert h.read_text("/a/b/../../../../../etc/x") == "x\n"
    os.symlink("../../../../etc/x", tmp_path / "a" / "b" / "up")
    assert h.read_text("/a/b/up") == "x\n"
    # Deeper than the descriptors the process may hold: the walk keeps two open at a time.
    import resource

    os.makedirs(tmp_path / ("d/" * 300))
    put(tmp_path, "d/" * 300 + "f", "bottom\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 200), hard))
    try:
        assert h.read_text("/d" * 300 + "/f") == "bottom\n"
        assert h.read_text("/d" * 250 + "/.." * 260 + "/etc/x") == "x\n"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_symlink_loop_is_unreadable_not_absent(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    h = offline(tmp_path)
    assert_unreadable(outcome(lambda: h.exists("/a")), "symbolic links")
    assert_unreadable(outcome(lambda: h.try_read_text("/a")), "symbolic links")
    with pytest.raises(OSError):
        h.read_bytes("/a")


def test_missing_parent_and_file_under_a_file_are_absent(tmp_path):
    put(tmp_path, "etc/hostname", "vm\n")
    h = offline(tmp_path)
    assert h.try_read_text("/etc/nothing") is None
    assert h.try_read_text("/etc/hostname/x") is None          # ENOTDIR: absent
    assert h.listdir("/nothing") == [] and h.listdir("/etc/hostname") == []
    assert h.glob("/etc", "host*") == ["/etc/hostname"]


def test_listing_is_bounded(tmp_path, monkeypatch):
    for i in range(10):
        put(tmp_path, f"d/f{i}")
    monkeypatch.setattr(host_mod, "MAX_ENTRIES", 5, raising=False)
    h = offline(tmp_path)
    assert_unreadable(outcome(lambda: h.listdir("/d")), "more than 5 entries")


# ---- only regular files are read (items 6, 7, 11) ------------------------------------------

def test_fifo_is_refused_without_blocking(tmp_path):
    fifo(tmp_path, "etc/waagent.conf")
    h = offline(tmp_path)
    try:
        assert_unreadable(outcome(lambda: h.try_read_text("/etc/waagent.conf"), 10), "FIFO")
        assert_unreadable(outcome(lambda: h.read_bytes("/etc/waagent.conf"), 10), "FIFO")
        assert h.exists("/etc/waagent.conf") and not h.isfile("/etc/waagent.conf")
    finally:
        release_fifos(tmp_path)


def test_socket_is_refused(tmp_path):
    os.makedirs(tmp_path / "etc")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "etc" / "fstab"))
        h = offline(tmp_path)
        assert_unreadable(outcome(lambda: h.try_read_text("/etc/fstab")), "socket")
    finally:
        sock.close()


@needs_root
def test_device_node_is_never_read(tmp_path):
    """Item 6: a device node at vmbackup.conf must not put the rescue machine's bytes (here
    /dev/urandom's) into the evidence: the rules that need the file report an error."""
    os.makedirs(tmp_path / "etc" / "azure")
    os.mknod(tmp_path / "etc/azure/vmbackup.conf", 0o644 | stat.S_IFCHR, os.makedev(1, 9))
    h = offline(tmp_path)
    res = run_rule(h, "vmbackup_conf.parses")
    assert res.status.value == "error", res
    assert "character device" in res.summary and not res.evidence
    assert_unreadable(outcome(lambda: h.read_bytes("/etc/azure/vmbackup.conf")), "character device")


def test_host_facts_with_fifos_return_at_once(tmp_path):
    """Item 7: FIFOs at /etc/hostname and /bin/sh (host facts had no timeout)."""
    put(tmp_path, "etc/os-release", RHEL9)
    fifo(tmp_path, "etc/hostname")
    fifo(tmp_path, "bin/sh")
    try:
        facts = within(lambda: offline(tmp_path).facts(), 15)
    finally:
        release_fifos(tmp_path)
    assert (facts.hostname, facts.arch, facts.distro_id) == ("", "", "rhel")


def _fifo_root(tmp):
    root = os.path.join(str(tmp), "root")
    shutil.copytree(os.path.join(SAMPLES, "healthy"), root, symlinks=True)
    for rel in FIFO_INPUTS:
        fifo(root, rel)
    return root


def test_check_with_fifos_at_every_input_keeps_its_deadline(tmp_path):
    """Items 7 and 11, through the real CLI: `check --deadline 20` with a FIFO at each of the
    inputs the issue lists, at /etc/hostname and at /bin/sh finishes (no read blocks: a rule
    that blocked would be cut by its timeout or the deadline, a blocked host fact would hang
    the run), every rule runs (none is cut by the deadline), and the rules that read a FIFO
    say so as an error. Not timed: a loaded machine is slow, not wrong."""
    root = _fifo_root(tmp_path)
    try:
        res, _ = cli("check", "--root", root, "--deadline", "20", "--format", "json",
                     timeout=120)
    finally:
        release_fifos(root)
    doc = json.loads(res.stdout)
    assert len(doc["results"]) == len(engine.all_rules())
    assert not [r["id"] for r in doc["results"] if "deadline" in r["summary"]
                or "timed out" in r["summary"]]
    by_id = {r["id"]: r for r in doc["results"]}
    for rid in ("vmbackup_conf.parses", "agent.installed", "selinux.mode", "dhcp.config",
                "freeze.extension_log", "platform.proxy"):
        assert by_id[rid]["status"] == "error" and "FIFO" in by_id[rid]["summary"], by_id[rid]
    assert by_id["platform.asr"]["status"] == "ok"          # a rule that reads no FIFO
    assert doc["host"]["hostname"] == "" and doc["host"]["arch"] == ""


# ---- unreadable is not absent (item 19) ----------------------------------------------------

@pytest.fixture
def shared_root():
    """A copy of the healthy root that another user can reach (tmp_path is root's only)."""
    top = tempfile.mkdtemp(prefix="azbdiag-h4-")
    os.chmod(top, 0o755)
    root = os.path.join(top, "root")
    shutil.copytree(os.path.join(SAMPLES, "healthy"), root, symlinks=True)
    try:
        yield root
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _runs_as_nobody() -> bool:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    res = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                          sys.executable, "-c", "import azbdiag.cli"], cwd=tempfile.gettempdir(),
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True)
    return res.returncode == 0


@pytest.mark.skipif(not _runs_as_nobody(), reason="needs root, setpriv and a Python `nobody` can run")
def test_unreadable_files_are_not_reported_absent_to_a_normal_user(shared_root):
    """Item 19: as a normal user, files that exist behind a directory the user cannot search
    were reported absent: "agent not installed" (fail), "no disable_agent" (ok),
    "vmbackup.conf is absent" (ok). They are skipped as "not root" now."""
    put(shared_root, "var/lib/waagent/disable_agent", "")
    for rel in ("etc/azure", "var/lib/waagent", "usr/sbin", "var/lib/dpkg", "usr/lib/python3"):
        os.chmod(os.path.join(shared_root, rel), 0o700)
    ids = ("agent.installed", "agent.disable_agent", "vmbackup_conf.parses")
    args = ["check", "--root", shared_root, "--format", "json"]
    for rid in ids:
        args += ["--only", rid]
    res, _ = cli(*args, user=NOBODY)
    doc = json.loads(res.stdout)
    got = {r["id"]: r for r in doc["results"]}
    assert set(got) == set(ids), res.stderr
    for rid in ids:
        assert got[rid]["status"] == "skipped", got[rid]
        assert got[rid]["skip_reason"] == "not root" and "permission denied" in got[rid]["summary"]
    # As root the same disk reads fine: the agent is installed and disable_agent is found.
    root_doc = json.loads(cli(*args)[0].stdout)
    status = {r["id"]: r["status"] for r in root_doc["results"]}
    assert status == {"agent.installed": "ok", "agent.disable_agent": "fail",
                      "vmbackup_conf.parses": "ok"}


# ---- the distribution comes from the root's own files (items 5, 8) -------------------------

def test_os_release_symlinks_are_followed_inside_the_root(tmp_path):
    """Item 5: a RHEL 9 disk whose /etc/os-release points to /usr/lib/os-release (absolute,
    or by climbing with ..) is a RHEL 9 disk, whatever the rescue machine runs."""
    for name, link in (("abs", "/usr/lib/os-release"),
                       ("climb", "../../../../../../../../usr/lib/os-release")):
        root = tmp_path / name
        put(root, "usr/lib/os-release", RHEL9)
        os.makedirs(root / "etc")
        os.symlink(link, root / "etc" / "os-release")
        facts = offline(root).facts()
        assert (facts.distro_id, facts.distro_version) == ("rhel", "9.4"), name
        assert facts.distro_name == "Red Hat Enterprise Linux 9.4 (Plow)"


def test_release_files_symlinked_out_of_the_root_are_not_read(tmp_path):
    """distro also reads /etc/*-release: a link out of the root must not name the rescue
    machine's distribution."""
    os.makedirs(tmp_path / "etc")
    os.symlink("/etc/os-release", tmp_path / "etc" / "redhat-release")
    os.symlink("/etc/debian_version", tmp_path / "etc" / "debian_version")
    facts = offline(tmp_path).facts()
    assert (facts.distro_id, facts.distro_version) == ("unknown", "")


@pytest.mark.parametrize("sample", ["healthy", "broken"])
def test_distro_answers_as_distro_does_on_a_plain_root(sample):
    import distro

    root = os.path.join(SAMPLES, sample)
    direct = distro.LinuxDistribution(include_lsb=False, include_uname=False, root_dir=root)
    facts = offline(root).facts()
    assert (facts.distro_id, facts.distro_version, facts.distro_name, facts.distro_like) == (
        direct.id(), direct.version(), direct.name(pretty=True), direct.like())


def test_release_file_without_os_release(tmp_path):
    put(tmp_path, "etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n")
    facts = offline(tmp_path).facts()
    assert (facts.distro_id, facts.distro_version) == ("centos", "7.9.2009")


OL9 = ('NAME="Oracle Linux Server"\nVERSION="9.4"\nID="ol"\nID_LIKE="fedora"\n'
       'VERSION_ID="9.4"\nPRETTY_NAME="Oracle Linux Server 9.4"\n# comment\n')


@pytest.mark.parametrize("text", [RHEL9, OL9])
def test_without_a_writable_temporary_directory_os_release_still_counts(tmp_path, monkeypatch,
                                                                        text):
    import distro

    put(tmp_path, "etc/os-release", text)
    direct = distro.LinuxDistribution(include_lsb=False, include_uname=False,
                                      root_dir=str(tmp_path))
    want = (direct.id(), direct.version(), direct.name(pretty=True), direct.like())

    def no_tmp(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/tmp")

    monkeypatch.setattr(tempfile, "mkdtemp", no_tmp)
    facts = offline(tmp_path).facts()
    assert (facts.distro_id, facts.distro_version, facts.distro_name, facts.distro_like) == want


def test_os_release_with_a_2mb_line_does_not_stall(tmp_path):
    """Item 8: a 2 MB line kept distro's lexer busy for minutes."""
    put(tmp_path, "etc/os-release", "PRETTY_NAME=\"" + "x" * (2 * 1024 * 1024) + "\"\n" + RHEL9)
    facts = within(lambda: offline(tmp_path).facts(), 30)
    assert (facts.distro_id, facts.distro_version) == ("rhel", "9.4")
    assert len(facts.distro_name) <= 256


# ---- sizes: lines, host names, reports (item 22) -------------------------------------------

def test_long_lines_are_cut(tmp_path):
    line = 256 * 1024
    put(tmp_path, "f", "short\n" + "y" * (line * 3) + "\nend\n")
    text = offline(tmp_path).read_text("/f")
    assert text.split("\n") == ["short", "y" * line, "end", ""]
    assert host_mod.MAX_LINE == line


def test_host_name_from_a_20mb_line(tmp_path):
    put(tmp_path, "etc/hostname", b"vm" + b"\0" * 10 + b"a" * (20 * 1024 * 1024) + b"\n")
    name = offline(tmp_path).facts().hostname
    assert name.startswith("vmaaa") and len(name) <= 253 and "\0" not in name


def test_a_20mb_line_does_not_make_a_huge_report(tmp_path):
    """vmbackup.conf with a 20 MB line that does not parse: its evidence quotes the line."""
    shutil.copytree(os.path.join(SAMPLES, "broken"), tmp_path / "root", symlinks=True)
    root = tmp_path / "root"
    put(root, "etc/azure/vmbackup.conf",
        "[SnapshotThread]\nMountsToSkip = /data/" + "z" * (20 * 1024 * 1024) + "\n")
    res, _ = cli("check", "--root", str(root), "--format", "json", timeout=120)
    assert len(res.stdout) < 200_000, len(res.stdout)
    doc = json.loads(res.stdout)
    lines = [e for r in doc["results"] for e in r["evidence"]] + [r["summary"] for r in doc["results"]]
    assert max(len(x) for x in lines) <= max(engine.MAX_EVIDENCE_LINE, engine.MAX_SUMMARY)


# ---- the other hang inputs through the CLI (items 8 and 9) --------------------------------

RUNAWAY = r"/var/lib/waagent/(a+)+"
RUNAWAY_NAME = "/var/lib/waagent/" + "a" * 40 + "!"


def _plant_long_os_release(root):
    put(root, "etc/os-release", "PRETTY_NAME=\"" + "x" * (2 * 1024 * 1024) + "\"\n" + RHEL9)


def _plant_runaway_file_contexts(root):
    put(root, "etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    put(root, "etc/selinux/targeted/contexts/files/file_contexts",
        "/var/lib/waagent(/.*)? system_u:object_r:var_lib_t:s0\n"
        f"{RUNAWAY} system_u:object_r:var_lib_t:s0\n")
    put(root, RUNAWAY_NAME.lstrip("/"))


@pytest.mark.parametrize("plant", [_plant_long_os_release, _plant_runaway_file_contexts,
                                   lambda r: (_plant_long_os_release(r),
                                              _plant_runaway_file_contexts(r))],
                         ids=["2mb-os-release", "runaway-regex", "both"])
def test_check_with_the_other_hang_inputs_keeps_its_deadline(tmp_path, plant):
    """Items 8 and 9, through the real CLI as the issue states it: `check --deadline 20` on a
    root with a 2 MB os-release line and/or a file_contexts pattern that runs away on a file
    name of the disk finishes, and every rule runs (none is cut by its timeout or the
    deadline). Not timed: a loaded machine is slow, not wrong."""
    root = str(tmp_path / "root")
    shutil.copytree(os.path.join(SAMPLES, "healthy"), root, symlinks=True)
    plant(root)
    res, _ = cli("check", "--root", root, "--deadline", "20", "--format", "json",
                 timeout=120)
    doc = json.loads(res.stdout)
    assert len(doc["results"]) == len(engine.all_rules())
    assert not [r["id"] for r in doc["results"] if "deadline" in r["summary"]
                or "timed out" in r["summary"]]
    if "long" in plant.__name__ or plant.__name__ == "<lambda>":
        assert doc["host"]["distro"]["id"] == "rhel"
    if "runaway" in plant.__name__ or plant.__name__ == "<lambda>":
        labels = {r["id"]: r for r in doc["results"]}["selinux.labels"]
        assert labels["status"] not in ("skipped", "error"), labels


def test_bounded_read_examples_and_limit(tmp_path):
    """The one bounded read loop: its docstring example, and never more than the limit from a
    file bigger than one chunk."""
    import doctest

    from azbdiag import bounded_read

    assert doctest.testmod(bounded_read, report=False).failed == 0
    big = put(tmp_path, "big", b"x" * (bounded_read.CHUNK + 10))
    fd = os.open(big, os.O_RDONLY)
    try:
        assert len(bounded_read.read_fd(fd, bounded_read.CHUNK + 3)) == bounded_read.CHUNK + 3
        assert bounded_read.read_fd(fd, 100) == b"x" * 7
    finally:
        os.close(fd)
