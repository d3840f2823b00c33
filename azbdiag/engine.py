"""Rule registry, facts cache and the runner that turns rules into results.

A rule is a plain function ``check(ctx) -> Result`` registered with ``@rule(...)``. It reads
facts through ``ctx.fact(fn)``, where ``fn(host)`` gathers one fact (usually: read a file or
run a command through the host, then hand the text to a parser in azbdiag.parsers). Facts are
computed once per run. A fact or rule raising SkipRule skips the rule; a read the host layer
could not do (``Unreadable``: permission denied, a FIFO or device refused) skips it as "not
root" or makes it an ``error``, never ok or fail; any other exception makes it an ``error``
result and the run goes on.

Time: the run has one deadline, shared so that one hanging command cannot starve the rest.
The first pass runs every rule with commands held back: a rule that only reads files finishes
there, a rule that wants a command is put off to the second pass at its first command (nothing
has run yet); the second pass runs those rules a few at a time (COMMAND_RULES_AT_ONCE), a
fact two of them need being computed once while the other waits. A rule that measures over
the run (a CPU sample) calls ``ctx.run_last()`` after its first reading and is run again after
every other rule. Every rule gets a share of the time left (see _limit), and when it runs out
its commands are killed with their process group.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from azbdiag.host import Unreadable
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
from azbdiag.runner import Budget, Cancelled, CommandsDeferred, current_budget, set_budget

REGISTRY: Dict[str, Rule] = {}
DEFAULT_DEADLINE = 180.0
# Each rule still to run keeps at least this much (or its own timeout, if shorter) of the run's
# deadline, unless the deadline is too short for that; then they share it equally.
RESERVE_PER_RULE = 2.0
# Rules that run commands run this many at a time: most of their time is spent waiting for
# a child process, not on a CPU.
COMMAND_RULES_AT_ONCE = 4
# What one result may carry into a report: data from a hostile disk must not make it huge.
MAX_SUMMARY = 1000
MAX_EVIDENCE = 50
MAX_EVIDENCE_LINE = 1000
MAX_REMEDY = 2000


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


class RunLast(BaseException):
    """Raised by Context.run_last(): run this rule again after every other rule. A
    BaseException so that a rule's `except Exception` cannot swallow it."""


class Context:
    """What a rule sees: the host, the run's options and a cache of facts."""

    def __init__(self, host, options: Optional[dict] = None):
        self.host = host
        self.options = dict(options or {})
        self._put_last = False        # run_rules sets it until its last pass
        self._facts: Dict[Callable, object] = {}
        self._fact_errors: Dict[Callable, BaseException] = {}
        self._wants_commands: set = set()   # facts put off to the second pass
        self._computing: Dict[Callable, threading.Lock] = {}   # one computation per fact
        self._lock = threading.RLock()
        self.results: Dict[str, Result] = {}

    def fact(self, fn: Callable):
        """The value of fact `fn(host)`, computed once per run. Re-raises what it raised.
        Rules running at the same time that ask for one fact wait for one computation."""
        with self._lock:
            if fn in self._facts:
                return self._facts[fn]
            if fn in self._fact_errors:
                raise self._fact_errors[fn]
            computing = self._computing.setdefault(fn, threading.Lock())
        with computing:
            return self._compute(fn)

    def _compute(self, fn: Callable):
        with self._lock:
            if fn in self._facts:
                return self._facts[fn]
            if fn in self._fact_errors:
                raise self._fact_errors[fn]
            budget = current_budget()
            if fn in self._wants_commands and budget is not None and budget.defer_commands:
                raise CommandsDeferred()
        try:
            value = fn(self.host)
        except CommandsDeferred:     # not a failure: the fact runs a command, in the 2nd pass
            with self._lock:
                self._wants_commands.add(fn)
            raise
        except Cancelled:            # the rule asking ran out of time, not the fact's fault
            raise
        except BaseException as exc:  # cached so that every rule sees the same failure
            with self._lock:
                self._fact_errors[fn] = exc
            raise
        with self._lock:
            self._facts[fn] = value
        return value

    def run_last(self) -> None:
        """For a rule that measures something over the run: the first time, while other rules
        still wait, the engine stops the rule here and runs it again after all of them (its
        facts stay cached, so a fact read before this call holds the first reading). Returns
        at once in that last pass, or when the rule runs alone (run_one)."""
        if self._put_last:
            raise RunLast()

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


def _bounded(text: str, limit: int) -> str:
    """Cut first, then redact: a cut never exposes more than the redacted whole would."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return redact(text)


def _finish(r: Rule, res: Result, started: float) -> Result:
    res.id, res.title, res.error_codes = r.id, r.title, r.error_codes
    # A rule says when its fix cannot repair this finding (data not_fixable: the reason):
    # then no fix is advised, and `fix` prints the reason instead of planning.
    not_fixable = isinstance(res.data, dict) and res.data.get("not_fixable")
    res.fix = r.fix if res.status in (Status.WARN, Status.FAIL) and not not_fixable else None
    res.remedy = res.remedy or (r.remedy if res.status in (Status.WARN, Status.FAIL) else None)
    res.summary = _bounded(res.summary, MAX_SUMMARY) if res.summary else res.summary
    res.evidence = [_bounded(e, MAX_EVIDENCE_LINE) for e in list(res.evidence)[:MAX_EVIDENCE]]
    if res.remedy:
        res.remedy = _bounded(res.remedy, MAX_REMEDY)
    res.duration_ms = int((time.monotonic() - started) * 1000)
    return res


def _unreadable_result(exc: Unreadable, host) -> Result:
    if exc.denied and not host.is_root:
        return skipped(SkipReason.NOT_ROOT, f"not root: {exc}; re-run with sudo")
    return Result(Status.ERROR, f"could not check: {exc}")


def run_one(r: Rule, ctx: Context, timeout: Optional[float] = None) -> Result:
    res = _run_one(r, ctx, timeout if timeout is not None else r.timeout)
    assert isinstance(res, Result)
    return res


_LATER = "commands"        # _run_one's answer for a rule put off to the commands' pass
_LAST = "last"             # ... and for one put off to the last pass (ctx.run_last)


def _run_one(r: Rule, ctx: Context, limit: float, defer_commands: bool = False):
    """The rule's result within `limit` seconds; _LATER when it was put off because it wants
    a command while `defer_commands` holds commands back, _LAST when it asked to run last."""
    started = time.monotonic()
    pre = _applicability(r, ctx.host, ctx)
    if pre is not None:
        return _finish(r, pre, started)
    box: Dict[str, object] = {}
    budget = Budget(limit, defer_commands=defer_commands)

    def target():
        set_budget(budget)
        try:
            box["result"] = r.func(ctx)
        except CommandsDeferred:
            box["deferred"] = _LATER
        except RunLast:
            box["deferred"] = _LAST
        except SkipRule as exc:
            box["result"] = skipped(exc.reason, exc.summary)
        except CheckError as exc:
            box["result"] = Result(Status.ERROR, f"could not check: {exc}")
        except Unreadable as exc:
            box["result"] = _unreadable_result(exc, ctx.host)
        except BaseException as exc:  # a broken rule must not stop the others
            evidence = []
            if ctx.options.get("debug"):
                import traceback

                evidence = traceback.format_exc().splitlines()[-3:]
            box["result"] = Result(
                Status.ERROR, f"could not check: {type(exc).__name__}: {exc}", evidence)
        finally:
            set_budget(None)

    worker = threading.Thread(target=target, name=f"rule:{r.id}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        budget.cancel()          # its commands die with their process group
        shown = f"{limit:.1f}".rstrip("0").rstrip(".")
        res = Result(Status.ERROR, f"could not check: timed out after {shown} s")
    elif box.get("deferred"):
        return box["deferred"]
    else:
        res = box.get("result")
        if not isinstance(res, Result):
            res = Result(Status.ERROR, f"could not check: rule returned {type(res).__name__}")
    return _finish(r, res, started)


def _limit(r: Rule, left: float, later: Sequence[Rule]) -> float:
    """The share of the `left` seconds rule `r` may use when the rules `later` still wait:
    its own timeout, as long as each of them keeps RESERVE_PER_RULE (or its timeout); never
    less than an equal share of what is left."""
    reserve = sum(min(RESERVE_PER_RULE, x.timeout) for x in later)
    return max(0.0, min(r.timeout, max(left / (len(later) + 1), left - reserve)))


def run_rules(ctx: Context, only: Sequence[str] = (), skip: Sequence[str] = (),
              deadline: float = DEFAULT_DEADLINE,
              rules: Optional[List[Rule]] = None) -> List[Result]:
    """Run the selected rules within `deadline` seconds; results come in the rules' order.
    Rules that only read files run first (see the module docstring), those that run
    commands after; a rule the deadline leaves no time for is an error."""
    selected = rules if rules is not None else all_rules()
    if only:
        selected = [r for r in selected if matches(r.id, only)]
    end = time.monotonic() + deadline
    results: Dict[str, Result] = {}
    todo: List[Rule] = []
    for r in selected:
        if skip and matches(r.id, skip):
            results[r.id] = _finish(r, skipped(SkipReason.BY_USER), time.monotonic())
        else:
            todo.append(r)

    def out_of_time(r: Rule) -> Result:
        return _finish(r, Result(Status.ERROR,
                                 f"could not check: run deadline of {deadline:g} s reached"),
                       time.monotonic())

    later: List[Rule] = []           # rules that want commands: the second pass
    last: List[Rule] = []            # rules that measure over the run: the last pass
    # Each directory is listed and each command run once while the rules run (Host.snapshot).
    snapshot = getattr(ctx.host, "snapshot", lambda on: None)
    snapshot(True)
    try:
        ctx._put_last = True
        try:
            for i, r in enumerate(todo):
                left = end - time.monotonic()
                if left <= 0:
                    results[r.id] = out_of_time(r)
                    continue
                res = _run_one(r, ctx, _limit(r, left, todo[i + 1:] + later + last),
                               defer_commands=True)
                if res is _LATER:
                    later.append(r)
                elif res is _LAST:
                    last.append(r)
                else:
                    results[r.id] = res
            position = {r.id: i for i, r in enumerate(later)}

            def second_pass(r: Rule):
                left = end - time.monotonic()
                if left <= 0:
                    return out_of_time(r)
                # The rules not started yet run COMMAND_RULES_AT_ONCE at a time: keep the
                # reserve of one rule per such wave, and of the last pass.
                waves = later[position[r.id] + 1::COMMAND_RULES_AT_ONCE]
                return _run_one(r, ctx, _limit(r, left, waves + last))

            done = _side_by_side(later, second_pass, COMMAND_RULES_AT_ONCE)
            for r in later:
                if done[r.id] is _LAST:
                    last.append(r)
                else:
                    results[r.id] = done[r.id]
        finally:
            ctx._put_last = False
        for i, r in enumerate(last):
            left = end - time.monotonic()
            if left <= 0:
                results[r.id] = out_of_time(r)
                continue
            results[r.id] = _run_one(r, ctx, _limit(r, left, last[i + 1:]))
    finally:
        snapshot(False)
    ordered = [results[r.id] for r in selected]
    ctx.results.update((res.id, res) for res in ordered)
    return ordered


def _side_by_side(rules: Sequence[Rule], run: Callable, width: int) -> Dict[str, object]:
    """{rule id: run(rule)} with up to `width` rules running at once. Each run(rule) returns
    within the rule's limit (_run_one gives up on a rule's thread at its limit)."""
    out: Dict[str, object] = {}
    slots = threading.Semaphore(width)
    threads = []

    def work(r: Rule):
        try:
            out[r.id] = run(r)
        finally:
            slots.release()

    for r in rules:
        slots.acquire()
        t = threading.Thread(target=work, args=(r,), name=f"pass2:{r.id}", daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return out


def summarize(results: Sequence[Result]) -> Dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for res in results:
        counts[res.status.value] += 1
    return counts
