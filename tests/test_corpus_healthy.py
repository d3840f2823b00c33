"""Healthy OS disks of every supported distribution, laid out from the distributions' own files
(tests/corpus.py): `azbdiag check --root` must exit 0 with no `fail` and no `error`, read each
layout the way it really is, and list the freeze in the extension's order.

Each test names the Correction of reference/vmbackup-extension.md ("extension Correction N")
or reference/walinuxagent.md ("agent Correction N") it guards where one applies."""

import os

import corpus
import pytest
from corpus import DISTROS, build, check, describe


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """One healthy root per distribution and its report, shared by this module's tests."""
    corpus.need_upstream()
    base = tmp_path_factory.mktemp("corpus")
    built = {}
    for key in DISTROS:
        root = build(base, key)
        built[key] = (root, check(root))
    return built


@pytest.mark.parametrize("key", list(DISTROS))
def test_healthy_root_exits_0_without_fail_or_error(reports, key):
    root, rep = reports[key]
    assert rep.exit_code == 0 and not rep.with_status("fail", "error"), (
        f"{root.layout.title}:\n{describe(rep, ('fail', 'error'))}")
    summary = rep.doc["summary"]
    assert sum(summary.values()) == len(rep.doc["results"])


# The only warnings a healthy root may get, and why each is due.
JUSTIFIED_WARNINGS = {
    # the package is 2.2.46, below 2.2.53.1, covered by WALinuxAgent-2.11.1.4 (WALinuxAgent#3161)
    "ubuntu2204": {"agent.version"},
}


@pytest.mark.parametrize("key", list(DISTROS))
def test_healthy_root_has_no_noise(reports, key):
    """A distribution's own stock settings (Debian's AutoUpdate.Enabled=n, cloud-init's
    profiles, Azure Linux not named on the support list) are information, not warnings."""
    root, rep = reports[key]
    warned = {r["id"] for r in rep.with_status("warn")}
    assert warned == JUSTIFIED_WARNINGS.get(key, set()), describe(rep, ("warn",))


@pytest.mark.parametrize("key", list(DISTROS))
def test_freeze_list_in_the_extensions_order(reports, key):
    """The extension freezes one mount point per device, ext3/ext4/xfs/btrfs only, in reverse
    mount order with / last (mounts.py Mounts, fsfreezer.py freeze_safe). The roots' expected
    lists are derived by hand from their fstab in DISTROS."""
    root, rep = reports[key]
    assert rep.freeze_list_matches(root.layout.freeze_order), (rep.freeze_list(),
                                                               root.layout.freeze_order)


@pytest.mark.parametrize("key", list(DISTROS))
def test_each_root_is_read_as_the_distribution_it_is(reports, key):
    """The layouts are not all alike: each one is recognised for what it is."""
    root, rep = reports[key]
    layout = root.layout
    host = rep.doc["host"]
    expect_id = corpus._distro_words(layout)[0]
    assert host["distro"]["id"] == expect_id
    assert host["kernel"] == layout.kernel and host["arch"] == "x86_64"
    assert host["hostname"] == layout.hostname
    inst = rep.result("agent.installed")
    assert inst["status"] == "ok"
    assert f"command: {layout.cli}" in inst["evidence"]
    assert any(layout.site in e and layout.agent_version in e for e in inst["evidence"]), inst
    svc = rep.result("agent.service")
    assert svc["status"] == "ok" and layout.unit_name in svc["summary"]
    unit_line = next(e for e in svc["evidence"] if e.startswith("unit file: "))
    assert root.p(unit_line[len("unit file: "):]).resolve() == \
        root.p(f"{layout.unit_dir}/{layout.unit_name}").resolve()
    ver = rep.result("agent.version")
    newest = layout.goal_agents[-1] if layout.goal_agents else layout.agent_version
    assert ver["status"] in ("ok", "warn") and f"agent {newest}" in ver["summary"], ver
    ext = rep.result("extension.installed")
    assert ext["status"] == "ok" and corpus.EXT_VERSION in ext["summary"]
    last = rep.result("extension.last_status")
    assert last["status"] == "ok" and "code 1" in " ".join(last["evidence"])
    assert rep.result("agent.heartbeat")["status"] == "ok"
    assert rep.result("freeze.extension_log")["status"] == "ok"
    assert rep.result("extension.safefreeze")["status"] == "ok"
    assert rep.result("agent.noexec")["status"] == "ok"
    if layout.selinux:
        for rule in ("selinux.mode", "selinux.policy"):
            assert rep.result(rule)["status"] == "ok", rep.result(rule)
        assert "enforcing" in rep.result("selinux.mode")["summary"]
        if root.labels and os.geteuid() == 0:
            assert rep.result("selinux.labels")["status"] == "ok", rep.result("selinux.labels")
    else:
        assert rep.result("selinux.mode")["status"] == "skipped"


def test_each_root_uses_the_distributions_own_files(tmp_path):
    """The roots carry the upstream files byte for byte where the distribution ships them as
    they are, and the distribution's documented changes where it does not."""
    up = corpus.need_upstream()
    for key, layout in DISTROS.items():
        root = build(tmp_path, key)
        conf = root.read_bytes("/etc/waagent.conf")
        with open(os.path.join(up, layout.conf_src), "rb") as fh:
            shipped = fh.read()
        if layout.conf_edit is None:
            assert conf == shipped, key
        else:
            assert b"AutoUpdate.Enabled=n" in conf and b"Provisioning.Agent=cloud-init" in conf
        unit = root.read(f"{layout.unit_dir}/{layout.unit_name}")
        assert "[Service]" in unit and layout.cli in unit
        manifest = root.read_bytes(f"{root.ext_dir}/HandlerManifest.json")
        with open(os.path.join(up, "azure-linux-extensions/VMBackup/HandlerManifest.json"),
                  "rb") as fh:
            assert manifest == fh.read()
        link = root.p(f"/etc/systemd/system/multi-user.target.wants/{layout.unit_name}")
        assert os.readlink(link) == f"{layout.unit_dir}/{layout.unit_name}"


def test_rpm_roots_answer_only_queries_of_their_own_database(tmp_path):
    """The emulated rpm: the root's %_dbpath (through its links) finds the agent package;
    without --dbpath it answers as a rescue VM's own rpm does."""
    root = build(tmp_path, "sles15")
    runner = corpus.CorpusRunner(root)
    qf = "%{NAME}\t%{VERSION}-%{RELEASE}\n"
    base = ["rpm", "--root", str(root.path)]
    res = runner.run(base + ["--dbpath", "/var/lib/rpm", "-q", "--qf", qf, "python-azure-agent"])
    assert res.rc == 0 and res.stdout == "python-azure-agent\t2.9.1.1-150100.3.50.1\n"
    res = runner.run(base + ["-q", "--qf", qf, "python-azure-agent"])
    assert res.rc == 1 and res.stdout == "package python-azure-agent is not installed\n"
    res = runner.run(base + ["--dbpath", "/var/lib/nothing", "-q", "WALinuxAgent"])
    assert res.rc == 1 and "not installed" in res.stdout


def test_corpus_skips_with_a_reason_without_the_upstream_data(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus.UPSTREAM_ENV, str(tmp_path / "absent"))
    assert corpus.upstream_dir() is None
    with pytest.raises(pytest.skip.Exception, match="upstream data"):
        corpus.need_upstream()
