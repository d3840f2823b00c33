"""The journal of fix runs, the one lock, and the gate every change passes: confirm, then lock.

A run's journal is `<state dir>/journal/<run id>/journal.json` with the backups next to it in
`backups/`; the state directory is azbdiag/state.py's (the same for the journal, the last report
and the AZBDIAG_STATE_DIR override). The lock is /run/azbdiag/fix.lock on the live system, and
in the state directory for an offline --root or an overridden state directory.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import sys
from typing import Callable, List, Optional

from azbdiag import state
from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_NOT_CONFIRMED
from azbdiag.fix.files import atomic_write

LIVE_LOCK = "/run/azbdiag/fix.lock"


def lock_path(host) -> str:
    if os.environ.get(state.STATE_ENV) or not host.live:
        return os.path.join(state.state_dir(host), "fix.lock")
    return LIVE_LOCK


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


def confirm_and_lock(host, body: Callable[[], int], *, question: str, purpose: str, yes: bool,
                     interactive: Optional[bool], confirm: Optional[Callable[[str], bool]],
                     err: Callable[[str], None]) -> int:
    """Ask `question` (unless `yes`), take the fixer lock, run `body` and return its exit code;
    or return 4 when not confirmed and 3 when the lock is taken, without running `body`.
    `purpose` completes "re-run with --yes to ..." when there is no terminal to ask on."""
    if not yes:
        if interactive is None:
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if not interactive:
            err(f"not confirmed: no terminal to ask on; re-run with --yes to {purpose}")
            return EXIT_NOT_CONFIRMED
        if confirm is None or not confirm(question):
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
        return body()
    finally:
        lock.release()


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Journal:
    def __init__(self, directory: str, data: dict):
        self.dir = directory
        self.data = data
        self.backups = os.path.join(directory, "backups")

    @classmethod
    def create(cls, host, data: dict) -> Journal:
        root = state.journal_dir(host)
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
        directory = os.path.join(state.journal_dir(host), run_id)
        with open(os.path.join(directory, "journal.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or not isinstance(data.get("actions"), list):
            raise ValueError("not an azbdiag journal")
        return cls(directory, data)

    def save(self) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=False).encode("utf-8") + b"\n"
        atomic_write(os.path.join(self.dir, "journal.json"), text, 0o600)


def list_runs(host) -> List[str]:
    """The run ids in the journal, oldest first."""
    root = state.journal_dir(host)
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "journal.json")))
