"""The fixer shared by every `azbdiag fix --<id>`.

A fix is a planner registered with ``@fix(...)`` next to the rules it repairs. The planner gets
the check context and the warn/fail results of its rules and returns a list of actions. The
fixer prints the plan, asks for confirmation, takes a backup of everything it changes, writes a
journal, applies the actions, re-runs the checks and prints before/after. ``azbdiag undo``
replays a journal in reverse.

Paths in actions are guest paths, mapped through ``host.path()`` so that ``--root`` works.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import errno
import fcntl
import hashlib
import json
import os
import stat as stat_mod
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from azbdiag.model import SkipReason, Status

FIX_IDS = ("freeze", "vmbackup-conf", "selinux", "agent", "scripts", "dhcp")
EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN, EXIT_NOT_CONFIRMED = 0, 1, 3, 4
STATE_ENV = "AZBDIAG_STATE_DIR"   # tests point the journal and lock somewhere of their own
SELINUX_XATTR = "security.selinux"


class RefuseFix(Exception):
    """Raised by a planner: this fix must not be applied now (the message says why)."""


@dataclasses.dataclass(frozen=True)
class FixSpec:
    id: str
    title: str
    rules: Tuple[str, ...]
    order: int
    live_only: bool
    planner: Callable


FIXES: Dict[str, FixSpec] = {}


def fix(id: str, title: str, rules: Sequence[str] = (), order: int = 50, live_only: bool = False):
    """Register the planner of fix `id` (one of FIX_IDS) for the results of `rules`."""

    def wrap(func: Callable) -> Callable:
        if id not in FIX_IDS:
            raise ValueError(f"unknown fix id {id!r}")
        FIXES[id] = FixSpec(id, title, tuple(rules), order, live_only, func)
        func.fix_id = id
        return func

    return wrap


def registered_fixes() -> Dict[str, FixSpec]:
    from azbdiag import engine

    engine.load_rules()          # planners live in the rule modules
    return FIXES


# ---- actions -----------------------------------------------------------------------------

@dataclasses.dataclass
class WriteFile:
    path: str
    content: bytes
    mode: Optional[int] = None
    why: str = ""
    kind = "write"
    reversible = True

    def describe(self) -> str:
        mode = f" (mode {self.mode:04o})" if self.mode is not None else ""
        return f"write {self.path}{mode}, {len(self.content)} bytes"


@dataclasses.dataclass
class DeleteFile:
    path: str
    why: str = ""
    kind = "delete"
    reversible = True

    def describe(self) -> str:
        return f"delete {self.path}"


@dataclasses.dataclass
class Chmod:
    path: str
    mode: int
    why: str = ""
    kind = "chmod"
    reversible = True

    def describe(self) -> str:
        return f"chmod {self.mode:04o} {self.path}"


@dataclasses.dataclass
class Chown:
    path: str
    uid: int
    gid: int
    why: str = ""
    kind = "chown"
    reversible = True

    def describe(self) -> str:
        return f"chown {self.uid}:{self.gid} {self.path}"


@dataclasses.dataclass
class Symlink:
    path: str
    target: str
    why: str = ""
    kind = "symlink"
    reversible = True

    def describe(self) -> str:
        return f"symlink {self.path} -> {self.target}"


@dataclasses.dataclass
class RunCommand:
    argv: Sequence[str]
    why: str = ""
    undo_argv: Optional[Sequence[str]] = None
    timeout: float = 60.0
    ok_codes: Sequence[int] = (0,)     # exit codes that count as success (e2fsck: 0 and 1)
    kind = "run"

    @property
    def reversible(self) -> bool:
        return self.undo_argv is not None

    def describe(self) -> str:
        return "run: " + " ".join(_quote(a) for a in self.argv)


ACTION_TYPES = (WriteFile, DeleteFile, Chmod, Chown, Symlink, RunCommand)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(str(arg))


# ---- paths, backups and atomic writes ----------------------------------------------------

def _target_path(host, guest: str) -> str:
    """The real file an action on `guest` changes; symlinks are followed (inside --root)."""
    real = host.path(guest)
    if host.root == "/":
        real = os.path.realpath(real)
    return real


def _link_path(host, guest: str) -> str:
    """The real path of `guest` itself: its last component is not followed."""
    real = host.lpath(guest)
    if host.root == "/":
        head, tail = os.path.split(real)
        real = os.path.join(os.path.realpath(head or "/"), tail)
    return real


def _rel(host, real: str) -> str:
    """`real` relative to the root, stored in the journal (undo maps it back, no lookup)."""
    rel = os.path.relpath(real, host.root)
    # Only "." is special: lstrip("./") would eat the dot of names such as /.autorelabel.
    return "/" if rel == "." else "/" + rel


def _unrel(host, rel: str) -> str:
    return os.path.join(host.root, rel.lstrip("/"))


def _get_label(real: str) -> Optional[str]:
    try:
        return os.getxattr(real, SELINUX_XATTR, follow_symlinks=False).hex()
    except (OSError, AttributeError):
        return None


def _set_label_fd(fd: int, label_hex: Optional[str]) -> None:
    if not label_hex:
        return
    try:
        os.setxattr(fd, SELINUX_XATTR, bytes.fromhex(label_hex))
    except (OSError, ValueError):
        pass  # no SELinux on this file system: nothing to keep


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_nofollow(real: str, limit: int = 1 << 30) -> bytes:
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise OSError(errno.EFBIG, "file too large to back up", real)
        return b"".join(chunks)
    finally:
        os.close(fd)


def capture(real: str, backup_dir: Optional[str], name: str) -> dict:
    """The state of `real` (not following a symlink), with a byte copy of a regular file
    written to `backup_dir/name`."""
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return {"kind": "absent"}
    state = {"mode": stat_mod.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
             "selinux": _get_label(real)}
    if stat_mod.S_ISLNK(st.st_mode):
        state.update(kind="symlink", target=os.readlink(real))
    elif stat_mod.S_ISREG(st.st_mode):
        data = _read_nofollow(real)
        state.update(kind="file", size=len(data), sha256=_sha256(data))
        if backup_dir is not None:
            bpath = os.path.join(backup_dir, name)
            fd = os.open(bpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            state["backup"] = name
    elif stat_mod.S_ISDIR(st.st_mode):
        state["kind"] = "dir"
    else:
        state["kind"] = "other"
    return state


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(real: str, content: bytes, mode: int, uid: Optional[int], gid: Optional[int],
                 label_hex: Optional[str]) -> None:
    """Write `content` to `real` through a temporary file in the same directory and a rename,
    with the given mode, owner and SELinux label."""
    directory = os.path.dirname(real) or "."
    fd, tmp = tempfile.mkstemp(prefix=".azbdiag-", dir=directory)
    try:
        try:
            _write_all(fd, content)
            if uid is not None and gid is not None:
                try:
                    os.fchown(fd, uid, gid)
                except PermissionError:
                    if os.geteuid() == 0:
                        raise
            os.fchmod(fd, mode)       # after chown, which may clear set-id bits
            _set_label_fd(fd, label_hex)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _make_parents(real: str) -> List[str]:
    """Create missing parent directories (0755); returns those created, outermost first."""
    created: List[str] = []
    parent = os.path.dirname(real)
    missing = []
    while parent and not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        created.append(d)
    return created


def _restore(real: str, state: dict, backup_dir: str) -> None:
    """Put `real` back into the captured `state`."""
    kind = state.get("kind")
    if kind == "file":
        data = _read_nofollow(os.path.join(backup_dir, state["backup"]))
        if _sha256(data) != state.get("sha256"):
            raise OSError(errno.EIO, "backup copy does not match its checksum", state["backup"])
        if os.path.islink(real):
            os.unlink(real)
        atomic_write(real, data, state["mode"], state["uid"], state["gid"], state.get("selinux"))
    elif kind == "symlink":
        if os.path.islink(real) or (os.path.lexists(real) and not os.path.isdir(real)):
            os.unlink(real)
        os.symlink(state["target"], real)
        try:
            os.chown(real, state["uid"], state["gid"], follow_symlinks=False)
        except (PermissionError, NotImplementedError):
            pass
    elif kind == "absent":
        if os.path.islink(real) or os.path.isfile(real):
            os.unlink(real)
    elif kind == "dir":
        if os.geteuid() == 0:
            os.chown(real, state["uid"], state["gid"])
        os.chmod(real, state["mode"])
    else:
        raise OSError(errno.EINVAL, f"cannot restore a {kind}", real)


# ---- applying and undoing ----------------------------------------------------------------

def _current_sha(real: str) -> Optional[str]:
    try:
        if os.path.islink(real) or not os.path.isfile(real):
            return None
        return _sha256(_read_nofollow(real))
    except OSError:
        return None


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
        real = _link_path(host, action.path)
    else:
        real = _target_path(host, action.path)
    rec["path"] = action.path
    rec["target"] = _rel(host, real)
    rec["before"] = before = capture(real, backup_dir, name)
    if isinstance(action, WriteFile):
        if before["kind"] not in ("file", "absent"):
            raise OSError(errno.EISDIR, f"not a regular file ({before['kind']})", action.path)
        rec["created_dirs"] = [_rel(host, d) for d in _make_parents(real)]
        if before["kind"] == "file":
            mode = action.mode if action.mode is not None else before["mode"]
            atomic_write(real, action.content, mode, before["uid"], before["gid"],
                         before.get("selinux"))
        else:
            owner = (0, 0) if os.geteuid() == 0 else (None, None)
            atomic_write(real, action.content, action.mode if action.mode is not None else 0o644,
                         owner[0], owner[1], None)
        rec["after_sha256"] = _sha256(action.content)
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
        rec["created_dirs"] = [_rel(host, d) for d in _make_parents(real)]
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
        return "ran " + " ".join(_quote(a) for a in rec["undo_argv"])
    real = _unrel(host, rec["target"])
    before = rec["before"]
    if rec["kind"] == "write" and rec.get("after_sha256"):
        now = _current_sha(real)
        if now is not None and now != rec["after_sha256"]:
            raise OSError(errno.EBUSY, "changed since the fix was applied; left alone")
    if rec["kind"] == "chmod":
        os.chmod(real, before["mode"])
    elif rec["kind"] == "chown":
        os.chown(real, before["uid"], before["gid"])
        os.chmod(real, before["mode"])
    else:
        _restore(real, before, backup_dir)
        for d in reversed(rec.get("created_dirs") or []):
            try:
                os.rmdir(_unrel(host, d))
            except OSError:
                pass
    return "restored " + rec.get("path", rec["target"])


# ---- journal and lock --------------------------------------------------------------------

def state_dir(host) -> str:
    return os.environ.get(STATE_ENV) or host.path("/var/lib/azbdiag")


def journal_root(host) -> str:
    return os.path.join(state_dir(host), "journal")


def lock_path(host) -> str:
    if os.environ.get(STATE_ENV) or not host.live:
        return os.path.join(state_dir(host), "fix.lock")
    return "/run/azbdiag/fix.lock"


class Lock:
    """One fixer at a time: an exclusive flock on a lock file."""

    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Journal:
    def __init__(self, directory: str, data: dict):
        self.dir = directory
        self.data = data
        self.backups = os.path.join(directory, "backups")

    @classmethod
    def create(cls, host, data: dict) -> Journal:
        root = journal_root(host)
        os.makedirs(root, mode=0o700, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for i in range(1000):
            run_id = stamp if i == 0 else f"{stamp}-{i}"
            try:
                os.mkdir(os.path.join(root, run_id), 0o700)
                break
            except FileExistsError:
                continue
        else:
            raise OSError(errno.EEXIST, "cannot create a journal directory", root)
        journal = cls(os.path.join(root, run_id), dict(data, run_id=run_id))
        os.mkdir(journal.backups, 0o700)
        journal.save()
        return journal

    @classmethod
    def load(cls, host, run_id: str) -> Journal:
        directory = os.path.join(journal_root(host), run_id)
        with open(os.path.join(directory, "journal.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or not isinstance(data.get("actions"), list):
            raise ValueError("not an azbdiag journal")
        return cls(directory, data)

    def save(self) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=False).encode("utf-8") + b"\n"
        atomic_write(os.path.join(self.dir, "journal.json"), text, 0o600, None, None, None)


def list_runs(host) -> List[str]:
    root = journal_root(host)
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "journal.json")))


# ---- the fix command ---------------------------------------------------------------------

def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _diff(host, action: WriteFile) -> List[str]:
    try:
        real = _target_path(host, action.path)
        old = _read_nofollow(real) if os.path.isfile(real) else b""
    except OSError:
        old = b""
    a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = action.content.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, fromfile=action.path, tofile=action.path + " (new)"))
    out = [line.rstrip("\n") for line in lines]
    return out[:200] + (["... (diff cut)"] if len(out) > 200 else [])


def render_plan(host, plans: List[Tuple[FixSpec, list]]) -> List[str]:
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


def run_fix(host, ids: Sequence[str], *, check: Callable, options: Optional[dict] = None,
            dry_run: bool = False, yes: bool = False, interactive: Optional[bool] = None,
            confirm: Optional[Callable[[str], bool]] = None, argv: Sequence[str] = (),
            out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Plan, confirm, apply and verify the fixes `ids`. Returns the exit code."""
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
        errors = [by_id[r] for r in spec.rules if r in by_id and by_id[r].status == Status.ERROR]
        if errors:
            refused.append(f"--{spec.id}: a check could not run ({errors[0].id}: "
                           f"{errors[0].summary}); not fixing blind")
            continue
        findings = [by_id[r] for r in spec.rules if r in by_id
                    and by_id[r].status in (Status.WARN, Status.FAIL) and by_id[r].fix == spec.id]
        ran = [by_id[r] for r in spec.rules if r in by_id]
        if not findings and ran and all(r.status == Status.SKIPPED and r.skip_reason ==
                                        SkipReason.NOT_ROOT.value for r in ran):
            refused.append(f"--{spec.id}: its checks did not run ({ran[0].id}: "
                           f"{ran[0].summary}), so there is nothing safe to plan")
            continue
        if not findings:
            out(f"--{spec.id}: nothing to do")
            continue
        try:
            actions = list(spec.planner(ctx, findings) or [])
        except RefuseFix as exc:
            refused.append(f"--{spec.id}: {exc}")
            continue
        bad = [a for a in actions if not isinstance(a, ACTION_TYPES)]
        if bad:
            refused.append(f"--{spec.id}: the planner returned {type(bad[0]).__name__}, "
                           f"not an action")
            continue
        if actions:
            plans.append((spec, actions))
        else:
            out(f"--{spec.id}: nothing to do")
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
    if not yes:
        if interactive is None:
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if not interactive:
            err("not confirmed: no terminal to ask on; re-run with --yes to apply this plan")
            return EXIT_NOT_CONFIRMED
        if confirm is None or not confirm("Apply this plan?"):
            err("not confirmed: nothing was changed")
            return EXIT_NOT_CONFIRMED
    lock = Lock(lock_path(host))
    try:
        if not lock.acquire():
            err(f"another azbdiag fix or undo is running (lock {lock.path}); try again later")
            return EXIT_CANNOT_RUN
    except OSError as exc:
        err(f"cannot take the fixer lock {lock.path}: {exc.strerror or exc}")
        return EXIT_CANNOT_RUN
    try:
        return _apply_and_verify(host, plans, refused, rule_ids, before, check, options,
                                 argv, out, err)
    finally:
        lock.release()


def _apply_and_verify(host, plans, refused, rule_ids, before, check, options, argv, out, err):
    from azbdiag.facts import backup_in_progress

    running = backup_in_progress(host)
    if running:
        err("refusing to change anything while a backup snapshot is running: " + "; ".join(running))
        return EXIT_CANNOT_RUN
    journal = Journal.create(host, {
        "timestamp": _now(), "argv": list(argv), "root": host.root, "live": host.live,
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
                rec = apply_action(host, action, journal.backups, n)
            except OSError as exc:
                rec = {"n": n, "kind": action.kind, "describe": action.describe(),
                       "why": action.why, "reversible": action.reversible, "outcome": "failed",
                       "error": f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename
                                                            else "")}
            rec["fix"] = spec.id
            rec["finished"] = _now()
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


# ---- undo --------------------------------------------------------------------------------

def run_undo(host, run_id: Optional[str], *, dry_run: bool = False, yes: bool = False,
             interactive: Optional[bool] = None, confirm: Optional[Callable[[str], bool]] = None,
             out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    runs = list_runs(host)
    if run_id is None:
        candidates = []
        for r in reversed(runs):
            try:
                if Journal.load(host, r).data.get("status") in ("applied", "failed", "applying",
                                                                "undo-failed"):
                    candidates.append(r)
                    break
            except (OSError, ValueError):
                continue
        if not candidates:
            err(f"no fix run to undo in {journal_root(host)}")
            return EXIT_CANNOT_RUN
        run_id = candidates[0]
    if "/" in run_id or run_id.startswith(".") or run_id not in runs:
        err(f"no fix run {run_id!r} in {journal_root(host)}")
        return EXIT_CANNOT_RUN
    try:
        journal = Journal.load(host, run_id)
    except (OSError, ValueError) as exc:
        err(f"cannot read the journal of {run_id}: {exc}")
        return EXIT_CANNOT_RUN
    if journal.data.get("status") == "undone":
        err(f"run {run_id} was already undone")
        return EXIT_CANNOT_RUN
    earlier = journal.data.get("undo") if isinstance(journal.data.get("undo"), list) else []
    reverted = {e.get("n") for e in earlier if isinstance(e, dict) and e.get("outcome") == "ok"}
    done = [r for r in journal.data["actions"] if isinstance(r, dict) and r.get("outcome") == "ok"
            and r.get("n") not in reverted]
    if not done:
        out(f"run {run_id}: no applied step to undo")
        return EXIT_OK
    out(f"Undo run {run_id} ({journal.data.get('timestamp', '?')}), in reverse order:")
    for rec in reversed(done):
        mark = "" if rec.get("reversible") else "   [cannot be undone: left as it is]"
        out(f"  {rec['n']}. {rec.get('describe', rec['kind'])}{mark}")
    if dry_run:
        out("Dry run: nothing was changed.")
        return EXIT_OK
    if not yes:
        if interactive is None:
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if not interactive:
            err("not confirmed: no terminal to ask on; re-run with --yes to undo")
            return EXIT_NOT_CONFIRMED
        if confirm is None or not confirm("Undo these steps?"):
            err("not confirmed: nothing was changed")
            return EXIT_NOT_CONFIRMED
    lock = Lock(lock_path(host))
    try:
        if not lock.acquire():
            err(f"another azbdiag fix or undo is running (lock {lock.path}); try again later")
            return EXIT_CANNOT_RUN
    except OSError as exc:
        err(f"cannot take the fixer lock {lock.path}: {exc.strerror or exc}")
        return EXIT_CANNOT_RUN
    problems = 0
    log = []
    try:
        for rec in reversed(done):
            try:
                what = undo_record(host, rec, journal.backups)
                outcome = "ok"
            except (OSError, KeyError, TypeError, ValueError) as exc:
                what = f"FAILED ({getattr(exc, 'strerror', None) or exc})"
                outcome = "failed"
                problems += 1
            log.append({"n": rec["n"], "outcome": outcome, "what": what, "at": _now()})
            out(f"  {rec['n']}. {what}")
        journal.data["undo"] = earlier + log
        journal.data["status"] = "undone" if not problems else "undo-failed"
        journal.save()
    finally:
        lock.release()
    if problems:
        err(f"{problems} step(s) could not be undone; see {journal.dir}/journal.json")
        return EXIT_FINDINGS
    return EXIT_OK
