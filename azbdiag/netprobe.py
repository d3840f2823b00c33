"""TCP reachability probes that never go through a proxy (a plain socket connect).

The WireServer address is a parameter: rules take it from ctx.options["wireserver"] (a host
string, or a (host, port) pair that replaces every default port, as tests use with a
listener on 127.0.0.1) and fall back to 168.63.129.16 ports 80 and 32526 only when they run
live on an Azure VM.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import socket
import time
from typing import List, Optional, Sequence, Tuple

WIRESERVER = "168.63.129.16"
WIRESERVER_PORTS = (80, 32526)
DEFAULT_TIMEOUT = 3.0


@dataclasses.dataclass
class Probe:
    """The outcome of one TCP connect to host:port (elapsed time in ms)."""
    host: str
    port: int
    ok: bool
    error: str = ""
    timed_out: bool = False
    elapsed_ms: int = 0

    def describe(self) -> str:
        where = f"{self.host}:{self.port}"
        if self.ok:
            return f"{where}: connected in {self.elapsed_ms} ms"
        if self.timed_out:
            return f"{where}: no answer within the timeout (dropped by a firewall?)"
        return f"{where}: {self.error}"


LOOPBACK_ONLY_ENV = "AZBDIAG_LOOPBACK_ONLY"   # the test suite sets it: no probe leaves the box


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tcp_probe(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> Probe:
    """Open and close one TCP connection to host:port. Never raises."""
    started = time.monotonic()
    if os.environ.get(LOOPBACK_ONLY_ENV) and not _is_loopback(str(host)):
        return Probe(str(host), -1, False, f"not probed: {LOOPBACK_ONLY_ENV} allows loopback "
                                           f"addresses only")
    sock = None
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((host, int(port)))
        return Probe(host, int(port), True, elapsed_ms=_ms(started))
    except socket.timeout:
        return Probe(host, int(port), False, "timed out", True, _ms(started))
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "")
        text = exc.strerror or str(exc)
        return Probe(host, int(port), False, f"{text}{f' ({name})' if name else ''}",
                     exc.errno == errno.ETIMEDOUT, _ms(started))
    except (ValueError, OverflowError, TypeError) as exc:
        return Probe(str(host), -1, False, f"bad endpoint: {exc}")
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def wireserver_endpoints(option) -> List[Tuple[str, int]]:
    """The (host, port) pairs to probe: the default WireServer ports, or what the option
    says: "10.0.0.1", ("127.0.0.1", 8080) or [("127.0.0.1", 1), ("127.0.0.1", 2)]."""
    if option is None:
        return [(WIRESERVER, p) for p in WIRESERVER_PORTS]
    if isinstance(option, str):
        return [(option, p) for p in WIRESERVER_PORTS]
    if isinstance(option, tuple) and len(option) == 2 and isinstance(option[0], str):
        return [(option[0], int(option[1]))]
    return [(str(h), int(p)) for h, p in option]


def probe_all(endpoints: Sequence[Tuple[str, int]],
              timeout: Optional[float] = None) -> List[Probe]:
    return [tcp_probe(h, p, timeout if timeout is not None else DEFAULT_TIMEOUT)
            for h, p in endpoints]
