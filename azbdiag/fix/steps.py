"""One file or command step: prepare it (its journal record and the state of its file when the
plan was made), apply it as a write-ahead log, settle it after an interruption, and undo it.

Every step on a file resolves the guest path once, when the plan is made, to the real path
below the root (symlinks inside the root followed); from then on that path is walked with
O_NOFOLLOW from the root (azbdiag/fix/files.py), at apply time and at undo time, so a folder
swapped for a symlink since makes the step fail instead of acting elsewhere.

apply: capture the file's state (and a byte copy, for writes and deletes; chmod and chown keep
only mode and owner), check it is still what the plan saw, journal the step as `pending` with
that state, act, journal it `ok`. After an interruption `settle` decides from the file itself
whether a pending step happened (the file is as the step leaves it), did not (as before), or
cannot be told (changed by something else). `undo` is idempotent: a file already as it was
before the fix is left as it is and counts as undone; one that is neither as before nor as the
fix left it is left alone and reported.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from typing import Callable, Optional

from azbdiag.fix import Chmod, Chown, DeleteFile, RunCommand, Symlink, WriteFile, records
from azbdiag.fix import files as F
from azbdiag.redact import redact

Hook = Callable[[int, str], None]


class JournalWriteError(Exception):
    """The journal could not be written; `acted` says whether the step had acted already."""

    def __init__(self, exc: OSError, acted: bool):
        super().__init__(exc.strerror or str(exc))
        self.exc = exc
        self.acted = acted


@dataclasses.dataclass
class Step:
    """One step of a fix: its journal record and, while it is planned, its action, the bytes a
    write puts and the state the plan expects its file in."""
    rec: dict
    action: object = None
    content: Optional[bytes] = None
    plan_state: Optional[dict] = None


def _clip(text, limit: int = 2000) -> str:
    return redact(str(text or ""))[-limit:]


def predicted(prev: dict, rec: dict) -> dict:
    """The state a file step leaves its file in, from the state before it: what a later step
    of the same plan on the same file must find there."""
    kind = rec["kind"]
    if kind == "write":
        was_file = prev.get("kind") == "file"
        owner = (prev.get("uid"), prev.get("gid")) if was_file else (
            (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid()))
        mode = rec["mode"] if rec.get("mode") is not None else (
            prev.get("mode") if was_file else 0o644)
        return {"kind": "file", "sha256": rec["after_sha256"], "mode": mode,
                "uid": owner[0], "gid": owner[1]}
    if kind == "delete":
        return {"kind": "absent"}
    if kind == "chmod":
        return dict(prev, mode=rec["mode"])
    if kind == "chown":
        return dict(prev, uid=rec["uid"], gid=rec["gid"])
    if kind == "symlink":
        return {"kind": "symlink", "target": rec["link_target"], "mode": 0o777,
                "uid": os.geteuid(), "gid": os.getegid()}
    return prev


def prepare(host, action, n: int, fix_id: str, planned: Optional[dict] = None) -> Step:
    """The planned record of `action` (raises OSError, PathChanged or ValueError when it
    cannot be planned safely). `planned` maps a target to the state the earlier steps of the
    plan leave it in; it is updated with this step's."""
    rec = {"n": n, "fix": fix_id, "kind": action.kind, "why": redact(str(action.why))[:2000],
           "reversible": bool(action.reversible), "outcome": "planned"}
    if isinstance(action, RunCommand):
        rec["argv"] = [str(a) for a in action.argv]
        rec["undo"] = records.undo_spec(action.undo_argv, host.live)
        rec["reversible"] = rec["undo"] is not None
        rec["timeout"] = float(action.timeout)
        rec["ok_codes"] = [int(c) for c in action.ok_codes]
        return Step(rec, action)
    follow = not isinstance(action, (DeleteFile, Symlink))
    rec["path"] = str(action.path)
    rec["target"] = F.resolve(host, str(action.path), follow=follow)
    if not F.clean_rel(rec["target"]) or rec["target"] == "/":
        raise ValueError(f"{action.path}: not a file below the root")
    step = Step(rec, action)
    if isinstance(action, WriteFile):
        step.content = bytes(action.content)
        rec["after_sha256"] = F.sha256(step.content)
        rec["size"] = len(step.content)
        rec["mode"] = action.mode
    elif isinstance(action, Chmod):
        rec["mode"] = int(action.mode)
    elif isinstance(action, Chown):
        rec["uid"], rec["gid"] = int(action.uid), int(action.gid)
    elif isinstance(action, Symlink):
        rec["link_target"] = str(action.target)
    if planned is not None and rec["target"] in planned:
        step.plan_state = planned[rec["target"]]
    else:
        step.plan_state = current_state(host, rec)
    if planned is not None:
        planned[rec["target"]] = predicted(step.plan_state, rec)
    return step


def current_state(host, rec: dict, backup_dirfd: Optional[int] = None) -> dict:
    """The state of the step's file now (absent when a folder on the way is missing)."""
    content = rec["kind"] in ("write", "delete", "symlink")
    if F.missing_dirs(host.root, rec["target"]):
        return {"kind": "absent"}
    with F.open_parent(host.root, rec["target"]) as (dfd, name):
        return F.capture(dfd, name, content=content, backup_dirfd=backup_dirfd,
                         backup_name=f"{rec['n']:03d}" if backup_dirfd is not None else None)


def _unchanged_since_plan(rec: dict, plan: dict, now: dict) -> Optional[str]:
    if rec["kind"] in ("chmod", "chown"):
        same = F.same_meta(plan, now)
    else:
        same = F.same_content(plan, now) and plan.get("kind") == now.get("kind")
    return None if same else "changed since the plan was shown; not changed (run the fix again)"


def _save(journal, acted: bool) -> None:
    try:
        journal.save()
    except OSError as exc:
        raise JournalWriteError(exc, acted) from None


def apply(host, journal, step: Step, hook: Hook) -> None:
    """Apply one step: rec['outcome'] ends 'ok' or 'failed' (with 'error'). Raises
    JournalWriteError when the journal cannot record it."""
    rec = step.rec
    n = rec["n"]
    if rec["kind"] == "run":
        _apply_run(host, journal, rec, hook)
        return
    try:
        before = current_state(host, rec, backup_dirfd=journal.backups_fd
                               if rec["kind"] in ("write", "delete", "symlink") else None)
        problem = _unchanged_since_plan(rec, step.plan_state or {}, before)
        if problem is None:
            problem = _refusal(rec, before)
        created = F.missing_dirs(host.root, rec["target"]) if rec["kind"] in (
            "write", "symlink") else []
    except OSError as exc:
        rec.update(outcome="failed", error=_err(exc))
        _save(journal, False)
        return
    if problem:
        rec.update(outcome="failed", error=problem)
        _save(journal, False)
        return
    rec.update(outcome="pending", before=before, created_dirs=created)
    if rec["kind"] in ("write", "symlink"):
        rec["tmp"] = F.new_tmp_name()
    _save(journal, False)
    hook(n, "pending")
    try:
        _act(host, rec, step, before, hook)
    except OSError as exc:
        rec.update(outcome="failed", error=_err(exc))
        F.remove_empty_dirs(host.root, created)
        _save(journal, False)
        return
    hook(n, "acted")
    rec["outcome"] = "ok"
    _save(journal, True)
    hook(n, "done")


def _err(exc: OSError) -> str:
    where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
    return _clip(f"{exc.strerror or exc}{where}", 500)


def _refusal(rec: dict, before: dict) -> Optional[str]:
    kind, what = rec["kind"], before["kind"]
    if kind == "write" and what not in ("file", "absent"):
        return f"not a regular file (a {what}); not written"
    if kind in ("chmod", "chown") and what not in ("file", "dir"):
        return "no such file" if what == "absent" else f"not a regular file (a {what})"
    if kind in ("delete", "symlink") and what == "dir":
        return "a directory is there; left alone"
    if kind == "delete" and what == "other":
        return "not a regular file or symlink; left alone"
    return None


def _act(host, rec: dict, step: Step, before: dict, hook: Hook) -> None:
    kind = rec["kind"]
    create = kind in ("write", "symlink")
    with F.open_parent(host.root, rec["target"], create=create) as (dfd, name):
        if kind == "write":
            if before["kind"] == "file":
                mode = rec["mode"] if rec.get("mode") is not None else before["mode"]
                owner = (before["uid"], before["gid"])
                label = before.get("selinux")
            else:
                mode = rec["mode"] if rec.get("mode") is not None else 0o644
                owner = (0, 0) if os.geteuid() == 0 else (None, None)
                label = None
            F.write_at(dfd, name, step.content, mode, owner[0], owner[1], label,
                       tmp_name=rec["tmp"], before_rename=lambda: hook(rec["n"], "tmp"))
        elif kind == "delete":
            if before["kind"] != "absent":
                os.unlink(name, dir_fd=dfd)
                F.fsync_dir(dfd)
        elif kind == "chmod":
            F.chmod_at(dfd, name, rec["mode"])
        elif kind == "chown":
            keep = before["mode"] if before["kind"] in ("file", "dir") and \
                before["mode"] & 0o6000 else None
            F.chown_at(dfd, name, rec["uid"], rec["gid"], keep_mode=keep)
        elif kind == "symlink":
            F.symlink_at(dfd, name, rec["link_target"], tmp_name=rec["tmp"])


def _apply_run(host, journal, rec: dict, hook: Hook) -> None:
    rec["outcome"] = "pending"
    _save(journal, False)
    hook(rec["n"], "pending")
    res = host.run(rec["argv"], timeout=rec.get("timeout", 60.0))
    hook(rec["n"], "acted")
    rec.update(rc=res.rc, timed_out=res.timed_out, not_found=res.not_found,
               stdout=_clip(res.stdout), stderr=_clip(res.stderr))
    if res.rc not in tuple(rec.get("ok_codes") or (0,)) or res.timed_out or res.not_found:
        rec["outcome"] = "failed"
        last = res.stderr.strip().splitlines()[-1:] if res.stderr.strip() else []
        rec["error"] = _clip(res.describe() + (f": {last[0]}" if last else ""), 500)
    else:
        rec["outcome"] = "ok"
    _save(journal, True)
    hook(rec["n"], "done")


# ---- after an interruption ---------------------------------------------------------------

def _matches_after(rec: dict, now: dict) -> bool:
    kind = rec["kind"]
    if kind == "write":
        return now.get("kind") == "file" and now.get("sha256") == rec["after_sha256"]
    if kind == "delete":
        return now.get("kind") == "absent"
    if kind == "chmod":
        return now.get("kind") in ("file", "dir") and now.get("mode") == rec["mode"]
    if kind == "chown":
        return now.get("kind") in ("file", "dir") and (now.get("uid"), now.get("gid")) == (
            rec["uid"], rec["gid"])
    if kind == "symlink":
        return now.get("kind") == "symlink" and now.get("target") == rec["link_target"]
    return False


def _matches_before(rec: dict, now: dict) -> bool:
    before = rec.get("before") or {}
    if rec["kind"] == "chmod":
        return now.get("kind") == before.get("kind") and now.get("mode") == before.get("mode")
    if rec["kind"] == "chown":
        return now.get("kind") == before.get("kind") and (now.get("uid"), now.get("gid")) == (
            before.get("uid"), before.get("gid"))
    return F.same_content(before, now)


def _remove_tmp(host, rec: dict) -> None:
    tmp = rec.get("tmp")
    if not tmp:
        return
    try:
        with F.open_parent(host.root, rec["target"]) as (dfd, _name):
            st = os.stat(tmp, dir_fd=dfd, follow_symlinks=False)
            if st.st_uid == os.geteuid() or os.geteuid() == 0:
                os.unlink(tmp, dir_fd=dfd)
    except OSError:
        pass


def settle(host, rec: dict) -> str:
    """Decide what became of a `pending` step of an interrupted run (sets its outcome);
    returns one line saying so. A leftover temporary file is removed."""
    if rec["kind"] == "run":
        rec["outcome"] = "unknown"
        rec["error"] = "azbdiag was stopped while this command ran; it may not have finished"
        return "interrupted while running; whether it finished cannot be told"
    _remove_tmp(host, rec)
    try:
        now = current_state(host, rec)
    except OSError as exc:
        rec.update(outcome="unknown", error=_err(exc))
        return f"cannot tell ({rec['error']})"
    if _matches_after(rec, now):
        rec["outcome"] = "ok"
        return "it was done"
    if _matches_before(rec, now):
        rec["outcome"] = "not-applied"
        F.remove_empty_dirs(host.root, rec.get("created_dirs") or [])
        return "it was not done"
    rec.update(outcome="unknown", error="changed by something else since; left alone")
    return "the file changed since; left alone"


# ---- undo --------------------------------------------------------------------------------

def undo_describe(rec: dict) -> str:
    """What undoing the step does, from its checked fields."""
    kind = rec["kind"]
    before = rec.get("before") or {}
    if kind == "run":
        spec = rec.get("undo")
        return ("run: " + records.shell_words(records.undo_argv(spec))) if spec else \
            "cannot be undone: left as it is"
    if kind in records.MOUNT_KINDS:
        return "cannot be undone: left as it is"
    path = records._shown(rec.get("path") or rec["target"])
    if kind == "chmod":
        return f"chmod {before.get('mode', 0):04o} {path}"
    if kind == "chown":
        return f"chown {before.get('uid')}:{before.get('gid')} {path}"
    if before.get("kind") == "absent":
        return f"remove {path} (the fix created it)"
    if before.get("kind") == "symlink":
        return f"put back the symlink {path} -> {records._shown(before.get('target'))}"
    return f"restore {path} ({before.get('size', '?')} bytes, mode {before.get('mode', 0):04o})"


def undo(host, journal, rec: dict) -> str:
    """Revert one applied step (sets rec['undo_state']); returns one line. Raises OSError
    when it fails, after which the step is left as it is."""
    kind = rec["kind"]
    if kind in records.MOUNT_KINDS or (kind == "run" and not rec.get("undo")):
        rec["undo_state"] = "skipped"
        return "skipped: cannot be undone"
    if kind == "run":
        argv = records.undo_argv(rec["undo"])
        res = host.run(argv, timeout=120)
        if not res.ok:
            raise OSError(errno.EIO, res.describe())
        rec["undo_state"] = "ok"
        return "ran " + records.shell_words(argv)
    before = rec["before"]
    now = current_state(host, rec)
    if _matches_before(rec, now) and (kind != "chown" or now.get("mode") == before.get("mode")):
        rec["undo_state"] = "ok"
        F.remove_empty_dirs(host.root, rec.get("created_dirs") or [])
        return "already as before the fix: " + (rec.get("path") or rec["target"])
    if not _matches_after(rec, now):
        rec["undo_state"] = "changed"
        raise OSError(errno.EBUSY, "changed since the fix was applied; left alone")
    with F.open_parent(host.root, rec["target"]) as (dfd, name):
        if kind == "chmod":
            F.chmod_at(dfd, name, before["mode"])
        elif kind == "chown":
            F.chown_at(dfd, name, before["uid"], before["gid"], keep_mode=before["mode"])
        else:
            F.restore_at(dfd, name, before, journal.backups_fd)
    F.remove_empty_dirs(host.root, rec.get("created_dirs") or [])
    rec["undo_state"] = "ok"
    return "restored " + records._shown(rec.get("path") or rec["target"])
