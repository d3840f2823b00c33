"""What a rule module needs to offer a fix: the `@fix` decorator, `RefuseFix` and the actions.

A fix is a planner registered with ``@fix(...)`` next to the rules it repairs. The planner gets
the check context and the warn/fail results of its rules and returns a list of actions (or
raises RefuseFix). The rest of the package does the work, the same way for every fix:

- files.py    the one write primitive, the walk below a root that never follows a symlink,
              capture and restore of one file
- journal.py  the journal of fix runs (on this machine, keyed by root), the lock, the question
- records.py  what a journal record may hold, checked before use; descriptions rebuilt from it
- steps.py    apply, settle (after an interruption) and undo one file or command step
- mounts.py   a file system repair: unmount, check, mount again, and mount back on failure
- offline_fs.py a rescue VM's repair of an OS disk (--root/--disk): the plan, nested mounts' order
- recover.py  find interrupted runs and finish them; the findings `check` reports
- run.py      `azbdiag fix`: lock, plan, confirm, journal each step before it acts, re-check
- undo.py     `azbdiag undo`: revert a run's steps, newest first, each only if still as the
              fix left it

Paths in actions are guest paths, mapped through ``host.path()`` so that ``--root`` works. Fix
ids come from this registry: `azbdiag fix --<id>` is the planner registered here as `<id>`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple

from azbdiag import lazyre

_FIX_ID = lazyre.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


class RefuseFix(Exception):
    """Raised by a planner: this fix must not be applied now (the message says why)."""


@dataclasses.dataclass(frozen=True)
class FixSpec:
    """A registered `azbdiag fix --<id>`: the rules whose results it fixes, its order and planner."""
    id: str
    title: str
    rules: Tuple[str, ...]
    order: int
    live_only: bool
    planner: Callable


FIXES: Dict[str, FixSpec] = {}


def fix(id: str, title: str, rules: Sequence[str] = (), order: int = 50, live_only: bool = False):
    """Register the planner of `azbdiag fix --<id>` for the warn/fail results of `rules`.

    `order` sorts the fixes of one run (lower first); `live_only` refuses an offline --root."""

    def wrap(func: Callable) -> Callable:
        if not _FIX_ID.fullmatch(id):
            raise ValueError(f"fix id {id!r} is not a command line flag (lower-case words and -)")
        if id in FIXES and FIXES[id].planner.__qualname__ != func.__qualname__:
            raise ValueError(f"duplicate fix id {id!r}")
        FIXES[id] = FixSpec(id, title, tuple(rules), order, live_only, func)
        func.fix_id = id
        return func

    return wrap


def registered_fixes() -> Dict[str, FixSpec]:
    """Every registered fix by id (the rule modules, where the planners live, are loaded)."""
    from azbdiag import engine

    engine.load_rules()
    return FIXES


# ---- actions -----------------------------------------------------------------------------

@dataclasses.dataclass
class WriteFile:
    """Plan action: write `content` as the guest file `path` (created or replaced), with `mode` if set."""
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
    """Plan action: delete the guest file `path`."""
    path: str
    why: str = ""
    kind = "delete"
    reversible = True

    def describe(self) -> str:
        return f"delete {self.path}"


@dataclasses.dataclass
class Chmod:
    """Plan action: set the permission bits of the guest file `path` to `mode`."""
    path: str
    mode: int
    why: str = ""
    kind = "chmod"
    reversible = True

    def describe(self) -> str:
        return f"chmod {self.mode:04o} {self.path}"


@dataclasses.dataclass
class Chown:
    """Plan action: give the guest file `path` to owner `uid` and group `gid`."""
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
    """Plan action: make the guest path `path` a symlink to `target`."""
    path: str
    target: str
    why: str = ""
    kind = "symlink"
    reversible = True

    def describe(self) -> str:
        return f"symlink {self.path} -> {self.target}"


@dataclasses.dataclass
class RepairFilesystem:
    """Unmount the file system at `point`, check and repair it, and mount it again
    (azbdiag/fix/mounts.py does the steps, and mounts it back, read-only if it must, when
    anything fails or azbdiag is stopped half-way). `device` is the kernel's device,
    `source` the mount's source as mountinfo shows it, `options` the options to mount it with
    again, `fstab` whether /etc/fstab mounts it (then `mount POINT` is used)."""
    point: str
    fstype: str
    device: str
    source: str
    options: str
    fstab: bool = False
    why: str = ""
    # A rescue VM's repair of an attached OS disk (--root/--disk, fix/offline_fs.py): the
    # commands act on this machine's block devices, which is the point; `roles` then says which
    # steps the group has (records.ROLES; () is the live default), `was_mounted` False means the
    # file system was not mounted before (--disk: checked and repaired only, never mounted).
    offline: bool = False
    roles: Tuple[str, ...] = ()
    was_mounted: bool = True
    kind = "fsrepair"
    reversible = False

    def describe(self) -> str:
        return f"check and repair {self.fstype} {self.device} mounted at {self.point}"


@dataclasses.dataclass
class RunCommand:
    """Plan action: run `argv` (with a timeout in seconds); reversible only with an `undo_argv`."""
    argv: Sequence[str]
    why: str = ""
    # How `undo` reverts it; only forms azbdiag can rebuild are accepted (systemctl with the
    # opposite verb, chcon -h back to a label: azbdiag/fix/records.py), else the plan is refused.
    undo_argv: Optional[Sequence[str]] = None
    timeout: float = 60.0
    ok_codes: Sequence[int] = (0,)     # exit codes that count as success (e2fsck: 0 and 1)
    kind = "run"

    @property
    def reversible(self) -> bool:
        return self.undo_argv is not None

    def describe(self) -> str:
        return "run: " + shell_words(self.argv)


ACTION_TYPES = (WriteFile, DeleteFile, Chmod, Chown, Symlink, RunCommand, RepairFilesystem)


def shell_words(argv: Sequence[str]) -> str:
    """`argv` as one shell-quoted line, for plans and journals."""
    import shlex

    return " ".join(shlex.quote(str(a)) for a in argv)
