"""Every file azbdiag writes goes through this module: fix steps under a root, the journal and
its backups, the state directory's report and log (azbdiag/state.py) and `--output` files.

The one write primitive is `write_at(dirfd, name, ...)`: a temporary file with a random name is
created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) in the directory the caller opened,
filled, given its owner, mode and SELinux label through its descriptor, synced, and renamed over
`name` relative to that same directory descriptor. Nothing is ever done by a path that could be
swapped in between, a symlink at the final name is replaced and never followed, and modes are
set explicitly (fchmod), so the umask never decides them.

Two ways to get the directory descriptor:

- local paths chosen by the admin (the state directory, `--output`): `open_local_dir` follows
  the admin's path like any program would, and `make_private_dir` creates missing folders 0700
  whatever the umask;
- paths under the inspected root (fix targets, undo): `resolve` turns the guest path into the
  real path below the root once, with symlinks followed *inside* the root; `open_parent` then
  opens that path component by component with O_NOFOLLOW from a descriptor of the root. A
  component that has become a symlink since (a user swapping /etc/azure for a link) makes the
  walk fail with `PathChanged`, so a change can never land outside the root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
from typing import Callable, Iterator, List, Optional, Tuple

from azbdiag.bounded_read import read_fd

SELINUX_XATTR = "security.selinux"
TMP_PREFIX = ".azbdiag-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_O_PATH = getattr(os, "O_PATH", 0)
BACKUP_LIMIT = 1 << 30          # a file larger than this is not copied (the step is refused)


class PathChanged(OSError):
    """A path below the root is no longer what the fix resolved (a component is a symlink or
    not a directory now): nothing is done through it."""

    def __init__(self, path: str, why: str):
        super().__init__(errno.ENOTDIR, f"{why}; left alone", path)


# ---- local directories: the state directory and --output ---------------------------------

def open_local_dir(path: str, follow_last: bool = True) -> int:
    """A descriptor of the existing directory `path` (symlinks on the way followed, the last
    one too unless `follow_last` is False). Raises OSError (ENOENT, ENOTDIR, EACCES, ELOOP)."""
    flags = _DIR_FLAGS | (0 if follow_last else os.O_NOFOLLOW)
    return os.open(path, flags)


def make_private_dir(path: str) -> List[str]:
    """Create `path` and any missing parent as 0700 directories (whatever the umask); the
    last component must not be a symlink. Returns the folders created, outermost first."""
    path = os.path.abspath(path)
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    created = []
    for d in reversed(missing):
        parent_fd = open_local_dir(os.path.dirname(d))
        try:
            name = os.path.basename(d)
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                continue
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
            try:
                os.fchmod(fd, 0o700)
            finally:
                os.close(fd)
            created.append(d)
        finally:
            os.close(parent_fd)
    fd = open_local_dir(path, follow_last=False)   # ELOOP when it is a symlink
    os.close(fd)
    return created


def write_local(path: str, content: bytes, mode: int = 0o600) -> None:
    """Replace the file `path` (its folder must exist) with `content`, mode `mode` exactly."""
    directory, name = os.path.split(os.path.abspath(path))
    if not name:
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    dirfd = open_local_dir(directory or "/")
    try:
        write_at(dirfd, name, content, mode)
    finally:
        os.close(dirfd)


# ---- the write primitive -----------------------------------------------------------------

def new_tmp_name() -> str:
    import secrets  # here: it costs an import on every check that never writes

    return TMP_PREFIX + secrets.token_hex(8)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_dir(dirfd: int) -> None:
    try:
        os.fsync(dirfd)
    except OSError:
        pass


def _set_label_fd(fd: int, label_hex: Optional[str]) -> None:
    if not label_hex:
        return
    try:
        os.setxattr(fd, SELINUX_XATTR, bytes.fromhex(label_hex))
    except (OSError, ValueError):
        pass  # no SELinux on this file system: nothing to keep


def write_at(dirfd: int, name: str, content: bytes, mode: int, uid: Optional[int] = None,
             gid: Optional[int] = None, label_hex: Optional[str] = None,
             tmp_name: Optional[str] = None,
             before_rename: Optional[Callable[[], None]] = None) -> None:
    """Replace `name` in the directory `dirfd` with `content` atomically: owner `uid:gid`
    (None: the writer's), mode `mode` exactly, SELinux label `label_hex` (None: the default).
    `tmp_name` lets a caller journal the temporary name before it exists; `before_rename` is
    called once the temporary file is complete (the fixer's test hook)."""
    if "/" in name or name in ("", ".", ".."):
        raise OSError(errno.EINVAL, "not a file name", name)
    tmp = tmp_name or new_tmp_name()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dirfd)
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
        if before_rename is not None:
            before_rename()
        os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dirfd)
        raise
    fsync_dir(dirfd)


def symlink_at(dirfd: int, name: str, target: str, tmp_name: Optional[str] = None) -> None:
    """Make `name` a symlink to `target` atomically (a temporary link renamed over it)."""
    tmp = tmp_name or new_tmp_name()
    os.symlink(target, tmp, dir_fd=dirfd)
    try:
        os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dirfd)
        raise
    fsync_dir(dirfd)


# ---- paths below the root ----------------------------------------------------------------

def resolve(host, guest: str, follow: bool = True) -> str:
    """The real path of guest path `guest`, relative to the root ("/etc/azure/x"), with
    symlinks resolved inside the root (the last component only when `follow`)."""
    if host.root == "/":
        p = os.path.normpath("/" + guest.lstrip("/"))
        if follow:
            return os.path.realpath(p)
        head, tail = os.path.split(p)
        return os.path.join(os.path.realpath(head or "/"), tail) if tail else "/"
    real = host.path(guest) if follow else host.lpath(guest)
    rel = os.path.relpath(real, host.root)
    # Only "." is special: lstrip("./") would eat the dot of names such as /.autorelabel.
    return "/" if rel == "." else "/" + rel


def real_path(host, rel: str) -> str:
    """The path on this machine of the root-relative path `rel` (for messages)."""
    return os.path.join(host.root, rel.lstrip("/")) if rel != "/" else host.root


def clean_rel(rel) -> bool:
    """Whether `rel` is a normalised absolute path without '.', '..' or empty components."""
    if not isinstance(rel, str) or not rel.startswith("/") or "\0" in rel or len(rel) > 4096:
        return False
    if rel == "/":
        return True
    parts = rel[1:].split("/")
    return all(p not in ("", ".", "..") for p in parts)


@contextlib.contextmanager
def open_parent(root: str, rel: str, create: bool = False,
                created: Optional[List[str]] = None) -> Iterator[Tuple[int, str]]:
    """(descriptor of the directory holding `rel`, last name), walking from `root` with
    O_NOFOLLOW: every component must be a real directory now. Missing directories are created
    (0755 exactly) when `create`, and appended to `created` (root-relative)."""
    if not clean_rel(rel) or rel == "/":
        raise OSError(errno.EINVAL, "not a path below the root", rel)
    parts = rel[1:].split("/")
    cur = os.open(root, _DIR_FLAGS)
    try:
        done = ""
        for part in parts[:-1]:
            done += "/" + part
            try:
                fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=cur)
                fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
                os.fchmod(fd, 0o755)
                if created is not None:
                    created.append(done)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise PathChanged(done, "is a symlink or not a directory now") from None
                raise
            os.close(cur)
            cur = fd
        yield cur, parts[-1]
    finally:
        os.close(cur)


def missing_dirs(root: str, rel: str) -> List[str]:
    """The parent directories of `rel` that do not exist yet (root-relative, outermost
    first); raises PathChanged when one on the way is a symlink or not a directory."""
    parts = rel[1:].split("/")[:-1]
    cur = os.open(root, _DIR_FLAGS)
    try:
        for i, part in enumerate(parts):
            try:
                fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
            except FileNotFoundError:
                return ["/" + "/".join(parts[:j + 1]) for j in range(i, len(parts))]
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise PathChanged("/" + "/".join(parts[:i + 1]),
                                      "is a symlink or not a directory now") from None
                raise
            os.close(cur)
            cur = fd
    finally:
        os.close(cur)
    return []


def read_at(root: str, rel: str, limit: int = 8 * 1024 * 1024) -> Optional[bytes]:
    """The first `limit` bytes of the regular file `rel` below `root`, or None when it is
    missing or not a regular file (for the plan's diff)."""
    try:
        with open_parent(root, rel) as (dfd, name):
            with open_existing(dfd, name, kinds=("file",)) as (fd, _st):
                return read_fd(fd, limit)
    except OSError:
        return None


def remove_empty_dirs(root: str, rels: List[str]) -> None:
    """rmdir each of `rels` (innermost first) that is still an empty real directory."""
    for rel in sorted(rels, key=len, reverse=True):
        try:
            with open_parent(root, rel) as (dfd, name):
                os.rmdir(name, dir_fd=dfd)
        except OSError:
            pass


# ---- reading and capturing ---------------------------------------------------------------

def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _label_fd(fd: int) -> Optional[str]:
    try:
        return os.getxattr(fd, SELINUX_XATTR).hex()
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def open_existing(dirfd: int, name: str, kinds=("file", "dir")) -> Iterator[Tuple[int, os.stat_result]]:
    """Open `name` (never following a symlink, never opening a FIFO or device) when it is one
    of `kinds`; yields (fd, stat). The file type is checked through an O_PATH descriptor
    first, then again after the real open (same inode)."""
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    kind = _kind(st.st_mode)
    if kind not in kinds:
        raise OSError(errno.EINVAL, f"it is {'a ' + kind if kind != 'absent' else 'missing'}, "
                                    f"not {' or '.join(kinds)}", name)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if kind == "dir":
        flags |= os.O_DIRECTORY
    fd = os.open(name, flags, dir_fd=dirfd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise OSError(errno.EAGAIN, "changed while azbdiag opened it", name)
        yield fd, now
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISLNK(mode):
        return "symlink"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    return "other"


def _hash_copy(fd: int, out_fd: Optional[int], limit: int) -> Tuple[str, int]:
    import hashlib

    h = hashlib.sha256()
    total = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise OSError(errno.EFBIG, "file too large to back up")
        h.update(chunk)
        if out_fd is not None:
            _write_all(out_fd, chunk)
    return h.hexdigest(), total


def capture(dirfd: int, name: str, content: bool = True, backup_dirfd: Optional[int] = None,
            backup_name: Optional[str] = None, limit: int = BACKUP_LIMIT) -> dict:
    """The state of `name` in `dirfd` (a symlink is recorded as a symlink, never followed).
    A regular file gets its checksum when `content`, and a byte copy written as
    `backup_name` into `backup_dirfd` when that is given; chmod and chown steps record only
    mode and owner (content=False), whatever the file's size."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return {"kind": "absent"}
    kind = _kind(st.st_mode)
    state = {"kind": kind, "mode": stat_mod.S_IMODE(st.st_mode), "uid": st.st_uid,
             "gid": st.st_gid}
    if kind == "symlink":
        state["target"] = os.readlink(name, dir_fd=dirfd)
        return state
    if kind == "other":
        return state
    with open_existing(dirfd, name) as (fd, _st):
        state["selinux"] = _label_fd(fd)
        if kind == "file" and content:
            out_fd = None
            if backup_dirfd is not None and backup_name:
                out_fd = os.open(backup_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                 | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=backup_dirfd)
            try:
                state["sha256"], state["size"] = _hash_copy(fd, out_fd, limit)
                if out_fd is not None:
                    os.fsync(out_fd)
                    state["backup"] = backup_name
            finally:
                if out_fd is not None:
                    os.close(out_fd)
    return state


def same_content(a: dict, b: dict) -> bool:
    """Whether two captured states have the same kind and content (files: checksum; links:
    target)."""
    if a.get("kind") != b.get("kind"):
        return False
    if a["kind"] == "file":
        return a.get("sha256") is not None and a.get("sha256") == b.get("sha256")
    if a["kind"] == "symlink":
        return a.get("target") == b.get("target")
    return True


def same_meta(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("kind", "mode", "uid", "gid"))


def read_backup(backup_dirfd: int, name: str, sha: str, limit: int = BACKUP_LIMIT) -> bytes:
    """The bytes of backup `name`, checked against its recorded checksum."""
    with open_existing(backup_dirfd, name, kinds=("file",)) as (fd, st):
        if st.st_size > limit:
            raise OSError(errno.EFBIG, "backup too large", name)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    if sha256(data) != sha:
        raise OSError(errno.EIO, "backup copy does not match its checksum", name)
    return data


def chmod_at(dirfd: int, name: str, mode: int) -> None:
    with open_existing(dirfd, name) as (fd, _st):
        os.fchmod(fd, mode)


def chown_at(dirfd: int, name: str, uid: int, gid: int, keep_mode: Optional[int] = None) -> None:
    """chown `name` (never through a symlink); `keep_mode` is set again afterwards, since a
    chown clears set-id bits."""
    with open_existing(dirfd, name) as (fd, _st):
        os.fchown(fd, uid, gid)
        if keep_mode is not None:
            os.fchmod(fd, keep_mode)


def restore_at(dirfd: int, name: str, state: dict, backup_dirfd: Optional[int]) -> None:
    """Put `name` back into the captured `state`."""
    kind = state.get("kind")
    if kind == "file":
        data = read_backup(backup_dirfd, state["backup"], state["sha256"])
        write_at(dirfd, name, data, state["mode"], state["uid"], state["gid"],
                 state.get("selinux"))
    elif kind == "symlink":
        symlink_at(dirfd, name, state["target"])
        with contextlib.suppress(PermissionError, NotImplementedError, OSError):
            os.chown(name, state["uid"], state["gid"], dir_fd=dirfd, follow_symlinks=False)
    elif kind == "absent":
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat_mod.S_ISDIR(st.st_mode):
                raise OSError(errno.EISDIR, "a directory is there now", name)
            os.unlink(name, dir_fd=dirfd)
        fsync_dir(dirfd)
    elif kind == "dir":
        if os.geteuid() == 0:
            chown_at(dirfd, name, state["uid"], state["gid"], keep_mode=state["mode"])
        else:
            chmod_at(dirfd, name, state["mode"])
    else:
        raise OSError(errno.EINVAL, f"cannot restore a {kind}", name)


def create_exclusive(real: str, content: bytes, mode: int = 0o600) -> None:
    """Create the new file `real` with `content` and `mode` (a support bundle): opened with
    O_CREAT|O_EXCL|O_NOFOLLOW, so that an existing file or symlink of that name is never written
    through or replaced (FileExistsError); removed again if the write fails."""
    fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)          # whatever the umask
        _write_all(fd, content)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(real)
        raise
    os.close(fd)
    dirfd = os.open(os.path.dirname(real) or ".", _DIR_FLAGS)
    try:
        fsync_dir(dirfd)
    finally:
        os.close(dirfd)
