"""Shared test helpers: a host over a pyfakefs tree and a fake command table."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `check` on the live system as root records its report under /var/lib/azbdiag and
# /var/log/azbdiag (azbdiag/state.py): never from the test suite (tests/test_state.py re-enables it).
os.environ["AZBDIAG_NO_RECORD"] = "1"
# Recording also sends the result to the journal and may write a metrics file: never to the
# machine's journal or node_exporter's directory from the test suite (tests/test_monitoring.py
# points them at its own).
os.environ["AZBDIAG_JOURNAL_SOCKET"] = "/nonexistent/azbdiag-tests/journal-socket"
os.environ.pop("AZBDIAG_TEXTFILE_DIR", None)
# Fix journals and the fixer lock live on this machine, also for --root runs: never in the
# machine's /var/lib/azbdiag or /run/azbdiag from the test suite (tests that look at them set
# AZBDIAG_STATE_DIR to their own tmp_path).
if not os.environ.get("AZBDIAG_STATE_DIR"):
    import atexit
    import shutil
    import tempfile

    _STATE = tempfile.mkdtemp(prefix="azbdiag-test-state-")
    os.environ["AZBDIAG_STATE_DIR"] = _STATE
    atexit.register(shutil.rmtree, _STATE, True)
# TCP probes (azbdiag/netprobe.py) refuse any non-loopback address during the test suite.
os.environ["AZBDIAG_LOOPBACK_ONLY"] = "1"
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _loopback_only(connect):
    """Wrap socket.connect/connect_ex: any test in this process that tries to reach an
    address off this machine fails at once, whatever code path it took."""
    import ipaddress

    def guarded(sock, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise AssertionError(f"a test tried to connect to {address!r}: tests may only "
                                     f"reach loopback addresses")
        return connect(sock, address, *args)

    return guarded


socket.socket.connect = _loopback_only(socket.socket.connect)
socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex)

from azbdiag import engine  # noqa: E402
from azbdiag.host import Host  # noqa: E402
from azbdiag.runner import FakeRunner  # noqa: E402

# Import the rule modules before any test swaps in a fake file system.
engine.load_rules()

SAMPLES = os.path.join(ROOT, "tests", "samples")


def make_host(fs=None, files=None, commands=None, root="/", live=None, is_root=True, azure=None):
    """A Host whose files are `files` (path -> str or bytes, created under `root` in the
    pyfakefs tree `fs`) and whose commands come from the table `commands`."""
    if fs is not None:
        for path, content in (files or {}).items():
            real = os.path.join(root, path.lstrip("/"))
            if content is None:
                fs.create_dir(real)
            elif isinstance(content, bytes):
                fs.create_file(real, contents=content)
            else:
                fs.create_file(real, contents=content, encoding="utf-8")
        if not os.path.isdir(root):
            fs.create_dir(root)
    host = Host(root=root, runner=FakeRunner(commands or {}), is_root=is_root, azure=azure,
                live=live)
    if fs is not None:
        # pyfakefs does not fake statvfs(2): a fake host measures space with the fake df table.
        host.statvfs = _no_statvfs
    return host


def _no_statvfs(path):
    raise OSError(errno.ENOSYS, "statvfs is not faked", path)


def run_rule(host, rule_id, **options):
    """Run one registered rule on `host` and return its Result."""
    rules = engine.load_rules()
    ctx = engine.Context(host, options)
    return engine.run_one(rules[rule_id], ctx)


@pytest.fixture
def host_factory(fs):
    def factory(files=None, commands=None, **kw):
        return make_host(fs, files, commands, **kw)

    return factory


def sigint_as_at_a_terminal() -> None:
    """preexec_fn for a child that a test interrupts with SIGINT: a shell's background job
    (tools/test-all runs two test sets side by side) starts with SIGINT ignored, and Python
    then never raises KeyboardInterrupt; a terminal's Ctrl-C finds the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
