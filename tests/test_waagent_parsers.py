"""Parsers of the agent area: waagent.conf, `waagent --version`, waagent.log, error.json,
versions, df output, the dpkg status file and rpm -q output."""

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import (
    agent_error,
    agent_version,
    df,
    dpkg_status,
    rpm_query,
    waagent_conf,
    waagent_log,
    waagent_version,
)


# ---- versions ----------------------------------------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("2.2.53", "2.2.53.0"), ("2.2.53.1", "2.2.53.1"), ("1:2.9.1.1-0ubuntu5", "2.9.1.1"),
])
def test_version_equal(a, b):
    assert agent_version.parse_version(a) == agent_version.parse_version(b)


@pytest.mark.parametrize("low,high", [
    ("2.2.53", "2.2.53.1"), ("2.9.1.1", "2.10.0.8"), ("2.1.5.rc7", "2.1.5"),
    ("2.1.5.alpha1", "2.1.5.beta1"), ("2.2.45", "2.2.53.1"),
])
def test_version_order(low, high):
    assert agent_version.parse_version(low) < agent_version.parse_version(high)


def test_below_minimum():
    assert agent_version.below_minimum(agent_version.parse_version("2.2.45"))
    assert not agent_version.below_minimum(agent_version.parse_version("2.7.3.0"))
    assert not agent_version.below_minimum(agent_version.parse_version("2.2.53.1"))
    assert not agent_version.below_minimum(None)
    assert agent_version.parse_version("no digits") is None


# ---- waagent.conf ------------------------------------------------------------------------
CONF = (
    "# comment\n"
    "Provisioning.Agent=auto\n"
    "  # indented comment is not a comment for the agent = x\n"
    "Extensions.Enabled=yes\n"
    "AutoUpdate.Enabled=n # trailing comment\n"
    "HttpProxy.Host=\"proxy.local\"\n"
    "HttpProxy.Port=None\n"
    "Logs.Verbose=Y\n"
    "Logs.Verbose=n\n"
    "OS.EnableFirewall: y\n"
)


def test_conf_agent_semantics():
    conf = waagent_conf.parse_conf(CONF)
    assert conf.get("Provisioning.Agent") == "auto"
    assert conf.switch("Extensions.Enabled", True) == (True, "invalid")
    assert conf.switch("AutoUpdate.Enabled", True) == (False, "set")
    assert conf.get("HttpProxy.Host") == "proxy.local"
    assert conf.get("HttpProxy.Port") is None and conf.switch("HttpProxy.Port", False)[1] == "default"
    assert conf.switch("Logs.Verbose", True) == (False, "set")          # the last one wins
    assert conf.duplicates == {"Logs.Verbose": [8, 9]}
    assert conf.ignored_lines == [10]
    assert "# indented comment is not a comment for the agent" in conf.entries
    assert conf.switch("extensions.enabled", True) == (True, "default")  # keys are case-sensitive


def test_conf_with_value_rewrites_only_the_line_that_counts():
    text = "A=1\nExtensions.Enabled=n\nB=2\nExtensions.Enabled=n  # off\nC=3"
    conf = waagent_conf.parse_conf(text)
    new = conf.with_value("Extensions.Enabled", "y")
    assert new == "A=1\nExtensions.Enabled=n\nB=2\nExtensions.Enabled=y # off\nC=3"
    assert waagent_conf.parse_conf(new).switch("Extensions.Enabled", False) == (True, "set")
    appended = waagent_conf.parse_conf("A=1").with_value("Extensions.Enabled", "y")
    assert appended == "A=1\nExtensions.Enabled=y\n"


def test_conf_crlf_and_empty():
    conf = waagent_conf.parse_conf(b"Extensions.Enabled=n\r\nX=1\r\n")
    assert conf.switch("Extensions.Enabled", True) == (False, "set")
    assert conf.with_value("Extensions.Enabled", "y") == "Extensions.Enabled=y\r\nX=1\r\n"
    assert waagent_conf.parse_conf("").empty


# ---- waagent --version -------------------------------------------------------------------
def test_version_output_three_lines():
    out = waagent_version.parse_version_output(
        "WALinuxAgent-2.7.3.0 running on debian 12\nPython: 3.11.2\nGoal state agent: 2.7.3.0\n")
    assert str(out.installed) == "2.7.3.0" and str(out.goal_state) == "2.7.3.0"
    assert out.python == "3.11.2" and out.distro == "debian 12"


def test_version_output_old_and_broken():
    out = waagent_version.parse_version_output("WALinuxAgent-2.0.16 running on centos 6.5\n")
    assert str(out.installed) == "2.0.16" and out.goal_state is None
    broken = waagent_version.parse_version_output(
        "Traceback (most recent call last):\nModuleNotFoundError: No module named "
        "'azurelinuxagent'\n")
    assert broken.installed is None and "azurelinuxagent" in broken.import_error


# ---- waagent.log -------------------------------------------------------------------------
def test_log_formats():
    new = waagent_log.parse_log_line("2025-11-20T10:00:01.123456Z INFO ExtHandler ExtHandler [HEARTBEAT] "
                            "Agent WALinuxAgent-2.15.0.1 is running as the goal state agent "
                            "[DEBUG HeartbeatCounter: 3;HeartbeatId: x;UpdateGSErrors: 2;AutoUpdate: 1]")
    assert new.level == "INFO" and new.thread == "ExtHandler"
    assert new.when == datetime.datetime(2025, 11, 20, 10, 0, 1, 123456,
                                         tzinfo=datetime.timezone.utc)
    assert waagent_log.heartbeat_counters(new.message)["UpdateGSErrors"] == "2"
    old = waagent_log.parse_log_line("2019/05/01 12:00:00.5 ERROR [ProtocolError] failed")
    assert old.level == "ERROR" and old.when.tzinfo is None and old.when.microsecond == 500000
    assert waagent_log.parse_log_line("random text") is None
    assert waagent_log.parse_log_line("2025-13-40T99:00:00Z INFO x") is None


def test_classify():
    assert waagent_log.classify("Error fetching the goal state: timed out") == "goal state fetch failing"
    assert waagent_log.classify("will not be processed since extension processing is disabled") \
        == "extension processing disabled"
    assert waagent_log.classify("all good") is None


# ---- agent dirs, error.json, version.py, df ------------------------------------------------
def test_agent_dirs_and_error_json():
    assert str(agent_version.agent_dir_version("WALinuxAgent-2.9.1.1")) == "2.9.1.1"
    assert agent_version.agent_dir_version("WALinuxAgent-2.9.1.1.zip") is None
    assert agent_error.parse_error_json('{"was_fatal": true, "reason": "boom"}').blacklisted
    assert agent_error.parse_error_json('{"failure_count": 3}').blacklisted
    assert not agent_error.parse_error_json('{"failure_count": 1, "was_fatal": false}').blacklisted
    assert not agent_error.parse_error_json("not json").readable
    assert str(agent_version.version_py_version("x=1\nAGENT_VERSION = '2.7.3.0'\n")) == "2.7.3.0"


def test_df():
    row = df.parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                      "/dev/sda1 1000 900 100 90% /var\n")
    assert (row.total, row.free, row.percent, row.mount_point) == (1000, 100, 90, "/var")
    irow = df.parse_df("Filesystem Inodes IUsed IFree IUse% Mounted on\nbtrfs 0 0 0 - /\n")
    assert irow.percent is None
    assert df.parse_df("garbage") is None


# ---- packages ----------------------------------------------------------------------------
DPKG = """Package: waagent
Status: install ok installed
Priority: optional
Version: 2.7.3.0-1
Description: Windows Azure Linux Agent
 long description line: with a colon

Package: walinuxagent
Status: deinstall ok config-files
Version: 2.2.45-0ubuntu1

Package: other
Status: install ok installed
Version: 1
"""


def test_dpkg_status():
    pkgs = dpkg_status.parse_dpkg_status(DPKG, ["waagent", "walinuxagent"])
    assert pkgs["waagent"].installed and pkgs["waagent"].version == "2.7.3.0-1"
    assert not pkgs["walinuxagent"].installed
    assert "other" not in pkgs


def test_rpm_query():
    pkgs = rpm_query.parse_rpm_query("WALinuxAgent\t2.9.1.1-1.el9\npackage waagent is not installed\n")
    assert pkgs["WALinuxAgent"].installed and pkgs["WALinuxAgent"].version == "2.9.1.1-1.el9"
    assert not pkgs["waagent"].installed


# ---- fuzz: no input raises -----------------------------------------------------------------
TEXT = st.one_of(st.text(max_size=300), st.binary(max_size=300).map(
    lambda b: b.decode("latin-1")))
CONF_LINES = st.lists(st.sampled_from([
    "Extensions.Enabled=y", "Extensions.Enabled=n", "Extensions.Enabled=maybe", "# c", "  # c",
    "=", "==", "a=b#c", 'k="v"', "None=None", "k=None", "", "\r", "\ufeffX=1", "a: b", "x"]),
    max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, CONF_LINES.map("\n".join)))
def test_conf_never_raises(text):
    conf = waagent_conf.parse_conf(text)
    conf.switch("Extensions.Enabled", True)
    conf.integer("Autoupdate.Frequency", 3600)
    new = conf.with_value("Extensions.Enabled", "y")
    assert waagent_conf.parse_conf(new).switch("Extensions.Enabled", False) == (True, "set")


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, st.binary(max_size=200), st.lists(st.sampled_from([
    "WALinuxAgent-2.7.3.0 running on debian 12", "WALinuxAgent - 2.2.45", "Python: 3",
    "Goal state agent: 9.9.9.9", "Goal state agent: x", "WALinuxAgent-", "ImportError azurelinuxagent",
    "WALinuxAgent-99999999999999999999"]), max_size=5).map("\n".join)))
def test_version_output_never_raises(text):
    out = waagent_version.parse_version_output(text)
    assert out.installed is None or isinstance(out.installed, agent_version.Version)


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, st.from_regex(
    r"\A\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{0,9})?Z? (INFO|ERROR|WARN|WARNING|VERBOSE)"
    r"( [A-Za-z]+)?( \[[A-Z]+\])? .{0,40}\Z", fullmatch=True)))
def test_log_line_never_raises(line):
    parsed = waagent_log.parse_log_line(line)
    if parsed is not None:
        waagent_log.classify(parsed.message)
        waagent_log.heartbeat_counters(parsed.message)
    waagent_log.parse_log(line + "\n" + line)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_small_parsers_never_raise(text):
    agent_version.parse_version(text)
    agent_version.agent_dir_version(text)
    agent_error.parse_error_json(text)
    agent_version.version_py_version(text)
    df.parse_df(text)
    rpm_query.parse_rpm_query(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, st.lists(st.sampled_from([
    "Package: waagent", "Status: install ok installed", "Status: x", "Version: 2.7.3.0-1",
    " continuation", "", "Package:", ":", "Version", "\t"]), max_size=12).map("\n".join)))
def test_dpkg_status_never_raises(text):
    for p in dpkg_status.parse_dpkg_status(text).values():
        assert isinstance(p.installed, bool)
