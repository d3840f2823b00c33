"""`azbdiag fix`: lock, finish interrupted runs, check, plan, show, confirm, apply as a
write-ahead log, re-check.

The order matters (issue 11): the lock is taken first, so the plan is made, shown and applied
by one fixer, and every file a step changes is checked to be unchanged since the plan right
before it is replaced. Each step is journaled as pending, with what it changes, before it acts,
and as ok or failed after (azbdiag/fix/steps.py, mounts.py); the run stops at the first step
that fails, and a file system it unmounted is mounted back. Refusals (offline --root for a
live-only fix, no root, a backup snapshot running, a check that could not run, a planner's
RefuseFix, a file that cannot be read) are decided before anything is written.

Signals: SIGTERM, SIGHUP and SIGINT during the steps do not cut a step in half and do not
kill its command (an e2fsck stopped half-way is worse than one that finishes). azbdiag
finishes the running step, and the rest of a file system repair it has started (check, mount
again), records the run as interrupted and exits 128+signal. SIGKILL cannot be handled: the
next `fix` or `undo` finishes the run from its journal (azbdiag/fix/recover.py).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
from typing import Callable, List, Optional, Sequence, Tuple

from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK
from azbdiag.fix import (
    ACTION_TYPES,
    FixSpec,
    RefuseFix,
    RepairFilesystem,
    RunCommand,
    records,
    registered_fixes,
    steps,
)
from azbdiag.fix import files as F
from azbdiag.fix import mounts as M
from azbdiag.fix.journal import Journal, JournalError, ask, now, with_lock
from azbdiag.model import SkipReason, Status
from azbdiag.redact import redact

TEST_HOOKS_ENV = "AZBDIAG_TEST_HOOKS"       # "1" enables the hook below (tests only)
TEST_KILL_ENV = "AZBDIAG_TEST_KILL_AT"      # "<step>:<phase>": SIGKILL azbdiag there


def test_hook(n: int, phase: str) -> None:
    """Tests kill azbdiag at an exact point of a step: pending (journaled, not acted), tmp
    (a file's new content written, not renamed), acted (done, not journaled as done), done
    (journaled as done, the run not closed)."""
    if os.environ.get(TEST_HOOKS_ENV) == "1" and os.environ.get(TEST_KILL_ENV) == f"{n}:{phase}":
        os.kill(os.getpid(), signal.SIGKILL)


class Planned:
    """The steps of one fix, in order."""

    def __init__(self, spec: FixSpec):
        self.spec = spec
        self.steps: List[steps.Step] = []
        self.mounts: List[dict] = []


# ---- the plan ----------------------------------------------------------------------------

def _diff(host, step: steps.Step) -> List[str]:
    old = F.read_at(host.root, step.rec["target"]) or b""
    a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = (step.content or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    path = records._shown(step.rec["path"])
    lines = list(difflib.unified_diff(a, b, fromfile=path, tofile=path + " (new)"))
    out = [redact(line.rstrip("\n")) for line in lines]
    return out[:200] + (["... (diff cut)"] if len(out) > 200 else [])


def render_plan(host, plans: List[Planned], mounts: List[dict]) -> List[str]:
    """The numbered plan, with each step's reason and the diff of each file written; every
    line is built from the step records (as the journal keeps them) and redacted."""
    lines: List[str] = []
    for p in plans:
        lines.append(f"--{p.spec.id}: {p.spec.title}")
        for step in p.steps:
            rec = step.rec
            mark = "" if rec["reversible"] else "   [cannot be undone]"
            lines.append(f"  {rec['n']}. {records.describe(rec, mounts)}{mark}")
            if rec.get("why"):
                lines.append("     why: " + records._shown(rec["why"]))
            if rec["kind"] == "write":
                lines.extend("     " + d for d in _diff(host, step))
    irreversible = [s for p in plans for s in p.steps if not s.rec["reversible"]]
    if irreversible:
        lines.append(f"{len(irreversible)} step(s) marked [cannot be undone] are not reverted "
                     f"by `azbdiag undo`.")
    return lines


def _bad(status: Status) -> bool:
    return status in (Status.WARN, Status.FAIL, Status.ERROR)


def _plan(spec: FixSpec, ctx, by_id: dict, refused: List[str], notes: List[Tuple[str, str]],
          out) -> list:
    """The actions of one fix; [] with a line in `refused`, `notes` or `out` when there are
    none. `notes` gets (status, line) for each finding the fix leaves as it is, and why."""
    from azbdiag.host import Unreadable

    errors = [by_id[r] for r in spec.rules if r in by_id and by_id[r].status == Status.ERROR]
    if errors:
        refused.append(f"--{spec.id}: a check could not run ({errors[0].id}: "
                       f"{errors[0].summary}); not fixing blind")
        return []
    found = [by_id[r] for r in spec.rules if r in by_id
             and by_id[r].status in (Status.WARN, Status.FAIL)]
    findings = [f for f in found if f.fix == spec.id]
    explained = len(notes)
    for f in found:
        reason = f.data.get("not_fixable") if isinstance(f.data, dict) else None
        if f.fix is None and reason:
            notes.append((f.status.value, f"--{spec.id}: {f.id} ({f.status.value}) is not "
                                          f"repaired by this fix: {reason}"))
    ran = [by_id[r] for r in spec.rules if r in by_id]
    if not findings and ran and all(r.status == Status.SKIPPED and r.skip_reason ==
                                    SkipReason.NOT_ROOT.value for r in ran):
        refused.append(f"--{spec.id}: its checks did not run ({ran[0].id}: "
                       f"{ran[0].summary}), so there is nothing safe to plan")
        return []
    if not findings:
        if len(notes) == explained:
            out(f"--{spec.id}: nothing to do")
        return []
    try:
        actions = list(spec.planner(ctx, findings) or [])
    except RefuseFix as exc:
        refused.append(f"--{spec.id}: {exc}")
        return []
    except Unreadable as exc:
        refused.append(f"--{spec.id}: {exc}; nothing was changed")
        return []
    bad = [a for a in actions if not isinstance(a, ACTION_TYPES)]
    if bad:
        refused.append(f"--{spec.id}: the planner returned {type(bad[0]).__name__}, "
                       f"not an action")
        return []
    if not actions:
        for f in findings:
            notes.append((f.status.value, f"--{spec.id}: {f.id} ({f.status.value}: "
                                          f"{f.summary}): the fix found nothing it can change"))
    return actions


def _prepare(host, spec: FixSpec, actions: list, first_n: int, mounts: List[dict],
             refused: List[str], predicted: dict) -> Optional[Planned]:
    """The step records of one fix, or None (with the reason in `refused`)."""
    planned = Planned(spec)
    n = first_n
    group_base = len(mounts)
    new_mounts: List[dict] = []
    try:
        for action in actions:
            # Offline, commands would run on this (rescue) machine, not on the disk under
            # --root; a repair the rescue planner checked (fix/offline_fs.py) acts on the OS
            # disk's own block devices attached here, which is its point.
            checked = isinstance(action, RepairFilesystem) and action.offline
            if isinstance(action, (RunCommand, RepairFilesystem)) and not host.live \
                    and not checked:
                raise RefuseFix("it runs commands, and they would run on this machine, not on "
                                "the disk under --root")
            if isinstance(action, RepairFilesystem):
                m, recs = M.expand(host, action, group_base + len(new_mounts), spec.id, n)
                new_mounts.append(m)
                planned.steps.extend(steps.Step(r) for r in recs)
                n += len(recs)
                continue
            planned.steps.append(steps.prepare(host, action, n, spec.id, predicted))
            n += 1
    except RefuseFix as exc:
        refused.append(f"--{spec.id}: {exc}")
        return None
    except F.PathChanged as exc:
        refused.append(f"--{spec.id}: {exc.filename}: {exc.strerror}")
        return None
    except (OSError, ValueError) as exc:
        what = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and \
            exc.strerror else str(exc)
        refused.append(f"--{spec.id}: cannot plan it safely ({redact(what)[:300]}); nothing "
                       f"was changed")
        return None
    if any(m.get("offline") for m in new_mounts):
        from azbdiag.fix.offline_fs import order_steps

        planned.steps = order_steps(planned.steps, new_mounts, group_base, first_n)
    mounts.extend(new_mounts)
    planned.mounts = new_mounts
    return planned


# ---- the command -------------------------------------------------------------------------

def run_fix(host, ids: Sequence[str], *, check: Callable, options: Optional[dict] = None,
            dry_run: bool = False, yes: bool = False, interactive: Optional[bool] = None,
            confirm: Optional[Callable[[str], bool]] = None, argv: Sequence[str] = (),
            out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Plan, confirm, apply and verify the fixes `ids`. Returns the exit code.

    `check(host, only=..., options=...)` runs rules and returns (context, results, document):
    azbdiag.report.run_check, or a stand-in in tests."""
    fixes = registered_fixes()
    if not ids:
        err("no fix is registered yet for what was asked")
        return EXIT_CANNOT_RUN
    specs: List[FixSpec] = []
    for fid in ids:
        if fid not in fixes:
            err(f"no fix is registered for --{fid} yet; nothing done for it")
            continue
        specs.append(fixes[fid])
    if not specs:
        return EXIT_CANNOT_RUN
    specs.sort(key=lambda s: (s.order, s.id))
    refused: List[str] = []
    for spec in list(specs):
        if spec.live_only and not host.live:
            refused.append(f"--{spec.id}: needs the live system, not an offline --root")
            specs.remove(spec)
    if host.live and not host.is_root and not dry_run:
        err("fix needs root on the live system: re-run with sudo (or use --dry-run)")
        return EXIT_CANNOT_RUN
    run = _Run(host, specs, refused, check, dict(options or {}), argv, out, err)
    if dry_run:
        return run.dry_run()
    return with_lock(lambda: run.locked(yes, interactive, confirm), err)


class _Run:
    def __init__(self, host, specs, refused, check, options, argv, out, err):
        self.host, self.specs, self.refused = host, specs, refused
        self.check, self.options, self.argv = check, options, list(argv)
        self.out, self.err = out, err
        self.notes: List[Tuple[str, str]] = []
        self.plans: List[Planned] = []
        self.mounts: List[dict] = []
        self.before: list = []

    def _backup_running(self) -> bool:
        from azbdiag.facts import backup_in_progress

        running = backup_in_progress(self.host)
        if running:
            self.err("refusing to change anything while a backup snapshot is running: "
                     + "; ".join(running))
        return bool(running)

    def _make_plan(self) -> None:
        rule_ids = self._rule_ids()
        ctx, self.before, _doc = (self.check(self.host, only=rule_ids, options=self.options)
                                  if rule_ids else (None, [], None))
        by_id = {r.id: r for r in self.before}
        n = 1
        predicted: dict = {}
        for spec in self.specs:
            actions = _plan(spec, ctx, by_id, self.refused, self.notes, self.out)
            if not actions:
                continue
            after = dict(predicted)     # a refused fix must not leave its predictions
            planned = _prepare(self.host, spec, actions, n, self.mounts, self.refused, after)
            if planned is not None and planned.steps:
                self.plans.append(planned)
                n += len(planned.steps)
                predicted = after
        for line in self.refused:
            self.err(f"refused {line}")
        for _status, line in self.notes:
            self.out(line)

    def _rule_ids(self, plans=None) -> List[str]:
        """The rules of the fixes (of `plans` when given); `options["only_rules"]` keeps some
        (fix --disk on a rescue VM: the disk's rules, never this machine's own)."""
        specs = [p.spec for p in plans] if plans is not None else self.specs
        ids = sorted({r for spec in specs for r in spec.rules})
        only = self.options.get("only_rules")
        return [r for r in ids if r in only] if only else ids

    def _nothing_planned_code(self) -> int:
        if self.refused:
            return EXIT_CANNOT_RUN
        return EXIT_FINDINGS if any(s == "fail" for s, _l in self.notes) else EXIT_OK

    def _show(self) -> None:
        self.out("Plan:")
        for line in render_plan(self.host, self.plans, self.mounts):
            self.out(line)

    def dry_run(self) -> int:
        from azbdiag.fix.recover import open_runs

        try:
            pending = open_runs(self.host)
        except JournalError as exc:
            pending = []
            self.err(f"note: {exc}")
        for run_id in pending:
            self.out(f"Run {run_id} was interrupted: a real run finishes it first "
                     f"(see `azbdiag check --only fix`)")
        if self._backup_running():
            return EXIT_CANNOT_RUN
        self._make_plan()
        if not self.plans:
            return self._nothing_planned_code()
        self._show()
        self.out("Dry run: nothing was changed.")
        return EXIT_CANNOT_RUN if self.refused else EXIT_OK

    def locked(self, yes, interactive, confirm) -> int:
        from azbdiag.fix.recover import recover_all

        stop = _Stop()
        try:
            with stop.deferring():      # a repair being finished is not cut in half either
                recover_all(self.host, self.out, self.err, hook=test_hook)
        except JournalError as exc:
            self.err(f"{exc}; nothing was changed")
            return EXIT_CANNOT_RUN
        if stop.signum is not None:
            self.err(f"stopped by {signal.Signals(stop.signum).name} after finishing the "
                     f"interrupted run")
            return 128 + stop.signum
        if self._backup_running():
            return EXIT_CANNOT_RUN
        self._make_plan()
        if not self.plans:
            return self._nothing_planned_code()
        self._show()
        code = ask("Apply this plan?", purpose="apply this plan", yes=yes,
                   interactive=interactive, confirm=confirm, err=self.err)
        if code is not None:
            return code
        return self._apply()

    # ---- applying ----------------------------------------------------------------------

    def _apply(self) -> int:
        header = {"timestamp": now(), "argv": [redact(a)[:4096] for a in self.argv],
                  "fixes": [p.spec.id for p in self.plans], "status": "applying",
                  "refused": [redact(r)[:2000] for r in self.refused],
                  "mounts": self.mounts,
                  "actions": [s.rec for p in self.plans for s in p.steps]}
        try:
            journal = Journal.create(self.host, header)
        except (JournalError, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.err(f"cannot write the journal: {why}; nothing was changed")
            return EXIT_CANNOT_RUN
        try:
            return self._steps(journal)
        finally:
            journal.close()

    def _steps(self, journal: Journal) -> int:
        self.out(f"Journal: {journal.dir}")
        # the journal's copy of the mount records is the one the steps update
        self.mounts = journal.data["mounts"]
        failed = False
        stop = _Stop()
        todo = [s for p in self.plans for s in p.steps]
        try:
            with stop.deferring():
                for step in todo:
                    rec = step.rec
                    group = rec.get("group")
                    # a started repair is carried through; offline, an inner file system
                    # stays open until the outer one is mounted back (offline_fs.py)
                    if stop.signum is not None and not any(
                            M.is_open(journal, g) for g in range(len(self.mounts))):
                        break
                    try:
                        if rec["kind"] in records.MOUNT_KINDS:
                            M.run_step(self.host, journal, rec, test_hook, self.out)
                        else:
                            steps.apply(self.host, journal, step, test_hook)
                    except steps.JournalWriteError as exc:
                        done = "it was done, but " if exc.acted else "nothing of it was done: "
                        self.err(f"step {rec['n']}: {done}the journal {journal.dir} could not "
                                 f"record it ({exc}); stopped here")
                        failed = True
                        self._mount_back_open(journal, f"the journal could not be written ({exc})")
                        break
                    shown = records.describe(rec, self.mounts)
                    if rec["outcome"] == "ok":
                        self.out(f"  {rec['n']}. {shown}: done")
                        continue
                    self.out(f"  {rec['n']}. {shown}: FAILED ({rec.get('error', '')})")
                    failed = True
                    if group is not None:
                        M.mount_back(self.host, journal, group,
                                     f"step {rec['n']} failed ({rec.get('error', '')})",
                                     self.out, self.err)
                        # a nested offline repair has its inner file systems unmounted too
                        self._mount_back_open(journal, f"step {rec['n']} failed")
                    break
        except BaseException:
            # Not a failed step but azbdiag itself failing (a bug, KeyboardInterrupt raised
            # by a test): never leave a file system unmounted.
            self._mount_back_open(journal, "azbdiag stopped in the middle of the repair")
            raise
        for rec in journal.data["actions"]:
            if rec["outcome"] == "planned":
                rec["outcome"] = "not-applied"
        stopped = stop.signum
        journal.data["status"] = ("failed" if failed else
                                  "interrupted" if stopped is not None else "applied")
        if not self._save(journal):
            return EXIT_FINDINGS
        if failed:
            self.err("stopped at the first failed step; the rest of the plan was not applied "
                     f"(`azbdiag undo {journal.run_id}` reverts what was done)")
        if stopped is not None:
            name = signal.Signals(stopped).name
            self.err(f"stopped by {name} after step {_last_done(journal)}: the run is recorded "
                     f"as interrupted (`azbdiag undo {journal.run_id}` reverts what was done)")
            return 128 + stopped
        return self._recheck(journal, failed)

    def _mount_back_open(self, journal: Journal, reason: str) -> None:
        # outer mount points first: /rescue before /rescue/var
        for g in sorted(range(len(journal.data["mounts"])),
                        key=lambda g: journal.data["mounts"][g]["point"].count("/")):
            if M.is_open(journal, g) and journal.data["mounts"][g]["state"] == "unmounted":
                M.mount_back(self.host, journal, g, reason, self.out, self.err)

    def _save(self, journal: Journal) -> bool:
        try:
            journal.save()
            return True
        except OSError as exc:
            self.err(f"the journal {journal.dir} could not record the end of the run "
                     f"({exc.strerror or exc}); the next fix or undo settles it")
            return False

    def _recheck(self, journal: Journal, failed: bool) -> int:
        fixed_rules = self._rule_ids(self.plans)
        _ctx, after, _doc = self.check(self.host, only=fixed_rules, options=self.options)
        before_by = {r.id: r for r in self.before}
        after_by = {r.id: r for r in after}
        self.out("Before -> after:")
        still_bad = False
        for rid in fixed_rules:
            b, a = before_by.get(rid), after_by.get(rid)
            if a is None:
                continue
            still_bad = still_bad or _bad(a.status)
            self.out(f"  {rid}: {b.status.value if b else '?'} -> {a.status.value}  "
                     f"{redact(a.summary)}")
        journal.data["after"] = {rid: after_by[rid].status.value for rid in fixed_rules
                                 if rid in after_by}
        self._save(journal)
        if failed or still_bad:
            return EXIT_FINDINGS
        return EXIT_CANNOT_RUN if self.refused else EXIT_OK


def _last_done(journal: Journal) -> int:
    done = [r["n"] for r in journal.data["actions"] if r["outcome"] == "ok"]
    return done[-1] if done else 0


class _Stop:
    """SIGTERM, SIGHUP and SIGINT noted, not acted on, while the steps run."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def __init__(self):
        self.signum: Optional[int] = None

    def _note(self, signum, _frame):
        if self.signum is None:
            self.signum = signum

    @contextlib.contextmanager
    def deferring(self):
        old = {}
        for sig in self.SIGNALS:
            try:
                old[sig] = signal.signal(sig, self._note)
            except (ValueError, OSError):      # not the main thread: nothing to defer
                pass
        try:
            yield self
        finally:
            for sig, handler in old.items():
                try:
                    signal.signal(sig, handler)
                except (ValueError, OSError):
                    pass
