"""freeze.trend: are the backup's freezes growing toward their timeout?

The extension gives a freeze two limits (vmbackup.conf, reference vmbackup-extension.md §1.2,
§2.4): it waits `SafeFreezeWaitInSeconds` (default 66; in practice 2 * int(N/2) s) for every
mount to freeze, else the run fails with 122 (UserErrorFsFreezeTimeout); and safefreeze keeps
the file systems frozen for at most `timeout` s (default 60), else it thaws on its own and the
snapshot is inconsistent (code 2). A freeze that needs longer every week crosses one of them.

The decision, for each series (freeze time / its window; time frozen / timeout), over the
newest WINDOW runs of the extension's logs that measured it:
- warn when the newest run used NEAR (80 %) of its limit or more;
- warn when at least MIN_RUNS runs show a rising least-squares line whose value at the newest
  run is WATCH (50 %) of the limit or more and that reaches the limit within HORIZON more runs;
- ok otherwise; skipped when no run in the logs measured a freeze.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from azbdiag.engine import rule
from azbdiag.facts.backup_history import FreezeLimits, freeze_limits, recent_history
from azbdiag.model import SkipReason, SkipRule, ok, warn

WINDOW = 10
MIN_RUNS = 4
NEAR = 0.8
WATCH = 0.5
HORIZON = 7


def fit(values: List[float]) -> Tuple[float, float]:
    """Least-squares line through (0, v0), (1, v1) ...: (value at the last point, slope)."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / var if var else 0.0
    return mean_y + slope * (n - 1 - mean_x), slope


def judge(ratios: List[float]) -> Optional[str]:
    """Why a series of used fractions of a limit (oldest first) warns, or None."""
    if not ratios:
        return None
    if ratios[-1] >= NEAR:
        return f"the newest run used {ratios[-1]:.0%} of it"
    if len(ratios) >= MIN_RUNS:
        last, slope = fit(ratios)
        if slope > 0 and last >= WATCH and last + HORIZON * slope >= 1.0:
            runs = max(1, int((1.0 - last) / slope + 0.999))
            return (f"it grew from {ratios[0]:.0%} to {ratios[-1]:.0%} over {len(ratios)} runs "
                    f"and at this pace reaches the limit in about {runs} more run(s)")
    return None


def _series(history, limits: FreezeLimits):
    """(run, seconds, limit, fraction used) per series, newest WINDOW. A freeze that failed
    on a mount says nothing about the timeout and is left out; one that timed out used all
    of its limit (its logged time includes the wait for safefreeze, so it is capped at 1)."""
    freeze, frozen = [], []
    for run in history.runs:
        broke = run.freeze_failures or run.open_failures or (
            run.freeze_error and not run.timed_out)
        if run.freeze_seconds is not None and not broke:
            limit = limits.freeze_window
            used = 1.0 if run.timed_out else min(run.freeze_seconds / limit, 1.0)
            freeze.append((run, run.freeze_seconds, limit, used))
        if run.frozen_seconds is not None:
            limit = run.timeout or limits.timeout
            frozen.append((run, run.frozen_seconds, limit, min(run.frozen_seconds / limit, 1.0)))
    return freeze[-WINDOW:], frozen[-WINDOW:]


def _when(run) -> str:
    return run.start.strftime("%Y-%m-%d %H:%M") if run.start else "(time unknown)"


@rule("freeze.trend", "Freezes are not growing toward their timeout",
      error_codes=("UserErrorFsFreezeTimeout",), timeout=20,
      remedy="Find what slows the freeze before it times out: busy writers (databases, big "
             "page-cache flushes) and slow disks make FIFREEZE wait; `azbdiag check --only "
             "freeze` and `azbdiag history` show which mounts and when. Then raise "
             "SafeFreezeWaitInSeconds (and timeout, if the time frozen grows) in "
             "/etc/azure/vmbackup.conf, or leave the slow mount out with MountsToSkip.")
def trend(ctx):
    """Freeze and frozen times of the runs in the extension's logs against
    SafeFreezeWaitInSeconds and timeout (see the module docstring for the decision)."""
    history = ctx.fact(recent_history)
    if not history.logs:
        raise SkipRule(SkipReason.NO_INPUT, "no extension.log: no backup has run here, or its "
                                            "logs were removed")
    limits = freeze_limits(ctx)
    freeze, frozen = _series(history, limits)
    if not freeze and not frozen:
        raise SkipRule(SkipReason.NOT_APPLICABLE,
                       f"no run in the extension's logs measured a freeze ({len(history.runs)} "
                       "run(s) found)")
    evidence = [f"limits ({limits.source}): SafeFreezeWaitInSeconds {limits.safe_freeze_wait} "
                f"(the freeze must finish within {limits.freeze_window} s), timeout "
                f"{limits.timeout} (frozen at most {limits.timeout} s)"]
    evidence += [f"{_when(r)}: freeze {s:.1f} s of {lim} s ({used:.0%})"
                 + (" - timed out" if r.timed_out else "") for r, s, lim, used in freeze]
    evidence += [f"{_when(r)}: frozen {s:.1f} s of {lim} s ({used:.0%})"
                 for r, s, lim, used in frozen]
    data = {"freeze": _newest(freeze), "frozen": _newest(frozen)}
    reasons = []
    why = judge([used for *_, used in freeze])
    if why:
        reasons.append(f"the time to freeze is close to SafeFreezeWaitInSeconds: {why}")
    why = judge([used for *_, used in frozen])
    if why:
        reasons.append(f"the time frozen is close to timeout: {why}")
    if reasons:
        return warn("; ".join(reasons), evidence, **data)
    newest = freeze[-1] if freeze else frozen[-1]
    what = "freeze" if freeze else "time frozen"
    runs = max(len(freeze), len(frozen))
    pace = "no growth toward the limit" if runs >= MIN_RUNS else \
        f"too few to see a trend (it takes {MIN_RUNS})"
    return ok(f"the last {what} took {newest[1]:.1f} s of {newest[2]} s ({newest[3]:.0%}); "
              f"{runs} run(s) measured, {pace}", evidence, **data)


def _newest(series) -> Optional[dict]:
    if not series:
        return None
    run, seconds, limit, _used = series[-1]
    return {"seconds": seconds, "limit_seconds": limit,
            "time": run.start.strftime("%Y-%m-%dT%H:%M:%SZ") if run.start else None}
