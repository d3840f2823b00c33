"""The journal of fix runs, the one fixer lock, and the confirmation.

Where: `<state dir>/journal/<run id>/journal.json`, the byte copies in `backups/` next to it
(state dir: azbdiag/state.py, /var/lib/azbdiag, 0700). Always on the machine that ran the fix,
also for `--root` runs: each journal records the identity of the root it was made for
(`root_identity`: the file system's UUID or device, and the inode of the root folder), and
`fix`, `undo` and `check` only read the journals of the root they are given. A journal found on
a disk is never read. The state folder, the journal folder, each run folder and each
journal.json must belong to this user (or root) and be writable by nobody else; else they are
not trusted and nothing is replayed from them.

Reading is bounded: a journal.json larger than 4 MiB, nested deeper than 32 levels, or with a
field azbdiag does not write (azbdiag/fix/records.py checks every field) is "unreadable", with
one line saying why, never an internal error.

The journal is a write-ahead log: `run.py` records every step as `pending`, with the state of
what it changes, before acting, and as `ok` or `failed` after. A 1 MiB `reserve` file in each
run folder is given up when the disk is full, so that the journal can still say what happened.

The lock is /run/azbdiag/fix.lock (in the state directory when AZBDIAG_STATE_DIR is set): one
fix or undo at a time on this machine, whatever the root. It is taken before the checks run
and held until the run ends, the confirmation included.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import sys
from typing import Callable, List, Optional, Tuple

from azbdiag import lazyre, state
from azbdiag.bounded_read import read_fd
from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_NOT_CONFIRMED
from azbdiag.fix import files as F
from azbdiag.fix import records
from azbdiag.fix.files import make_private_dir, open_existing, open_local_dir
from azbdiag.fix.offline_fs import left_unmounted_at as _offline

LIVE_LOCK = "/run/azbdiag/fix.lock"
FORMAT = 2
MAX_JOURNAL_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_RUNS = 1000                 # the newest runs considered in a journal folder
RESERVE_BYTES = 1024 * 1024
RUN_ID = lazyre.compile(r"[0-9]{8}T[0-9]{6}Z(-[0-9]{1,3})?")
STATUSES = ("applying", "applied", "failed", "interrupted", "undoing", "undone", "undo-failed",
            "undo-interrupted")
OPEN_STATUSES = ("applying", "undoing")     # with no fixer holding the lock: interrupted
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class JournalError(Exception):
    """The journal cannot be used: one line saying why (not an OSError on purpose)."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


# ---- the lock and the confirmation -------------------------------------------------------

def lock_path(host=None) -> str:
    if os.environ.get(state.STATE_ENV):
        return os.path.join(state.state_dir(), "fix.lock")
    return LIVE_LOCK


class Lock:
    """One fixer at a time: an exclusive flock on a lock file in a private folder."""

    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        folder = os.path.dirname(self.path)
        make_private_dir(folder)
        dfd = open_local_dir(folder, follow_last=False)
        try:
            why = state.untrusted_reason(os.fstat(dfd))
            if why:
                raise OSError(errno.EPERM, f"{folder} is not private: {why}")
            fd = os.open(os.path.basename(self.path),
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        finally:
            os.close(dfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:        # the pid is for people; a full disk must not stop the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lock_holder(path: Optional[str] = None) -> Optional[str]:
    """The pid written in the lock file when a fixer holds the lock now, else None."""
    path = path or lock_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return (os.read(fd, 32).decode("ascii", "replace").strip() or "?")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def with_lock(body: Callable[[], int], err: Callable[[str], None]) -> int:
    """Take the fixer lock, run `body` and return its exit code; 3 when the lock is taken."""
    lock = Lock(lock_path())
    try:
        if not lock.acquire():
            err(f"another azbdiag fix or undo is running (lock {lock.path}); try again later")
            return EXIT_CANNOT_RUN
    except OSError as exc:
        err(f"cannot take the fixer lock {lock.path}: {_why(exc)}")
        return EXIT_CANNOT_RUN
    try:
        return body()
    finally:
        lock.release()


def ask(question: str, *, purpose: str, yes: bool, interactive: Optional[bool],
        confirm: Optional[Callable[[str], bool]], err: Callable[[str], None]) -> Optional[int]:
    """None when confirmed (or `yes`), else exit code 4 after one line saying why."""
    if yes:
        return None
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not interactive:
        err(f"not confirmed: no terminal to ask on; re-run with --yes to {purpose}")
        return EXIT_NOT_CONFIRMED
    if confirm is None or not confirm(question):
        err("not confirmed: nothing was changed")
        return EXIT_NOT_CONFIRMED
    return None


# ---- the root a journal belongs to -------------------------------------------------------

def _fs_uuid(dev: int) -> Optional[str]:
    """The file system UUID of block device `dev`, from udev's /dev/disk/by-uuid (this
    machine's view, read without running anything); None when unknown."""
    base = "/dev/disk/by-uuid"
    try:
        names = os.listdir(base)
    except OSError:
        return None
    for name in names[:4096]:
        try:
            if os.stat(os.path.join(base, name)).st_rdev == dev:
                return name
        except OSError:
            continue
    return None


def root_identity(host) -> dict:
    """What ties a journal to the root it was made for: the live system, or the file system
    of the mounted disk (UUID when udev knows it, else its device) and the root folder's
    inode. The path is recorded for people; a disk mounted elsewhere later is the same."""
    if host.live and host.root == "/":
        return {"live": True, "path": "/"}
    st = os.stat(host.root)
    return {"live": False, "path": host.root, "fs_uuid": _fs_uuid(st.st_dev),
            "dev": f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", "ino": st.st_ino}


def same_root(a: dict, b: dict) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    if a.get("live") or b.get("live"):
        return bool(a.get("live")) and bool(b.get("live"))
    if a.get("ino") != b.get("ino") or not isinstance(a.get("ino"), int):
        return False
    if a.get("fs_uuid") and b.get("fs_uuid"):
        return a["fs_uuid"] == b["fs_uuid"]
    return isinstance(a.get("dev"), str) and a.get("dev") == b.get("dev")


# ---- bounded JSON ------------------------------------------------------------------------

def json_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of JSON text `raw`, counted without parsing; stops past `limit`."""
    depth = deepest = 0
    in_str = esc = False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_journal(raw: bytes, run_id: str) -> dict:
    """The checked content of a journal.json; JournalError with the reason otherwise."""
    if len(raw) > MAX_JOURNAL_BYTES:
        raise JournalError(f"larger than {MAX_JOURNAL_BYTES // (1024 * 1024)} MiB")
    if json_depth(raw) > MAX_DEPTH:
        raise JournalError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise JournalError(f"not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(data, dict):
        raise JournalError("not an azbdiag journal")
    if data.get("format") != FORMAT:
        raise JournalError(f"journal format {str(data.get('format'))[:20]!r} is not the one "
                           f"this azbdiag writes ({FORMAT}); not replayed")
    try:
        if data.get("run_id") != run_id:
            raise records.BadRecord("run id")
        if data.get("status") not in STATUSES:
            raise records.BadRecord("status")
        if not isinstance(data.get("root"), dict):
            raise records.BadRecord("root")
        fixes = data.get("fixes")
        if not isinstance(fixes, list) or not all(isinstance(f, str) and len(f) < 64
                                                  for f in fixes):
            raise records.BadRecord("fixes")
        mounts = data.get("mounts", [])
        if not isinstance(mounts, list) or len(mounts) > 256:
            raise records.BadRecord("mounts")
        for i, m in enumerate(mounts):
            records.check_mount(m, i)
        actions = data.get("actions")
        if not isinstance(actions, list) or len(actions) > 10000:
            raise records.BadRecord("steps")
        for i, rec in enumerate(actions, 1):
            records.check_record(rec, i, mounts)
    except records.BadRecord as exc:
        raise JournalError(f"unexpected content ({exc})") from None
    data.setdefault("mounts", [])
    return data


# ---- the journal folder ------------------------------------------------------------------

def _open_trusted(path: str, create: bool) -> int:
    """A descriptor of the private folder `path` (created 0700 when `create`)."""
    if create:
        make_private_dir(path)
    fd = open_local_dir(path, follow_last=False)
    why = state.untrusted_reason(os.fstat(fd))
    if why:
        os.close(fd)
        raise JournalError(f"{path} is not trusted: {why}; nothing in it is replayed "
                           f"(make it root's, mode 0700)")
    return fd


def open_journal_dir(create: bool = False) -> Optional[int]:
    """A descriptor of the journal folder; None when it does not exist (and not `create`).
    JournalError when it cannot be used (not a folder, unreadable, not private)."""
    top, path = state.state_dir(), state.journal_dir()
    try:
        if not create:
            try:
                os.lstat(path)      # not lexists(): "permission denied" is not "absent"
            except FileNotFoundError:
                return None
        sfd = _open_trusted(top, create)
        os.close(sfd)
        return _open_trusted(path, create)
    except JournalError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.EEXIST):
            raise JournalError(f"the journal {path} is not a folder") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise JournalError(f"cannot read the journal {path}: permission denied "
                               f"(fix journals are root's: run with sudo)") from None
        raise JournalError(f"cannot use the journal {path}: {_why(exc)}") from None


class Journal:
    """One run's folder: journal.json, backups/ and the reserve, reached through descriptors."""

    def __init__(self, dirfd: int, run_id: str, data: dict):
        self.dirfd = dirfd
        self.run_id = run_id
        self.data = data
        self.dir = os.path.join(state.journal_dir(), run_id)
        self._backups: Optional[int] = None

    @property
    def backups_fd(self) -> int:
        if self._backups is None:
            self._backups = os.open("backups", _DIR, dir_fd=self.dirfd)
        return self._backups

    def close(self) -> None:
        for fd in (self._backups, self.dirfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._backups = None
        self.dirfd = -1

    @classmethod
    def create(cls, host, data: dict) -> Journal:
        """A new run folder with its first journal.json (raises JournalError or OSError)."""
        top = open_journal_dir(create=True)
        try:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            for i in range(1000):
                run_id = stamp if i == 0 else f"{stamp}-{i}"
                try:
                    os.mkdir(run_id, 0o700, dir_fd=top)
                    break
                except FileExistsError:
                    continue
            else:
                raise OSError(errno.EEXIST, "cannot create a journal folder", state.journal_dir())
            dirfd = os.open(run_id, _DIR, dir_fd=top)
        finally:
            os.close(top)
        os.fchmod(dirfd, 0o700)
        journal = cls(dirfd, run_id, dict(data, format=FORMAT, run_id=run_id,
                                          root=root_identity(host)))
        try:
            os.mkdir("backups", 0o700, dir_fd=dirfd)
            os.fchmod(journal.backups_fd, 0o700)
            _reserve(dirfd)
            journal.save()
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def load(cls, run_id: str, top: Optional[int] = None) -> Journal:
        """The checked journal of run `run_id` (JournalError when it cannot be trusted)."""
        if not RUN_ID.fullmatch(run_id or ""):
            raise JournalError(f"{run_id!r} is not a run id")
        own = top is None
        if own:
            top = open_journal_dir()
            if top is None:
                raise JournalError(f"no fix run {run_id} in {state.journal_dir()}")
        try:
            try:
                dirfd = os.open(run_id, _DIR, dir_fd=top)
            except FileNotFoundError:
                raise JournalError(f"no fix run {run_id} in {state.journal_dir()}") from None
            except OSError as exc:
                raise JournalError(f"{run_id}: not a run folder ({_why(exc)})") from None
        finally:
            if own:
                os.close(top)
        try:
            why = state.untrusted_reason(os.fstat(dirfd))
            if why:
                raise JournalError(f"{run_id}: its folder is not trusted: {why}")
            try:
                with open_existing(dirfd, "journal.json", kinds=("file",)) as (fd, st):
                    why = state.untrusted_reason(st)
                    if why:
                        raise JournalError(f"{run_id}: journal.json is not trusted: {why}")
                    if st.st_size > MAX_JOURNAL_BYTES:
                        raise JournalError(f"{run_id}: journal.json is larger than 4 MiB")
                    raw = read_fd(fd, MAX_JOURNAL_BYTES + 1)
            except FileNotFoundError:
                raise JournalError(f"{run_id}: no journal.json") from None
            except OSError as exc:
                raise JournalError(f"{run_id}: journal.json: {_why(exc)}") from None
            try:
                data = parse_journal(raw, run_id)
            except JournalError as exc:
                raise JournalError(f"{run_id}: {exc}") from None
        except BaseException:
            os.close(dirfd)
            raise
        return cls(dirfd, run_id, data)

    def save(self) -> None:
        """Write journal.json (synced). When the disk is full, the reserve is given up first."""
        text = json.dumps(self.data, indent=1).encode("utf-8") + b"\n"
        try:
            F.write_at(self.dirfd, "journal.json", text, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            try:
                os.unlink("reserve", dir_fd=self.dirfd)
            except OSError:
                raise exc from None
            F.write_at(self.dirfd, "journal.json", text, 0o600)

    def belongs_to(self, host) -> bool:     # or a killed rescue repair's (offline_fs.py)
        return same_root(self.data.get("root"), root_identity(host)) or _offline(self.data, host)


def _reserve(dirfd: int) -> None:
    """Room for the journal's last words on a full disk (best effort)."""
    try:
        fd = os.open("reserve", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
    except OSError:
        return
    try:
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except (OSError, AttributeError):
            os.write(fd, b"\0" * RESERVE_BYTES)
    except OSError:
        pass
    finally:
        os.close(fd)


def run_ids() -> List[str]:
    """Every run id in the journal folder, oldest first (JournalError when unusable)."""
    top = open_journal_dir()
    if top is None:
        return []
    try:
        names = os.listdir(top)
    except OSError as exc:
        raise JournalError(f"cannot read the journal {state.journal_dir()}: {_why(exc)}") from None
    finally:
        os.close(top)
    return sorted(n for n in names if RUN_ID.fullmatch(n))[-MAX_RUNS:]


def runs_of(host) -> List[Tuple[str, Optional[dict], Optional[str]]]:
    """(run id, journal data or None, why it is unreadable) for the runs of this root, oldest
    first. Unreadable runs are listed whatever their root (it cannot be told)."""
    out = []
    for run_id in run_ids():
        try:
            journal = Journal.load(run_id)
        except JournalError as exc:
            out.append((run_id, None, str(exc)))
            continue
        try:
            if journal.belongs_to(host):
                out.append((run_id, journal.data, None))
        finally:
            journal.close()
    return out


def list_runs(host) -> List[str]:
    """The ids of this root's readable runs, oldest first ([] when the journal is unusable)."""
    try:
        return [r for r, data, _why in runs_of(host) if data is not None]
    except JournalError:
        return []
