"""`azbdiag check --freeze-test`: freeze and thaw one mount at a time, as the backup would.

Before each freeze a watchdog is started in its own session (`setsid -f sh -c 'sleep N;
fsfreeze -u MOUNT'`). It is not a child of azbdiag's process group, so it thaws the mount after
N seconds even if azbdiag is killed with SIGKILL while the mount is frozen. After azbdiag's own
thaw the watchdog is cancelled.

Environment: AZBDIAG_FREEZE_WATCHDOG (seconds, default 10) bounds how long a mount can stay
frozen; AZBDIAG_TEST_FREEZE_HOLD (seconds, tests only) keeps each mount frozen that long and
prints a line on stderr once it is frozen.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Optional

WATCHDOG_ENV = "AZBDIAG_FREEZE_WATCHDOG"
HOLD_ENV = "AZBDIAG_TEST_FREEZE_HOLD"
DEFAULT_WATCHDOG = 10.0

# $1 mount point, $2 seconds. Prints its pid (= its process group, thanks to setsid), lets go
# of every inherited descriptor, then waits and thaws.
_WATCHDOG = 'echo $$; exec </dev/null >/dev/null 2>&1; sleep "$2"; exec fsfreeze -u "$1"'


@dataclasses.dataclass
class FreezeResult:
    """How freezing and thawing one mount went in `check --freeze-test` (times in ms)."""
    mount_point: str
    ok: bool
    freeze_ms: Optional[int] = None
    thaw_ms: Optional[int] = None
    error: str = ""
    watchdog_thawed: bool = False

    def describe(self) -> str:
        if not self.ok:
            return f"{self.mount_point}: FAILED: {self.error}"
        text = f"{self.mount_point}: froze in {self.freeze_ms} ms, thawed in {self.thaw_ms} ms"
        return text + (" (thawed by the watchdog)" if self.watchdog_thawed else "")


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if 0 < value < 3600 else default


def start_watchdog(host, point: str, seconds: float) -> Optional[int]:
    res = host.run(["setsid", "-f", "sh", "-c", _WATCHDOG, "azbdiag-watchdog", point,
                    f"{seconds:g}"], timeout=10)
    first = res.stdout.strip().splitlines()[:1] if res.ok else []
    return int(first[0]) if first and first[0].isascii() and first[0].isdigit() else None


def cancel_watchdog(host, pid: int) -> None:
    host.run(["kill", "-TERM", "--", f"-{pid}"], timeout=5)


def _last_line(text: str) -> str:
    lines = [x for x in (text or "").strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else ""


def freeze_thaw(host, point: str) -> FreezeResult:
    """Freeze then thaw `point` under a watchdog; never leaves it frozen for longer than the
    watchdog's bound."""
    bound = _env_seconds(WATCHDOG_ENV, DEFAULT_WATCHDOG)
    hold = _env_seconds(HOLD_ENV, 0.0) if os.environ.get(HOLD_ENV) else 0.0
    watchdog = start_watchdog(host, point, bound)
    if watchdog is None:
        return FreezeResult(point, False, error="could not start the watchdog (setsid missing?); "
                                                "not freezing without one")
    started = time.monotonic()
    res = host.run(["fsfreeze", "-f", point], timeout=bound + 30)
    freeze_ms = int((time.monotonic() - started) * 1000)
    if not res.ok:
        cancel_watchdog(host, watchdog)
        if res.not_found:
            return FreezeResult(point, False, error="fsfreeze (util-linux) is not installed")
        why = "timed out" if res.timed_out else (_last_line(res.stderr) or res.describe())
        return FreezeResult(point, False, freeze_ms=freeze_ms, error=f"freeze failed: {why}")
    if hold:
        print(f"azbdiag: frozen {point} (test hold {hold:g} s)", file=sys.stderr, flush=True)
        time.sleep(hold)
    thaw_started = time.monotonic()
    res = host.run(["fsfreeze", "-u", point], timeout=30)
    thaw_ms = int((time.monotonic() - thaw_started) * 1000)
    elapsed = time.monotonic() - started
    if res.ok:
        cancel_watchdog(host, watchdog)
        return FreezeResult(point, True, freeze_ms, thaw_ms)
    err = _last_line(res.stderr) or res.describe()
    if "Invalid argument" in err and elapsed >= bound:
        # Our thaw came after the watchdog's: the mount is thawed, but it stayed frozen longer
        # than the bound.
        return FreezeResult(point, True, freeze_ms, thaw_ms, watchdog_thawed=True)
    return FreezeResult(point, False, freeze_ms, thaw_ms,
                        error=f"thaw failed: {err}; the watchdog thaws it within {bound:g} s")
