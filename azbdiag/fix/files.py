"""File operations, written once: map a guest path to the real file, capture a file's state
(with a byte copy), write a file atomically, and restore a captured state.

Every file azbdiag changes or keeps goes through `atomic_write`: the fixer's targets and its
journal, the state directory's last report and log (azbdiag/state.py), and `--output` reports.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_mod
import tempfile
from typing import List, Optional

SELINUX_XATTR = "security.selinux"


# ---- guest paths and journal paths -------------------------------------------------------

def target_path(host, guest: str) -> str:
    """The real file an action on `guest` changes; symlinks are followed (inside --root)."""
    real = host.path(guest)
    if host.root == "/":
        real = os.path.realpath(real)
    return real


def link_path(host, guest: str) -> str:
    """The real path of `guest` itself: its last component is not followed."""
    real = host.lpath(guest)
    if host.root == "/":
        head, tail = os.path.split(real)
        real = os.path.join(os.path.realpath(head or "/"), tail)
    return real


def to_journal(host, real: str) -> str:
    """`real` relative to the root, stored in the journal (undo maps it back, no lookup)."""
    rel = os.path.relpath(real, host.root)
    # Only "." is special: lstrip("./") would eat the dot of names such as /.autorelabel.
    return "/" if rel == "." else "/" + rel


def from_journal(host, rel: str) -> str:
    return os.path.join(host.root, rel.lstrip("/"))


# ---- reading and capturing ---------------------------------------------------------------

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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_nofollow(real: str, limit: int = 1 << 30) -> bytes:
    """The bytes of `real`, refusing a symlink and anything larger than `limit`."""
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


def current_sha(real: str) -> Optional[str]:
    """The checksum of the regular file `real`, or None (absent, a link, unreadable)."""
    try:
        if os.path.islink(real) or not os.path.isfile(real):
            return None
        return sha256(read_nofollow(real))
    except OSError:
        return None


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
        data = read_nofollow(real)
        state.update(kind="file", size=len(data), sha256=sha256(data))
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


# ---- writing -----------------------------------------------------------------------------

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


def atomic_write(real: str, content: bytes, mode: int, uid: Optional[int] = None,
                 gid: Optional[int] = None, label_hex: Optional[str] = None) -> None:
    """Write `content` to `real` through a temporary file in the same directory and a rename,
    with the given mode, owner (None: the writer's) and SELinux label (None: the default).
    A symlink at `real` is replaced, never followed."""
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


def make_parents(real: str) -> List[str]:
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


def restore(real: str, state: dict, backup_dir: str) -> None:
    """Put `real` back into the captured `state`."""
    kind = state.get("kind")
    if kind == "file":
        data = read_nofollow(os.path.join(backup_dir, state["backup"]))
        if sha256(data) != state.get("sha256"):
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
    _fsync_dir(os.path.dirname(real) or ".")
