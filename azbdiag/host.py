"""The one seam between azbdiag and the machine it inspects.

A Host reads files relative to a root path (``/`` live, a mounted OS disk offline) and runs
commands through one runner. Rules and facts reach the machine only through it.

Everything under the root is data, and the disk may be damaged or crafted, so every read goes
through one safe walk (``Host._walk``):

- the path is resolved one component at a time from a descriptor of the root: each component
  is looked at with ``fstatat(AT_SYMLINK_NOFOLLOW)`` and opened with ``O_NOFOLLOW`` relative to
  its parent, so an absolute symlink restarts at the root, ``..`` stops at the root and nothing
  is ever followed out of it; links are bounded (40 hops, like the kernel);
- only regular files are read, opened with ``O_NONBLOCK|O_NOCTTY`` and checked again with
  ``fstat`` after opening: a FIFO, device node or socket is refused, never opened;
- reads are bounded in size (``limit``) and in line length (``MAX_LINE``), listings in entries.

Missing is not the same as unreadable. The answering calls (``exists``, ``isfile``, ``isdir``,
``islink``, ``listdir``, ``glob``, ``try_read_text``, ``which``...) say "absent" (False, [],
None) only when the path does not exist (ENOENT, ENOTDIR). When permission is denied, a file
is refused or the walk fails otherwise, they raise ``Unreadable``, which is deliberately not an
OSError: code written to treat OSError as "absent" does not swallow it, and the engine reports
the rule as skipped ("not root: cannot read X") or as an error, never ok or fail. The calls that
already raise (``read_bytes``, ``stat``, ``readlink``...) keep raising OSError for errno
failures, and raise ``Unreadable`` for a refused file type.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
import threading
from typing import TYPE_CHECKING, Iterator, List, Optional, Tuple

from azbdiag import lazyre
from azbdiag.bounded_read import read_fd
from azbdiag.runner import (
    DEFAULT_TIMEOUT,
    Cancelled,
    CommandResult,
    CommandsDeferred,
    ShRunner,
    current_budget,
)
from azbdiag.snapshot import Snapshot, matching

if TYPE_CHECKING:
    from azbdiag.host_facts import HostFacts

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
MAX_READ = 8 * 1024 * 1024
# Longer lines are cut here: a 20 MB line must not reach a parser, a report or a host name.
MAX_LINE = 256 * 1024
MAX_ENTRIES = 65536          # a directory with more entries is refused, not half-listed
MAX_PATH = 4096              # PATH_MAX, for the path asked and each symlink's target
_MAX_LINK_HOPS = 40          # as the kernel (ELOOP)
_MAX_STEPS = 4096            # components walked in all, links expanded
FACTS_TIMEOUT = 5.0          # host facts (os-release, hostname, arch) are read within this

_O_PATH = getattr(os, "O_PATH", 0)
# Directories on the way: O_PATH needs no read permission and opens nothing that blocks.
_DIR_FLAGS = (_O_PATH or (os.O_RDONLY | os.O_NONBLOCK)) | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_ABSENT = (errno.ENOENT, errno.ENOTDIR)
_DENIED = (errno.EACCES, errno.EPERM)
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.E2BIG, errno.ERANGE)
_LIVE_PROC_PID = lazyre.compile(r"^/+proc/+\d+(/|$)")


class HostError(Exception):
    """azbdiag cannot work on this host at all (for example a bad --root)."""


class Unreadable(Exception):
    """A path whose answer cannot be known: permission denied, a file type azbdiag refuses to
    read (FIFO, device, socket, directory), a symlink loop, too many entries. Not an OSError
    on purpose (see the module docstring); ``denied`` says it is a permission problem."""

    def __init__(self, path: str, reason: str, denied: bool = False):
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason
        self.denied = denied


def _kind(mode: int) -> str:
    for test, name in ((stat_mod.S_ISFIFO, "a FIFO"), (stat_mod.S_ISCHR, "a character device"),
                       (stat_mod.S_ISBLK, "a block device"), (stat_mod.S_ISSOCK, "a socket"),
                       (stat_mod.S_ISDIR, "a directory"), (stat_mod.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def _identity(st: os.stat_result) -> Tuple[int, int]:
    return st.st_dev, st.st_ino


def bound_lines(text: str, max_line: int = MAX_LINE) -> str:
    """`text` with every line longer than `max_line` characters cut to that length."""
    if len(text) <= max_line:
        return text
    lines = text.split("\n")
    if all(len(line) <= max_line for line in lines):
        return text
    return "\n".join(line[:max_line] for line in lines)


class Host:
    def __init__(self, root: str = "/", runner=None, is_root: Optional[bool] = None,
                 azure: Optional[bool] = None, live: Optional[bool] = None):
        if not root:
            raise HostError("--root must not be empty")
        root = os.path.abspath(root)
        if not os.path.isdir(root):
            raise HostError(f"root {root!r} is not a directory")
        self.root = root
        self.live = (root == "/") if live is None else live
        self.runner = runner if runner is not None else ShRunner()
        self._is_root = is_root
        self._azure = azure
        self._facts: Optional[HostFacts] = None
        self._facts_lock = threading.Lock()
        self._snapshot: Optional[Snapshot] = None

    def snapshot(self, on: bool) -> None:
        """While on (the engine runs the rules), each directory is listed and each check
        command run once (azbdiag/snapshot.py); off drops what was kept."""
        self._snapshot = Snapshot() if on else None

    # ---- the walk ----------------------------------------------------------------------
    def _walk(self, p: str, follow: bool):
        """Resolve guest path `p` inside the root. Returns (fd, names, last, st): an open
        descriptor of the directory holding the last component (the caller closes it, see
        _at), the real names of that directory below the root, the last name ("." for that
        directory itself) and its lstat. Raises OSError as the kernel would (ENOENT, ENOTDIR,
        EACCES, ELOOP, ENAMETOOLONG). At most two descriptors are open at a time; `..` goes to
        the directory the walk came through (checked by device and inode) and never above
        the root."""
        budget = current_budget()
        if budget is not None and budget.cancelled:
            raise Cancelled()
        if len(p) > MAX_PATH:
            raise OSError(errno.ENAMETOOLONG, "File name too long", p)
        parts = [x for x in p.split("/") if x and x != "."]
        parts.reverse()                      # a stack: the next component is parts[-1]
        names: List[str] = []
        cur = self._open_dirs(names, p)
        ids = [_identity(os.fstat(cur))]     # (st_dev, st_ino) of root/names[:i]
        hops = steps = 0
        try:
            while parts:
                steps += 1
                if steps > _MAX_STEPS:
                    raise OSError(errno.ELOOP, "Too many levels of symbolic links", p)
                name = parts.pop()
                if name == "..":
                    if names:
                        names.pop()
                        ids.pop()
                        fd = self._parent(cur, ids[-1], names, p)
                        os.close(cur)
                        cur = fd
                    continue
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                last = not parts
                if stat_mod.S_ISLNK(st.st_mode) and (follow or not last):
                    hops += 1
                    if hops > _MAX_LINK_HOPS:
                        raise OSError(errno.ELOOP, "Too many levels of symbolic links", p)
                    target = os.readlink(name, dir_fd=cur)
                    if len(target) > MAX_PATH:
                        raise OSError(errno.ENAMETOOLONG, "File name too long", p)
                    if target.startswith("/") and names:   # from the root, not from /
                        names, ids = [], ids[:1]
                        fd = self._open_dirs(names, p)
                        os.close(cur)
                        cur = fd
                    parts.extend(reversed([x for x in target.split("/") if x and x != "."]))
                    continue
                if last:
                    return cur, names, name, st
                fd = self._open_dir(cur, name, st, p)
                os.close(cur)
                cur = fd
                names.append(name)
                ids.append(_identity(st))
            return cur, names, ".", os.fstat(cur)
        except BaseException:
            os.close(cur)
            raise

    def _open_dir(self, parent: int, name: str, st: os.stat_result, p: str) -> int:
        """Open directory `name` of `parent` whose lstat is `st`, checking it is still it."""
        if not stat_mod.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, "Not a directory", p)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        now = os.fstat(fd)
        if not stat_mod.S_ISDIR(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise OSError(errno.ENOTDIR, "changed while azbdiag looked at it", p)
        return fd

    def _parent(self, cur: int, expected: Tuple[int, int], names: List[str], p: str) -> int:
        """The directory above `cur`, which must be the one the walk came through (it is
        root/names); when it is not (moved meanwhile, a mount), walk again from the root."""
        try:
            fd = os.open("..", _DIR_FLAGS, dir_fd=cur)
        except OSError:
            return self._open_dirs(names, p)
        if _identity(os.fstat(fd)) == expected:
            return fd
        os.close(fd)
        return self._open_dirs(names, p)

    def _open_dirs(self, names: List[str], p: str) -> int:
        """A descriptor of root/names..., every name a real directory (no symlink)."""
        # The root itself is the admin's choice: opened as given (symlinks followed).
        cur = os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            for name in names:
                fd = self._open_dir(cur, name, os.stat(name, dir_fd=cur, follow_symlinks=False), p)
                os.close(cur)
                cur = fd
        except BaseException:
            os.close(cur)
            raise
        return cur

    @contextlib.contextmanager
    def _at(self, p: str, follow: bool = True) -> Iterator[Tuple[int, str, os.stat_result, str]]:
        """(descriptor of the parent directory, last name, its lstat, its real path)."""
        fd, names, last, st = self._walk(p, follow)
        try:
            yield fd, last, st, os.path.join(self.root, *names, last if last != "." else "")
        finally:
            os.close(fd)

    def _hidden(self, p: str, exc: OSError) -> bool:
        """Live, the kernel hides parts of other users' processes (/proc/<pid>/environ, fd,
        cwd...) and processes vanish while we look: that is "not there" for the rules that
        walk /proc, which judge without them."""
        return (self.live and bool(_LIVE_PROC_PID.match(p))
                and exc.errno in _DENIED + (errno.ESRCH, errno.EINVAL))

    def _unreadable(self, p: str, exc: OSError) -> Unreadable:
        if exc.errno in _DENIED:
            return Unreadable(p, "permission denied", denied=True)
        return Unreadable(p, os.strerror(exc.errno) if exc.errno else str(exc))

    def _lookup(self, p: str, follow: bool = True) -> Optional[os.stat_result]:
        """(l)stat of `p`; None when it does not exist; Unreadable when that cannot be told."""
        try:
            with self._at(p, follow) as (_fd, _name, st, _real):
                return st
        except OSError as exc:
            if exc.errno in _ABSENT or self._hidden(p, exc):
                return None
            raise self._unreadable(p, exc) from None

    # ---- paths -------------------------------------------------------------------------
    def path(self, p: str) -> str:
        """Map an absolute guest path to the real path under the root, following symlinks
        inside the root (an absolute link on a mounted OS disk points into that disk; `..`
        stops at the root). For commands and the fixer, which need a name: reads use _at."""
        if self.root == "/":
            return p
        parts = [x for x in p.split("/") if x and x != "."]
        resolved: List[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            if os.path.islink(candidate):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise OSError(errno.ELOOP, "Too many levels of symbolic links", p)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [x for x in target.split("/") if x and x != "."] + parts
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved)

    def lpath(self, p: str) -> str:
        """Like path() but the last component is not followed (for lstat, readlink, backups)."""
        head, tail = os.path.split(p.rstrip("/") or "/")
        if not tail:
            return self.path(head)
        return os.path.join(self.path(head), tail)

    # ---- files: answers ----------------------------------------------------------------
    def exists(self, p: str) -> bool:
        return self._lookup(p) is not None

    def isfile(self, p: str) -> bool:
        st = self._lookup(p)
        return st is not None and stat_mod.S_ISREG(st.st_mode)

    def isdir(self, p: str) -> bool:
        st = self._lookup(p)
        return st is not None and stat_mod.S_ISDIR(st.st_mode)

    def islink(self, p: str) -> bool:
        st = self._lookup(p, follow=False)
        return st is not None and stat_mod.S_ISLNK(st.st_mode)

    def is_executable_file(self, p: str) -> bool:
        st = self._lookup(p)
        return st is not None and stat_mod.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)

    def which(self, name: str, dirs=("/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                     "/usr/bin", "/sbin", "/bin")) -> Optional[str]:
        """Guest path of an executable, looked up in the usual directories under the root."""
        for d in dirs:
            candidate = os.path.join(d, name)
            if self.is_executable_file(candidate):
                return candidate
        return None

    def try_read_text(self, p: str, limit: int = MAX_READ,
                      max_line: int = MAX_LINE) -> Optional[str]:
        """The file's text, or None when it does not exist. Unreadable when it exists but
        cannot be read (permission, FIFO, device...)."""
        try:
            return self.read_text(p, limit, max_line)
        except OSError as exc:
            if exc.errno in _ABSENT or self._hidden(p, exc):
                return None
            raise self._unreadable(p, exc) from None

    def listdir(self, p: str) -> List[str]:
        """Sorted entry names; [] when `p` does not exist or is not a directory."""
        kept = self._snapshot
        return kept.listing(p, self._listdir) if kept is not None else self._listdir(p)

    def _listdir(self, p: str) -> List[str]:
        try:
            with self._at(p) as (dfd, name, st, _real):
                if not stat_mod.S_ISDIR(st.st_mode):
                    return []
                fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
                try:
                    now = os.fstat(fd)
                    if not stat_mod.S_ISDIR(now.st_mode) or (now.st_dev, now.st_ino) != (
                            st.st_dev, st.st_ino):
                        raise Unreadable(p, "changed while azbdiag opened it")
                    entries: List[str] = []
                    with os.scandir(fd) as it:
                        for entry in it:
                            entries.append(entry.name)
                            if len(entries) > MAX_ENTRIES:
                                raise Unreadable(p, f"more than {MAX_ENTRIES} entries")
                finally:
                    os.close(fd)
        except OSError as exc:
            if exc.errno in _ABSENT or self._hidden(p, exc):
                return []
            raise self._unreadable(p, exc) from None
        return sorted(entries)

    def glob(self, directory: str, pattern: str) -> List[str]:
        """Guest paths of the entries of `directory` whose name matches `pattern`."""
        return [os.path.join(directory, n) for n in matching(self.listdir(directory), pattern)]

    def getxattr(self, p: str, name: str) -> Optional[bytes]:
        """An extended attribute of `p` itself (symlinks not followed), or None when the file,
        the attribute or xattr support is missing."""
        try:
            with self._at(p, follow=False) as (_fd, _name, _st, real):
                pass
            # By name: xattrs cannot be read through an O_PATH descriptor. The walk above
            # proved the path stays inside the root; the last component is not followed.
            return os.getxattr(real, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _ABSENT + _NO_XATTR or self._hidden(p, exc):
                return None
            raise self._unreadable(p, exc) from None
        except (AttributeError, NotImplementedError, ValueError):
            return None

    # ---- files: reads that raise -------------------------------------------------------
    def _read(self, p: str, limit: int, tail: bool = False) -> bytes:
        with self._at(p) as (dfd, name, st, _real):
            if not stat_mod.S_ISREG(st.st_mode):
                if stat_mod.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", p)
                raise Unreadable(p, f"it is {_kind(st.st_mode)}: azbdiag reads regular files only")
            fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
            try:
                now = os.fstat(fd)
                if not stat_mod.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (
                        st.st_dev, st.st_ino):
                    raise Unreadable(p, "changed while azbdiag opened it")
                if tail and now.st_size > limit:
                    os.lseek(fd, now.st_size - limit, os.SEEK_SET)
                return read_fd(fd, limit)
            finally:
                os.close(fd)

    def read_bytes(self, p: str, limit: int = MAX_READ) -> bytes:
        return self._read(p, limit)

    def read_text(self, p: str, limit: int = MAX_READ, max_line: int = MAX_LINE) -> str:
        return bound_lines(self._read(p, limit).decode("utf-8", errors="replace"), max_line)

    def read_tail(self, p: str, size: int = 1024 * 1024, max_line: int = MAX_LINE) -> str:
        """The last `size` bytes of a (log) file, decoded leniently."""
        return bound_lines(self._read(p, size, tail=True).decode("utf-8", errors="replace"),
                           max_line)

    def stat(self, p: str) -> os.stat_result:
        with self._at(p) as (_fd, _name, st, _real):
            return st

    def statvfs(self, p: str) -> os.statvfs_result:
        """statvfs(2) of the file system holding `p`. Only for a path the caller knows is on
        a local file system: on a hung network or FUSE mount it blocks beyond any timeout."""
        return os.statvfs(self.path(p))

    def lstat(self, p: str) -> os.stat_result:
        with self._at(p, follow=False) as (_fd, _name, st, _real):
            return st

    def readlink(self, p: str) -> str:
        with self._at(p, follow=False) as (dfd, name, st, _real):
            if not stat_mod.S_ISLNK(st.st_mode):
                raise OSError(errno.EINVAL, "Invalid argument", p)
            return os.readlink(name, dir_fd=dfd)

    # ---- commands ----------------------------------------------------------------------
    def run(self, argv, timeout: float = DEFAULT_TIMEOUT, input=None, env=None) -> CommandResult:
        """Run a command (never one named by the disk) within the calling rule's budget."""
        budget = current_budget()
        if budget is not None:
            if budget.defer_commands:
                raise CommandsDeferred()
            if budget.cancelled:
                raise Cancelled()
            left = budget.left()
            if left <= 0:
                return CommandResult(tuple(str(a) for a in argv), None, timed_out=True)
            timeout = min(timeout, left)
        kept = self._snapshot
        if kept is not None and budget is not None and input is None and env is None:
            return kept.command(tuple(str(a) for a in argv),
                                lambda: self.runner.run(argv, timeout=timeout))
        return self.runner.run(argv, timeout=timeout, input=input, env=env)

    # ---- host facts --------------------------------------------------------------------
    @property
    def is_root(self) -> bool:
        if self._is_root is None:
            self._is_root = os.geteuid() == 0
        return self._is_root

    @property
    def azure(self) -> Optional[bool]:
        """True on an Azure VM (live, DMI chassis asset tag); None when it cannot be told."""
        if self._azure is None and self.live:
            try:
                tag = self.try_read_text("/sys/class/dmi/id/chassis_asset_tag", 4096)
            except Unreadable:
                return None
            self._azure = tag is not None and tag.strip() == AZURE_ASSET_TAG
        return self._azure

    def facts(self) -> HostFacts:
        """The host's identity, gathered once, within FACTS_TIMEOUT (a hung file system makes
        the fields it holds unknown rather than stalling the run)."""
        from azbdiag.host_facts import gather_facts, unknown_facts

        with self._facts_lock:
            if self._facts is None:
                box: dict = {}

                def gather():
                    try:
                        box["facts"] = gather_facts(self)
                    except BaseException:   # noqa: BLE001 - unknown facts, never a crash
                        pass

                worker = threading.Thread(target=gather, name="host-facts", daemon=True)
                worker.start()
                worker.join(FACTS_TIMEOUT)
                self._facts = box.get("facts") or unknown_facts(self)
            return self._facts
