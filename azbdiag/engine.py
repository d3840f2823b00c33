"""Rule registry, facts cache and the runner that turns rules into results.

A rule is a plain function ``check(ctx) -> Result`` registered with ``@rule(...)``. It reads
facts through ``ctx.fact(fn)``, where ``fn(host)`` gathers one fact (usually: read a file or
run a command through the host, then hand the text to a parser in azbdiag.parsers). Facts are
computed once per run. A fact or rule raising SkipRule skips the rule; any other exception
makes it an ``error`` result and the run goes on.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
import traceback
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from azbdiag.model import (
    CheckError,
    Result,
    Rule,
    SkipReason,
    SkipRule,
    Status,
    skipped,
)
from azbdiag.redact import redact

REGISTRY: Dict[str, Rule] = {}
DEFAULT_DEADLINE = 180.0


def rule(id: str, title: str, *, error_codes: Sequence[str] = (), needs_root: bool = False,
         live_only: bool = False, azure_only: bool = False, remedy: Optional[str] = None,
         fix: Optional[str] = None, timeout: float = 15.0, opt_in: Optional[str] = None):
    """Register a check. The decorated function takes a Context and returns a Result."""

    def wrap(func: Callable) -> Callable:
        if id in REGISTRY and REGISTRY[id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"duplicate rule id {id}")
        REGISTRY[id] = Rule(
            id=id, title=title, func=func, error_codes=tuple(error_codes),
            needs_root=needs_root, live_only=live_only, azure_only=azure_only,
            remedy=remedy, fix=fix, timeout=timeout, module=func.__module__, opt_in=opt_in,
        )
        func.rule_id = id
        return func

    return wrap


_loaded = False


def load_rules() -> Dict[str, Rule]:
    """Import every module of azbdiag.rules (which registers its rules) once."""
    global _loaded
    if not _loaded:
        package = importlib.import_module("azbdiag.rules")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"azbdiag.rules.{info.name}")
        _loaded = True
    return REGISTRY


def all_rules() -> List[Rule]:
    return [REGISTRY[k] for k in sorted(load_rules())]


def matches(rule_id: str, patterns: Iterable[str]) -> bool:
    """An id matches a pattern equal to it or to one of its dotted prefixes (`agent` matches
    `agent.service`)."""
    for pat in patterns:
        pat = pat.strip().lower()
        if pat and (rule_id == pat or rule_id.startswith(pat + ".")):
            return True
    return False


class Context:
    """What a rule sees: the host, the run's options and a cache of facts."""

    def __init__(self, host, options: Optional[dict] = None):
        self.host = host
        self.options = dict(options or {})
        self._facts: Dict[Callable, object] = {}
        self._fact_errors: Dict[Callable, BaseException] = {}
        self._lock = threading.RLock()
        self.results: Dict[str, Result] = {}

    def fact(self, fn: Callable):
        """The value of fact `fn(host)`, computed once per run. Re-raises what it raised."""
        with self._lock:
            if fn in self._facts:
                return self._facts[fn]
            if fn in self._fact_errors:
                raise self._fact_errors[fn]
        try:
            value = fn(self.host)
        except BaseException as exc:  # cached so that every rule sees the same failure
            with self._lock:
                self._fact_errors[fn] = exc
            raise
        with self._lock:
            self._facts[fn] = value
        return value

    @property
    def facts(self):
        return self.host.facts()


def _applicability(r: Rule, host, ctx: Context) -> Optional[Result]:
    if r.opt_in and not ctx.options.get(r.opt_in):
        return skipped(SkipReason.NOT_APPLICABLE, f"opt-in: run with --{r.opt_in.replace('_', '-')}")
    if r.live_only and not host.live:
        return skipped(SkipReason.OFFLINE_ROOT, "needs the live system; this is an offline root")
    if r.needs_root and not host.is_root:
        return skipped(SkipReason.NOT_ROOT, "needs root: re-run with sudo")
    if r.azure_only and host.azure is not True:
        return skipped(SkipReason.NOT_AZURE, "runs only on a live Azure VM")
    return None


def _finish(r: Rule, res: Result, started: float) -> Result:
    res.id, res.title, res.error_codes = r.id, r.title, r.error_codes
    res.fix = r.fix if res.status in (Status.WARN, Status.FAIL) else None
    res.remedy = res.remedy or (r.remedy if res.status in (Status.WARN, Status.FAIL) else None)
    res.summary = redact(res.summary)
    res.evidence = [redact(str(e)) for e in res.evidence][:50]
    if res.remedy:
        res.remedy = redact(res.remedy)
    res.duration_ms = int((time.monotonic() - started) * 1000)
    return res


def run_one(r: Rule, ctx: Context, timeout: Optional[float] = None) -> Result:
    started = time.monotonic()
    pre = _applicability(r, ctx.host, ctx)
    if pre is not None:
        return _finish(r, pre, started)
    box: Dict[str, object] = {}

    def target():
        try:
            box["result"] = r.func(ctx)
        except SkipRule as exc:
            box["result"] = skipped(exc.reason, exc.summary)
        except CheckError as exc:
            box["result"] = Result(Status.ERROR, f"could not check: {exc}")
        except BaseException as exc:  # a broken rule must not stop the others
            box["result"] = Result(
                Status.ERROR, f"could not check: {type(exc).__name__}: {exc}",
                [line for line in traceback.format_exc().splitlines()[-3:]]
                if ctx.options.get("debug") else [],
            )

    limit = timeout if timeout is not None else r.timeout
    worker = threading.Thread(target=target, name=f"rule:{r.id}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        res = Result(Status.ERROR, f"could not check: timed out after {limit:g} s")
    else:
        res = box.get("result")
        if not isinstance(res, Result):
            res = Result(Status.ERROR, f"could not check: rule returned {type(res).__name__}")
    return _finish(r, res, started)


def run_rules(ctx: Context, only: Sequence[str] = (), skip: Sequence[str] = (),
              deadline: float = DEFAULT_DEADLINE,
              rules: Optional[List[Rule]] = None) -> List[Result]:
    """Run the selected rules one after another; each has its own timeout and the whole run
    has a deadline after which the remaining rules are reported as errors."""
    selected = rules if rules is not None else all_rules()
    if only:
        selected = [r for r in selected if matches(r.id, only)]
    started = time.monotonic()
    results: List[Result] = []
    for r in selected:
        if skip and matches(r.id, skip):
            res = _finish(r, skipped(SkipReason.BY_USER), time.monotonic())
        else:
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                res = _finish(r, Result(Status.ERROR,
                                        f"could not check: run deadline of {deadline:g} s reached"),
                              time.monotonic())
            else:
                res = run_one(r, ctx, timeout=min(r.timeout, left))
        ctx.results[r.id] = res
        results.append(res)
    return results


def summarize(results: Sequence[Result]) -> Dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for res in results:
        counts[res.status.value] += 1
    return counts
