"""One step forward and one step back: apply an action (returning its journal record, with the
captured state of what it changes) and undo an applied record."""

from __future__ import annotations

import errno
import os

from azbdiag.fix import Chmod, Chown, DeleteFile, RunCommand, Symlink, WriteFile, shell_words
from azbdiag.fix.files import (
    atomic_write,
    capture,
    current_sha,
    from_journal,
    link_path,
    make_parents,
    restore,
    sha256,
    target_path,
    to_journal,
)


def apply_action(host, action, backup_dir: str, n: int) -> dict:
    """Apply one action; returns its journal record (raises on failure, after recording)."""
    rec = {"n": n, "kind": action.kind, "why": action.why, "describe": action.describe(),
           "reversible": action.reversible, "outcome": "pending"}
    name = f"{n:03d}"
    if isinstance(action, RunCommand):
        rec["argv"] = [str(a) for a in action.argv]
        rec["undo_argv"] = [str(a) for a in action.undo_argv] if action.undo_argv else None
        res = host.run(rec["argv"], timeout=action.timeout)
        rec.update(rc=res.rc, timed_out=res.timed_out, not_found=res.not_found,
                   stdout=res.stdout[-2000:], stderr=res.stderr[-2000:])
        if res.rc not in tuple(action.ok_codes) or res.timed_out or res.not_found:
            rec["outcome"] = "failed"
            rec["error"] = res.describe() + (f": {res.stderr.strip().splitlines()[-1]}"
                                             if res.stderr.strip() else "")
        else:
            rec["outcome"] = "ok"
        return rec
    if isinstance(action, (DeleteFile, Symlink)):
        real = link_path(host, action.path)
    else:
        real = target_path(host, action.path)
    rec["path"] = action.path
    rec["target"] = to_journal(host, real)
    rec["before"] = before = capture(real, backup_dir, name)
    if isinstance(action, WriteFile):
        if before["kind"] not in ("file", "absent"):
            raise OSError(errno.EISDIR, f"not a regular file ({before['kind']})", action.path)
        rec["created_dirs"] = [to_journal(host, d) for d in make_parents(real)]
        if before["kind"] == "file":
            mode = action.mode if action.mode is not None else before["mode"]
            atomic_write(real, action.content, mode, before["uid"], before["gid"],
                         before.get("selinux"))
        else:
            owner = (0, 0) if os.geteuid() == 0 else (None, None)
            atomic_write(real, action.content, action.mode if action.mode is not None else 0o644,
                         owner[0], owner[1], None)
        rec["after_sha256"] = sha256(action.content)
    elif isinstance(action, DeleteFile):
        if before["kind"] == "dir":
            raise OSError(errno.EISDIR, "refusing to delete a directory", action.path)
        if before["kind"] != "absent":
            os.unlink(real)
    elif isinstance(action, Chmod):
        if before["kind"] == "absent":
            raise FileNotFoundError(errno.ENOENT, "no such file", action.path)
        os.chmod(real, action.mode)
        rec["mode"] = action.mode
    elif isinstance(action, Chown):
        if before["kind"] == "absent":
            raise FileNotFoundError(errno.ENOENT, "no such file", action.path)
        os.chown(real, action.uid, action.gid)
        if before["kind"] in ("file", "dir") and before["mode"] & 0o6000:
            os.chmod(real, before["mode"])   # chown clears set-id bits; keep what was there
    elif isinstance(action, Symlink):
        if before["kind"] == "dir":
            raise OSError(errno.EISDIR, "a directory is in the way", action.path)
        rec["created_dirs"] = [to_journal(host, d) for d in make_parents(real)]
        tmp = os.path.join(os.path.dirname(real), f".azbdiag-link-{os.getpid()}-{n}")
        os.symlink(action.target, tmp)
        os.rename(tmp, real)
    rec["outcome"] = "ok"
    return rec


def undo_record(host, rec: dict, backup_dir: str) -> str:
    """Undo one applied action; returns a one-line description of what was done."""
    if rec["kind"] == "run":
        if not rec.get("undo_argv"):
            return "skipped: cannot be undone"
        res = host.run(rec["undo_argv"], timeout=120)
        if not res.ok:
            raise OSError(errno.EIO, res.describe())
        return "ran " + shell_words(rec["undo_argv"])
    real = from_journal(host, rec["target"])
    before = rec["before"]
    if rec["kind"] == "write" and rec.get("after_sha256"):
        now = current_sha(real)
        if now is not None and now != rec["after_sha256"]:
            raise OSError(errno.EBUSY, "changed since the fix was applied; left alone")
    if rec["kind"] == "chmod":
        os.chmod(real, before["mode"])
    elif rec["kind"] == "chown":
        os.chown(real, before["uid"], before["gid"])
        os.chmod(real, before["mode"])
    else:
        restore(real, before, backup_dir)
        for d in reversed(rec.get("created_dirs") or []):
            try:
                os.rmdir(from_journal(host, d))
            except OSError:
                pass
    return "restored " + rec.get("path", rec["target"])
