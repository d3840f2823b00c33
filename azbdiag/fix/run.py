"""`azbdiag fix`: check, plan, show the plan, confirm and lock, journal, apply, re-check.

Every fix goes through `run_fix`: refusals (offline --root for a live-only fix, no root, a
backup snapshot running, a check that could not run, a planner's RefuseFix) are decided here,
and nothing is written before confirm_and_lock (azbdiag/fix/journal.py) lets the plan through.
"""

from __future__ import annotations

import difflib
import os
from typing import Callable, List, Optional, Sequence, Tuple

from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK
from azbdiag.fix import ACTION_TYPES, FixSpec, RefuseFix, WriteFile, registered_fixes, steps
from azbdiag.fix.files import read_nofollow, target_path
from azbdiag.fix.journal import Journal, confirm_and_lock, now
from azbdiag.model import SkipReason, Status


def _diff(host, action: WriteFile) -> List[str]:
    try:
        real = target_path(host, action.path)
        old = read_nofollow(real) if os.path.isfile(real) else b""
    except OSError:
        old = b""
    a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = action.content.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, fromfile=action.path, tofile=action.path + " (new)"))
    out = [line.rstrip("\n") for line in lines]
    return out[:200] + (["... (diff cut)"] if len(out) > 200 else [])


def render_plan(host, plans: List[Tuple[FixSpec, list]]) -> List[str]:
    """The numbered plan, with each step's reason and the diff of each file written."""
    lines: List[str] = []
    n = 0
    for spec, actions in plans:
        lines.append(f"--{spec.id}: {spec.title}")
        for action in actions:
            n += 1
            mark = "" if action.reversible else "   [cannot be undone]"
            lines.append(f"  {n}. {action.describe()}{mark}")
            if action.why:
                lines.append(f"     why: {action.why}")
            if isinstance(action, WriteFile):
                lines.extend("     " + d for d in _diff(host, action))
    irreversible = [a for _, acts in plans for a in acts if not a.reversible]
    if irreversible:
        lines.append(f"{len(irreversible)} step(s) marked [cannot be undone] are not reverted "
                     f"by `azbdiag undo`.")
    return lines


def _bad(status: Status) -> bool:
    return status in (Status.WARN, Status.FAIL, Status.ERROR)


def _plan(spec: FixSpec, ctx, by_id: dict, refused: List[str], out) -> list:
    """The actions of one fix; [] with a line in `refused` or `out` when there are none."""
    errors = [by_id[r] for r in spec.rules if r in by_id and by_id[r].status == Status.ERROR]
    if errors:
        refused.append(f"--{spec.id}: a check could not run ({errors[0].id}: "
                       f"{errors[0].summary}); not fixing blind")
        return []
    findings = [by_id[r] for r in spec.rules if r in by_id
                and by_id[r].status in (Status.WARN, Status.FAIL) and by_id[r].fix == spec.id]
    ran = [by_id[r] for r in spec.rules if r in by_id]
    if not findings and ran and all(r.status == Status.SKIPPED and r.skip_reason ==
                                    SkipReason.NOT_ROOT.value for r in ran):
        refused.append(f"--{spec.id}: its checks did not run ({ran[0].id}: "
                       f"{ran[0].summary}), so there is nothing safe to plan")
        return []
    if not findings:
        out(f"--{spec.id}: nothing to do")
        return []
    try:
        actions = list(spec.planner(ctx, findings) or [])
    except RefuseFix as exc:
        refused.append(f"--{spec.id}: {exc}")
        return []
    bad = [a for a in actions if not isinstance(a, ACTION_TYPES)]
    if bad:
        refused.append(f"--{spec.id}: the planner returned {type(bad[0]).__name__}, "
                       f"not an action")
        return []
    if not actions:
        out(f"--{spec.id}: nothing to do")
    return actions


def run_fix(host, ids: Sequence[str], *, check: Callable, options: Optional[dict] = None,
            dry_run: bool = False, yes: bool = False, interactive: Optional[bool] = None,
            confirm: Optional[Callable[[str], bool]] = None, argv: Sequence[str] = (),
            out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Plan, confirm, apply and verify the fixes `ids`. Returns the exit code.

    `check(host, only=..., options=...)` runs rules and returns (context, results, document):
    azbdiag.report.run_check, or a stand-in in tests."""
    from azbdiag.facts import backup_in_progress

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
    running = backup_in_progress(host)
    if running:
        err("refusing to change anything while a backup snapshot is running: " + "; ".join(running))
        return EXIT_CANNOT_RUN
    rule_ids = sorted({r for spec in specs for r in spec.rules})
    options = dict(options or {})
    ctx, before, _doc = check(host, only=rule_ids, options=options) if rule_ids else (None, [], None)
    by_id = {r.id: r for r in before}
    plans: List[Tuple[FixSpec, list]] = []
    for spec in specs:
        actions = _plan(spec, ctx, by_id, refused, out)
        if actions:
            plans.append((spec, actions))
    for line in refused:
        err(f"refused {line}")
    if not plans:
        return EXIT_CANNOT_RUN if refused else EXIT_OK
    out("Plan:")
    for line in render_plan(host, plans):
        out(line)
    if dry_run:
        out("Dry run: nothing was changed.")
        return EXIT_CANNOT_RUN if refused else EXIT_OK
    return confirm_and_lock(
        host, lambda: _apply_and_verify(host, plans, refused, before, check, options, argv,
                                        out, err),
        question="Apply this plan?", purpose="apply this plan", yes=yes,
        interactive=interactive, confirm=confirm, err=err)


def _apply_and_verify(host, plans, refused, before, check, options, argv, out, err):
    from azbdiag.facts import backup_in_progress

    running = backup_in_progress(host)
    if running:
        err("refusing to change anything while a backup snapshot is running: " + "; ".join(running))
        return EXIT_CANNOT_RUN
    journal = Journal.create(host, {
        "timestamp": now(), "argv": list(argv), "root": host.root, "live": host.live,
        "fixes": [spec.id for spec, _ in plans],
        "plan": [{"fix": spec.id, "n": i, "describe": a.describe(), "why": a.why,
                  "reversible": a.reversible}
                 for spec, acts in plans for i, a in enumerate(acts, 1)],
        "actions": [], "status": "applying", "refused": refused,
    })
    out(f"Journal: {journal.dir}")
    failed = False
    n = 0
    for spec, actions in plans:
        for action in actions:
            n += 1
            try:
                rec = steps.apply_action(host, action, journal.backups, n)
            except OSError as exc:
                rec = {"n": n, "kind": action.kind, "describe": action.describe(),
                       "why": action.why, "reversible": action.reversible, "outcome": "failed",
                       "error": f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename
                                                            else "")}
            rec["fix"] = spec.id
            rec["finished"] = now()
            journal.data["actions"].append(rec)
            journal.save()
            mark = "done" if rec["outcome"] == "ok" else f"FAILED ({rec.get('error', '')})"
            out(f"  {n}. {action.describe()}: {mark}")
            if rec["outcome"] != "ok":
                failed = True
                break
        if failed:
            break
    journal.data["status"] = "failed" if failed else "applied"
    journal.save()
    if failed:
        err("stopped at the first failed step; the rest of the plan was not applied "
            f"(`azbdiag undo {journal.data['run_id']}` reverts what was done)")
    fixed_rules = sorted({r for spec, _ in plans for r in spec.rules})
    _ctx, after, _doc = check(host, only=fixed_rules, options=options)
    before_by = {r.id: r for r in before}
    after_by = {r.id: r for r in after}
    out("Before -> after:")
    still_bad = False
    for rid in fixed_rules:
        b, a = before_by.get(rid), after_by.get(rid)
        if a is None:
            continue
        still_bad = still_bad or _bad(a.status)
        out(f"  {rid}: {b.status.value if b else '?'} -> {a.status.value}  {a.summary}")
    journal.data["after"] = {rid: after_by[rid].status.value for rid in fixed_rules
                             if rid in after_by}
    journal.save()
    if failed or still_bad:
        return EXIT_FINDINGS
    return EXIT_CANNOT_RUN if refused else EXIT_OK
