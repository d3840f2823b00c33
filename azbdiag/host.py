"""The one seam between azbdiag and the machine it inspects.

A Host reads files relative to a root path (``/`` live, a mounted OS disk offline) and runs
commands through one runner. Rules and facts reach the machine only through it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import socket
import stat as stat_mod
from typing import List, Optional

from azbdiag.runner import DEFAULT_TIMEOUT, CommandResult, ShRunner

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
MAX_READ = 8 * 1024 * 1024
_MAX_LINK_HOPS = 40


class HostError(Exception):
    """azbdiag cannot work on this host at all (for example a bad --root)."""


@dataclasses.dataclass
class HostFacts:
    root: str
    live: bool
    is_root: bool
    azure: Optional[bool]
    distro_id: str
    distro_version: str
    distro_name: str
    distro_like: str
    kernel: str
    hostname: str
    arch: str

    def as_json(self) -> dict:
        return {
            "root": self.root,
            "live": self.live,
            "distro": {
                "id": self.distro_id,
                "version": self.distro_version,
                "name": self.distro_name,
                "like": self.distro_like,
            },
            "kernel": self.kernel,
            "azure": self.azure,
            "is_root": self.is_root,
            "hostname": self.hostname,
            "arch": self.arch,
        }


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

    # ---- paths -------------------------------------------------------------------------
    def path(self, p: str) -> str:
        """Map an absolute guest path to the real path under the root, following symlinks
        inside the root (an absolute link on a mounted OS disk points into that disk)."""
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
                    raise OSError(40, "Too many levels of symbolic links", p)
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

    # ---- files -------------------------------------------------------------------------
    def exists(self, p: str) -> bool:
        try:
            return os.path.exists(self.path(p))
        except OSError:
            return False

    def isfile(self, p: str) -> bool:
        try:
            return os.path.isfile(self.path(p))
        except OSError:
            return False

    def isdir(self, p: str) -> bool:
        try:
            return os.path.isdir(self.path(p))
        except OSError:
            return False

    def islink(self, p: str) -> bool:
        try:
            return os.path.islink(self.lpath(p))
        except OSError:
            return False

    def read_bytes(self, p: str, limit: int = MAX_READ) -> bytes:
        with open(self.path(p), "rb") as fh:
            return fh.read(limit)

    def read_text(self, p: str, limit: int = MAX_READ) -> str:
        return self.read_bytes(p, limit).decode("utf-8", errors="replace")

    def read_tail(self, p: str, size: int = 1024 * 1024) -> str:
        """The last `size` bytes of a (log) file, decoded leniently."""
        with open(self.path(p), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            return fh.read(size).decode("utf-8", errors="replace")

    def try_read_text(self, p: str, limit: int = MAX_READ) -> Optional[str]:
        """The file's text, or None when it is missing or unreadable."""
        try:
            return self.read_text(p, limit)
        except (OSError, ValueError):
            return None

    def listdir(self, p: str) -> List[str]:
        try:
            return sorted(os.listdir(self.path(p)))
        except OSError:
            return []

    def glob(self, directory: str, pattern: str) -> List[str]:
        """Guest paths of the entries of `directory` whose name matches `pattern`."""
        return [
            os.path.join(directory, name)
            for name in self.listdir(directory)
            if fnmatch.fnmatchcase(name, pattern)
        ]

    def stat(self, p: str) -> os.stat_result:
        return os.stat(self.path(p))

    def lstat(self, p: str) -> os.stat_result:
        return os.lstat(self.lpath(p))

    def readlink(self, p: str) -> str:
        return os.readlink(self.lpath(p))

    def getxattr(self, p: str, name: str) -> Optional[bytes]:
        """An extended attribute of `p` itself (symlinks not followed), or None when the file,
        the attribute or xattr support is missing."""
        try:
            return os.getxattr(self.lpath(p), name, follow_symlinks=False)
        except (OSError, AttributeError, NotImplementedError, ValueError):
            return None

    def is_executable_file(self, p: str) -> bool:
        try:
            st = self.stat(p)
        except OSError:
            return False
        return stat_mod.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)

    def which(self, name: str, dirs=("/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                     "/usr/bin", "/sbin", "/bin")) -> Optional[str]:
        """Guest path of an executable, looked up in the usual directories under the root."""
        for d in dirs:
            candidate = os.path.join(d, name)
            if self.is_executable_file(candidate):
                return candidate
        return None

    # ---- commands ----------------------------------------------------------------------
    def run(self, argv, timeout: float = DEFAULT_TIMEOUT, input=None, env=None) -> CommandResult:
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
            tag = self.try_read_text("/sys/class/dmi/id/chassis_asset_tag")
            self._azure = tag is not None and tag.strip() == AZURE_ASSET_TAG
        return self._azure

    def facts(self) -> HostFacts:
        if self._facts is None:
            self._facts = self._gather_facts()
        return self._facts

    def _gather_facts(self) -> HostFacts:
        did, version, name, like = _distro_info(self)
        return HostFacts(
            root=self.root,
            live=self.live,
            is_root=self.is_root,
            azure=self.azure,
            distro_id=did,
            distro_version=version,
            distro_name=name,
            distro_like=like,
            kernel=_kernel(self),
            hostname=_hostname(self),
            arch=os.uname().machine if self.live else _offline_arch(self),
        )


def _distro_info(host: Host):
    import distro

    try:
        if host.root == "/":
            info = distro.LinuxDistribution(include_lsb=False, include_uname=False)
        else:
            info = distro.LinuxDistribution(
                include_lsb=False, include_uname=False, root_dir=host.root
            )
        return (info.id() or "unknown", info.version() or "", info.name(pretty=True) or "",
                info.like() or "")
    except Exception:  # distro raises on odd files: an unknown distro is still a finding
        return ("unknown", "", "", "")


def _kernel(host: Host) -> str:
    if host.live:
        return os.uname().release
    # Offline: the newest kernel installed on the disk.
    mods = host.listdir("/lib/modules") or host.listdir("/usr/lib/modules")
    return mods[-1] if mods else ""


def _hostname(host: Host) -> str:
    if host.live:
        return socket.gethostname()
    text = host.try_read_text("/etc/hostname") or ""
    return text.strip().splitlines()[0] if text.strip() else ""


def _offline_arch(host: Host) -> str:
    # The ELF header of /bin/sh tells the disk's architecture.
    try:
        head = host.read_bytes("/bin/sh", 20)
    except OSError:
        return ""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return ""
    machine = int.from_bytes(head[18:20], "little")
    return {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i686"}.get(machine, "")
