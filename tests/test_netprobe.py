"""TCP probes against listeners this test starts on 127.0.0.1 only."""

import socket

import pytest

from azbdiag import netprobe


@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()          # nothing listens here any more: connect is refused
    return port


def test_open_port(listener):
    probe = netprobe.tcp_probe("127.0.0.1", listener, timeout=2)
    assert probe.ok and "connected" in probe.describe()


def test_closed_port_is_reported(closed_port):
    probe = netprobe.tcp_probe("127.0.0.1", closed_port, timeout=2)
    assert not probe.ok and not probe.timed_out
    assert "ECONNREFUSED" in probe.error


def test_bad_endpoint_does_not_raise():
    probe = netprobe.tcp_probe("127.0.0.1", 70000, timeout=1)
    assert not probe.ok and probe.error


def test_endpoint_option_forms():
    assert netprobe.wireserver_endpoints(None) == [("168.63.129.16", 80), ("168.63.129.16", 32526)]
    assert netprobe.wireserver_endpoints("127.0.0.1") == [("127.0.0.1", 80), ("127.0.0.1", 32526)]
    assert netprobe.wireserver_endpoints(("127.0.0.1", 5)) == [("127.0.0.1", 5)]
    assert netprobe.wireserver_endpoints([("127.0.0.1", 5), ("127.0.0.1", 6)]) == [
        ("127.0.0.1", 5), ("127.0.0.1", 6)]


def test_loopback_only_guard(monkeypatch, listener):
    monkeypatch.setenv(netprobe.LOOPBACK_ONLY_ENV, "1")
    assert netprobe.tcp_probe("127.0.0.1", listener, timeout=2).ok

    def no_socket(*a, **k):
        raise AssertionError("a socket was opened for a non-loopback address")

    monkeypatch.setattr(netprobe.socket, "socket", no_socket)
    probe = netprobe.tcp_probe("192.0.2.1", 80, timeout=1)   # refused before any socket exists
    assert not probe.ok and "loopback" in probe.error
    assert netprobe._is_loopback("::1") and not netprobe._is_loopback("168.63.129.16")


def test_the_suite_cannot_reach_off_box_addresses():
    """conftest's socket guard stops a connection to an address that is not loopback before
    any packet leaves, whatever code path a test takes. Proved on the guard itself around a
    stand-in connect, so that nothing is ever sent off this machine even if it breaks."""
    from tests import conftest

    assert socket.socket.connect.__qualname__.startswith("_loopback_only")
    assert socket.socket.connect_ex.__qualname__.startswith("_loopback_only")
    reached = []
    guarded = conftest._loopback_only(lambda sock, address, *args: reached.append(address))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for address in (("192.0.2.1", 9), ("168.63.129.16", 80), ("169.254.169.254", 80)):
            with pytest.raises(AssertionError, match="loopback"):
                guarded(sock, address)
        guarded(sock, ("127.0.0.1", 9))
    assert reached == [("127.0.0.1", 9)]
