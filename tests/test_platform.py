"""platform.* rules. Connectivity tests use listeners on 127.0.0.1 only."""

import socket

import pytest
from azbdiag.rules import platform as pf
from conftest import make_host, run_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag import engine
from azbdiag.parsers import proc, proxy_env

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\nVERSION_ID="12"\n'


def status(res):
    return res.status.value


# ---- platform.wireserver ---------------------------------------------------------------
@pytest.fixture
def ports():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    gone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    gone.bind(("127.0.0.1", 0))
    closed = gone.getsockname()[1]
    gone.close()
    yield srv.getsockname()[1], closed
    srv.close()


def azure_host(**kw):
    from azbdiag.host import Host
    from azbdiag.runner import FakeRunner
    return Host("/", runner=FakeRunner({}), is_root=kw.get("is_root", True), azure=True,
                live=True)


def test_wireserver_ok(ports):
    open_port, _ = ports
    res = run_rule(azure_host(), "platform.wireserver", wireserver=[("127.0.0.1", open_port)])
    assert status(res) == "ok" and f"127.0.0.1:{open_port}: connected" in res.evidence[0]


def test_wireserver_closed_port_fails(ports):
    open_port, closed = ports
    res = run_rule(azure_host(), "platform.wireserver",
                   wireserver=[("127.0.0.1", open_port), ("127.0.0.1", closed)], probe_timeout=2)
    assert status(res) == "fail" and f"127.0.0.1:{closed}" in res.summary
    assert "UserErrorGuestAgentStatusUnavailable" in res.error_codes


def test_wireserver_skipped_off_azure_and_not_root(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN}, live=True, azure=False)
    assert run_rule(h, "platform.wireserver").skip_reason == "not an Azure VM"
    h2 = make_host(fs, {}, live=True, azure=True, is_root=False)
    assert run_rule(h2, "platform.wireserver").skip_reason == "not root"


# ---- platform.proxy --------------------------------------------------------------------
def test_proxy_none_ok(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN, "/etc/environment": "PATH=/bin\n"},
                  root="/disk", live=False)
    res = run_rule(h, "platform.proxy")
    assert status(res) == "ok" and "no proxy" in res.summary


def test_proxy_without_no_proxy_warns(fs):
    files = {"/etc/os-release": DEBIAN,
             "/etc/systemd/system/walinuxagent.service.d/proxy.conf":
                 '[Service]\nEnvironment="http_proxy=http://10.0.0.9:3128" "https_proxy=http://10.0.0.9:3128"\n',
             "/etc/waagent.conf": "HttpProxy.Host=10.0.0.9\nHttpProxy.Port=3128\n"}
    res = run_rule(make_host(fs, files, root="/disk", live=False), "platform.proxy")
    assert status(res) == "warn" and "proxy.conf" in res.summary
    assert any("HttpProxy.Host=10.0.0.9" in e for e in res.evidence)


def test_proxy_with_no_proxy_ok(fs):
    files = {"/etc/os-release": DEBIAN,
             "/etc/environment": "http_proxy=http://p:3128\nno_proxy=localhost,168.63.129.16,"
                                 "169.254.169.254\n"}
    res = run_rule(make_host(fs, files, root="/disk", live=False), "platform.proxy")
    assert status(res) == "ok" and res.evidence


def test_proxy_in_the_running_agents_environment(fs):
    files = {"/etc/os-release": DEBIAN,
             "/proc/55/cmdline": "/usr/bin/python3\0-u\0/usr/sbin/waagent\0-daemon\0",
             "/proc/55/environ": "PATH=/bin\0HTTPS_PROXY=http://10.1.1.1:8080\0",
             "/proc/56/cmdline": "bash\0",
             "/proc/56/environ": "http_proxy=http://elsewhere:1\0"}
    res = run_rule(make_host(fs, files, live=True), "platform.proxy")
    assert status(res) == "warn" and "the running agent (pid 55)" in res.summary
    assert not any("elsewhere" in e for e in res.evidence)


def test_proxy_skipped_by_user(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN}, root="/disk", live=False)
    res = engine.run_rules(engine.Context(h), only=["platform.proxy"], skip=["platform"])
    assert status(res[0]) == "skipped"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_proxy_settings_never_raises(text):
    assert isinstance(proxy_env.proxy_settings(text), dict)


# ---- platform.os_support ---------------------------------------------------------------
def os_host(fs, os_release, sh_elf=None):
    files = {"/etc/os-release": os_release}
    if sh_elf:
        files["/bin/sh"] = sh_elf
    return make_host(fs, files, root="/disk", live=False)


def elf(machine):
    return b"\x7fELF" + b"\x00" * 14 + machine.to_bytes(2, "little") + b"\x00" * 10


def test_os_supported(fs):
    res = run_rule(os_host(fs, DEBIAN, elf(0x3E)), "platform.os_support")
    assert status(res) == "ok" and "Debian 12" in res.summary
    assert any("learn.microsoft.com" in e for e in res.evidence)


def test_os_unlisted_version_warns(fs):
    res = run_rule(os_host(fs, 'ID=ubuntu\nVERSION_ID="18.04"\nNAME=Ubuntu\n'), "platform.os_support")
    assert status(res) == "warn" and "22.04" in res.summary


def test_os_unknown_distro_warns_not_fails(fs):
    res = run_rule(os_host(fs, 'ID=gentoo\nNAME=Gentoo\n'), "platform.os_support")
    assert status(res) == "warn" and "not on the list" in res.summary


def test_os_32_bit_fails(fs):
    res = run_rule(os_host(fs, DEBIAN, elf(0x03)), "platform.os_support")
    assert status(res) == "fail" and "32-bit" in res.summary


def test_os_endorsed_without_versions(fs):
    res = run_rule(os_host(fs, 'ID="rhel"\nVERSION_ID="9.4"\nNAME="Red Hat Enterprise Linux"\n'),
                   "platform.os_support")
    assert status(res) == "ok"


def test_os_azure_linux_is_information_not_a_warning(fs):
    """Neither Microsoft list names Azure Linux, and neither excludes it; the support matrix
    says other distributions work when the agent runs on a supported Python."""
    res = run_rule(os_host(fs, 'ID=azurelinux\nVERSION_ID="3.0"\nNAME="Microsoft Azure Linux"\n'),
                   "platform.os_support")
    assert status(res) == "ok" and res.summary.startswith("Azure Linux 3.0: not named")
    assert any("WALinuxAgent" in e and "extension.python" in e for e in res.evidence)


def test_os_skipped_without_os_release(fs):
    h = make_host(fs, {"/etc/hostname": "x"}, root="/disk", live=False)
    assert status(run_rule(h, "platform.os_support")) == "skipped"


def test_support_table_has_its_source():
    table = pf.load_support_table()
    assert table["sources"][0]["url"].startswith("https://learn.microsoft.com/")
    assert all("ids" in d and "versions" in d for d in table["distros"])


# ---- platform.resources ----------------------------------------------------------------
STAT = "cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n"
MEM = "MemTotal: 1000000 kB\nMemFree: 10000 kB\nMemAvailable: {avail} kB\n"
PSI = ("some avg10={some:.2f} avg60=1.00 avg300=0.50 total=123\n"
       "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def res_host(fs, before, avail, extra=None):
    files = {"/proc/stat": STAT.format(busy=before[0], idle=before[1]),
             "/proc/meminfo": MEM.format(avail=avail)}
    files.update(extra or {})
    return make_host(fs, files, live=True)


def _run_with_load(h, monkeypatch, after, own=(0, 0)):
    """platform.resources in a run where another rule, run meanwhile, sees the CPU move to
    `after` and azbdiag itself use `own` ticks: the sample spans the run."""
    from azbdiag import engine
    from azbdiag.model import Rule, ok

    ticks = iter(own)
    monkeypatch.setattr(pf, "_own_ticks", lambda: next(ticks))

    def meanwhile(ctx):
        with open("/proc/stat", "w") as fh:
            fh.write(STAT.format(busy=after[0], idle=after[1]))
        return ok("meanwhile")

    rules = [engine.REGISTRY["platform.resources"],
             Rule(id="test.meanwhile", title="meanwhile", func=meanwhile)]
    ctx = engine.Context(h, {})
    return engine.run_rules(ctx, rules=rules)[0]


def test_resources_ok_from_pressure_stall_information(fs):
    """Where the kernel has PSI it decides, at once: no sample, no waiting."""
    h = res_host(fs, (100, 1000), 600000, {"/proc/pressure/cpu": PSI.format(some=3.5)})
    res = run_rule(h, "platform.resources")
    assert status(res) == "ok" and "waited for a CPU 4 % of the last 10 s" in res.evidence[0]


def test_resources_cpu_pressure_and_memory_high(fs):
    h = res_host(fs, (100, 1000), 20000, {"/proc/pressure/cpu": PSI.format(some=96.0)})
    res = run_rule(h, "platform.resources")
    assert status(res) == "warn" and "tasks waiting for a CPU 96 %" in res.summary
    assert "memory 98 %" in res.summary


def test_resources_ok_from_a_sample_over_the_run(fs, monkeypatch):
    """Without PSI: /proc/stat read early in the run and again after every other rule."""
    res = _run_with_load(res_host(fs, (100, 1000), 600000), monkeypatch, (200, 1900))
    assert status(res) == "ok" and "CPU busy 10 %" in res.evidence[0]


def test_resources_cpu_and_memory_high(fs, monkeypatch):
    res = _run_with_load(res_host(fs, (100, 1000), 20000), monkeypatch, (1100, 1050))
    assert status(res) == "warn" and "CPU 95 %" in res.summary and "memory 98 %" in res.summary
    assert "ExtensionFailedTimeoutVMNetworkUnresponsive" in res.error_codes


def test_resources_leaves_azbdiags_own_cpu_out(fs, monkeypatch):
    """A one-CPU VM is busy while azbdiag itself runs: that is not the VM's load."""
    res = _run_with_load(res_host(fs, (100, 1000), 600000), monkeypatch, (1100, 1050),
                         own=(500.0, 1400.0))
    assert status(res) == "ok" and "CPU busy 10 %" in res.evidence[0]


def test_resources_load_average_when_the_run_is_too_short(fs):
    """Alone (run_one), the sample spans nothing: the load average per CPU decides."""
    h = res_host(fs, (100, 1000), 600000, {"/proc/loadavg": "1.90 1.00 0.50 3/200 999\n"})
    res = run_rule(h, "platform.resources")
    assert status(res) == "warn" and "CPU load 190 %" in res.summary
    assert "load average 1.90" in res.evidence[0] and "1 CPU(s)" in res.evidence[0]


def test_resources_skipped_offline(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN}, root="/disk", live=False)
    assert run_rule(h, "platform.resources").skip_reason == "offline root"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_proc_parsers_never_raise(text):
    proc.parse_cpu_line(text)
    proc.parse_cpu_line("cpu " + text)
    proc.parse_meminfo(text)


# ---- platform.other_backup_products ----------------------------------------------------
def test_other_products_found(fs):
    h = make_host(fs, {"/proc/101/comm": "veeamservice\n", "/proc/102/comm": "bash\n",
                       "/proc/103/comm": "fsfreeze\n"}, live=True)
    res = run_rule(h, "platform.other_backup_products")
    assert status(res) == "warn" and "Veeam" in res.summary and "fsfreeze" in res.summary


def test_other_products_none(fs):
    h = make_host(fs, {"/proc/101/comm": "sshd\n"}, live=True)
    assert status(run_rule(h, "platform.other_backup_products")) == "ok"


def test_other_products_skipped_offline(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN}, root="/disk", live=False)
    assert status(run_rule(h, "platform.other_backup_products")) == "skipped"


# ---- platform.asr ----------------------------------------------------------------------
def test_asr_absent_ok(fs):
    h = make_host(fs, {"/etc/os-release": DEBIAN}, root="/disk", live=False)
    assert status(run_rule(h, "platform.asr")) == "ok"


def test_asr_with_isanysnapshotfailed_true_warns(fs):
    h = make_host(fs, {"/usr/local/ASR": None,
                       "/etc/azure/vmbackup.conf": "[SnapshotThread]\nisanysnapshotfailed = True\n"},
                  root="/disk", live=False)
    res = run_rule(h, "platform.asr")
    assert status(res) == "warn" and any("/usr/local/ASR" in e for e in res.evidence)


def test_asr_present_and_false_ok(fs):
    h = make_host(fs, {"/usr/local/ASR": None,
                       "/etc/azure/vmbackup.conf": "[SnapshotThread]\nisanysnapshotfailed = False\n"},
                  root="/disk", live=False)
    assert status(run_rule(h, "platform.asr")) == "ok"


def test_asr_skipped_by_user(fs):
    h = make_host(fs, {"/usr/local/ASR": None}, root="/disk", live=False)
    res = engine.run_rules(engine.Context(h), only=["platform.asr"], skip=["platform.asr"])
    assert status(res[0]) == "skipped"
