"""extension.python (rules/extension_python.py): the interpreters main/handle.sh tries, in its
order, with the fallback to the Python that runs waagent (PR #1198), and the extension
versions known to fail on Python 3.12 and 3.13+. The realistic-root cases are in
tests/test_corpus_faults.py (RHEL 8 platform-python, Ubuntu 24.04 with Python 3.14)."""

from __future__ import annotations

import os

import pytest
from conftest import make_host, run_rule

from azbdiag.facts import extension_interpreters
from azbdiag.parsers.extension_dir import HANDLER as H

ELF = b"\x7fELF"


def ext(version):
    d = f"/var/lib/waagent/{H}-{version}"
    return {f"{d}/HandlerManifest.json": "[]", f"{d}/main/handle.sh": "#!/bin/sh\n",
            f"{d}/config/HandlerState": "Enabled"}


def host(fs, files, links=(), live=False, procs=None, **kw):
    files = dict(files)
    for pid, argv in (procs or {}).items():
        files[f"/proc/{pid}/cmdline"] = b"\0".join(a.encode() for a in argv) + b"\0"
        files[f"/proc/{pid}/stat"] = f"{pid} (x) S 1 " + " ".join(["0"] * 40)
    root = "/" if live else "/mnt/disk"
    h = make_host(fs, files, root=root, live=live, **kw)
    for path, content in files.items():
        if content == ELF:
            os.chmod(h.path(path), 0o755)
    for link, target in links:
        fs.create_symlink(os.path.join(root, link.lstrip("/")), target)
    return h


RHEL8_UNIT = ("[Unit]\nDescription=Azure Linux Agent\n[Service]\nType=simple\n"
              "ExecStart=/usr/libexec/platform-python -u /usr/sbin/waagent -daemon\n"
              "[Install]\nWantedBy=multi-user.target\n")


def test_platform_python_offline_from_the_agents_unit(fs):
    files = {**ext("1.0.9225.0"), "/usr/libexec/platform-python3.6": ELF,
             "/usr/lib/systemd/system/waagent.service": RHEL8_UNIT,
             "/etc/os-release": "ID=rhel\nVERSION_ID=8.10\n"}
    h = host(fs, files, links=[("/usr/libexec/platform-python", "platform-python3.6")])
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok", res
    assert res.summary == ("the extension will run /usr/libexec/platform-python (Python 3.6), "
                           "from the Python that runs waagent (its unit or its #! line)")


def test_platform_python_live_from_ps(fs):
    """handle.sh's last resort is the first `ps -ef` line with waagent and python."""
    files = {**ext("1.0.9225.0"), "/usr/libexec/platform-python3.6": ELF}
    procs = {"912": ["/usr/libexec/platform-python", "-u", "/usr/sbin/waagent", "-daemon"],
             "77": ["/usr/sbin/sshd", "-D"]}
    h = host(fs, files, links=[("/usr/libexec/platform-python", "platform-python3.6")],
             live=True, procs=procs)
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "/usr/libexec/platform-python" in res.summary
    assert "(ps -ef)" in res.summary


def test_order_and_duplicates(fs):
    """python3 before python, /usr/bin before /usr/local/bin; a file reached twice once."""
    files = {"/usr/bin/python3.11": ELF, "/usr/local/bin/python3.8": ELF,
             "/var/lib/waagent/x": "1"}
    h = host(fs, files, links=[("/usr/bin/python3", "python3.11"), ("/usr/bin/python", "python3")])
    from azbdiag.engine import Context
    got = [(i.path, i.version) for i in extension_interpreters(Context(h, {}))]
    assert got == [("/usr/local/bin/python3.8", (3, 8)), ("/usr/bin/python3", (3, 11))]


@pytest.mark.parametrize("version,status,words", [
    ("1.0.9218.0", "fail", ("1.0.9218.0", "no released version is known")),
    ("1.0.9225.0", "fail", ("1.0.9225.0", "3.14", "#2177")),
    ("1.0.9230.0", "warn", ("1.0.9230.0", "not known to start")),
])
def test_python_314(fs, version, status, words):
    files = {**ext(version), "/usr/bin/python3.14": ELF}
    h = host(fs, files, links=[("/usr/bin/python3", "python3.14")])
    res = run_rule(h, "extension.python")
    assert res.status.value == status, res
    for word in words:
        assert word in res.summary, res
    assert any("#2172" in e for e in res.evidence)


def test_python_312_is_fine_from_9220(fs):
    files = {**ext("1.0.9220.0"), "/usr/bin/python3.12": ELF}
    h = host(fs, files, links=[("/usr/bin/python3", "python3.12")])
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "fixed in 1.0.9220.0" in res.evidence[1]


def test_an_older_python_first_is_the_workaround(fs):
    files = {**ext("1.0.9225.0"), "/usr/bin/python3.14": ELF, "/opt/py311/bin/python3.11": ELF}
    h = host(fs, files, links=[("/usr/bin/python3", "python3.14"),
                               ("/usr/local/bin/python3.8", "/opt/py311/bin/python3.11")])
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "/usr/local/bin/python3.8 (Python 3.11)" in res.summary


def test_314_first_then_an_older_python_later_in_the_list(fs):
    """python3 (3.14) fails, handle.sh moves on to python2.7: the extension starts."""
    files = {**ext("1.0.9225.0"), "/usr/bin/python3.14": ELF, "/usr/bin/python2.7": ELF}
    h = host(fs, files, links=[("/usr/bin/python3", "python3.14")])
    res = run_rule(h, "extension.python")
    assert res.status.value == "ok" and "/usr/bin/python2.7" in res.summary
    assert "cannot start on it" in res.evidence[1]
