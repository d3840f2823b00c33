"""The host's identity (distribution, kernel, host name, architecture), read through the host's
safe file layer: the disk's own os-release and release files, never the running machine's,
each field bounded and cleaned of control characters."""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
from typing import Optional, Tuple

from azbdiag import lazyre
from azbdiag.host import MAX_READ, Host, Unreadable


@dataclasses.dataclass
class HostFacts:
    """The host's identity (distribution, kernel, host name, architecture) and how azbdiag sees
    it (root, live, as root, on Azure), as reports show it."""
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



def unknown_facts(host) -> HostFacts:
    return HostFacts(root=host.root, live=host.live, is_root=host.is_root, azure=host._azure,
                     distro_id="unknown", distro_version="", distro_name="", distro_like="",
                     kernel="", hostname="", arch="")

def gather_facts(host) -> HostFacts:
    did, version, name, like = _distro_info(host)
    return HostFacts(
        root=host.root,
        live=host.live,
        is_root=host.is_root,
        azure=host.azure,
        distro_id=did,
        distro_version=version,
        distro_name=name,
        distro_like=like,
        kernel=_kernel(host),
        hostname=_hostname(host),
        arch=os.uname().machine if host.live else _offline_arch(host),
    )


# ---- host facts, read through the safe layer ----------------------------------------------
_FIELD_MAX = 256
_OS_RELEASE_MAX = 64 * 1024
_OS_RELEASE_LINE_MAX = 4096
# distro's own pattern for distribution release files in /etc (redhat-release, SuSE-release...)
_RELEASE_FILE = lazyre.compile(r"^(\w+)[-_](release|version)$")
_MAX_RELEASE_FILES = 32
_CONTROL = lazyre.compile(r"[\x00-\x1f\x7f]")


def _clean(value: str, limit: int = _FIELD_MAX) -> str:
    """A field shown in the report: no control characters, bounded."""
    return _CONTROL.sub("", value or "")[:limit]


def _read_small(host: Host, p: str, limit: int) -> Optional[str]:
    try:
        return host.try_read_text(p, limit, max_line=limit)
    except Unreadable:
        return None


def _quiet(fn, default):
    try:
        return fn()
    except Unreadable:
        return default


def _distro_files(host: Host) -> dict:
    """What distro reads, read by the layer: {name under etc/: text}."""
    files = {}
    etc = "/etc/os-release"
    use = etc if (_quiet(lambda: host.isfile(etc), False)
                  or not _quiet(lambda: host.isfile("/usr/lib/os-release"), False)) \
        else "/usr/lib/os-release"
    text = _read_small(host, use, MAX_READ)
    if text is not None:
        # A 2 MB line would take distro's shell lexer minutes: os-release lines are short,
        # longer ones are dropped (the others still count), and the whole is bounded.
        files["os-release"] = "\n".join(line for line in text.replace("\0", "").split("\n")
                                        if len(line) <= _OS_RELEASE_LINE_MAX)[:_OS_RELEASE_MAX]
    names = _quiet(lambda: host.listdir("/etc"), [])
    candidates = [n for n in names if _RELEASE_FILE.match(n) and n != "os-release"]
    for n in candidates[:_MAX_RELEASE_FILES]:
        if not _quiet(lambda n=n: host.isfile(f"/etc/{n}"), False):
            continue
        text = _read_small(host, f"/etc/{n}", 4096)
        if text is not None:
            first = text.replace("\0", "").split("\n", 1)[0]
            # distro reads debian_version as ASCII and raises on anything else.
            files[n] = first.encode("ascii", "replace").decode("ascii") + "\n"
    return files


def _os_release_fields(text: str) -> Tuple[str, str, str, str]:
    """id, version, pretty name and like from os-release alone, as distro reads them: for
    when no private copy can be written (no writable temporary directory)."""
    import distro

    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            continue
        try:
            props[key.strip().lower()] = " ".join(shlex.split(value, comments=True))
        except ValueError:
            continue
    did = props.get("id", "").lower().replace(" ", "_")
    did = getattr(distro, "NORMALIZED_OS_ID", {}).get(did, did)
    return did, props.get("version_id", ""), props.get("pretty_name", ""), props.get("id_like", "")


def _distro_info(host: Host):
    """(id, version, pretty name, like) as distro computes them, from a private copy of the
    files the layer read: distro itself never opens a path of the root (it would follow
    symlinks out of it)."""
    import distro

    files = _distro_files(host)
    try:
        import tempfile

        tmp = tempfile.mkdtemp(prefix="azbdiag-distro-")
    except OSError:
        did, version, name, like = _os_release_fields(files.get("os-release", ""))
        return (_clean(did) or "unknown", _clean(version), _clean(name), _clean(like))
    try:
        etc = os.path.join(tmp, "etc")
        os.mkdir(etc, 0o700)
        for name, text in files.items():
            with open(os.path.join(etc, name), "x", encoding="utf-8") as fh:
                fh.write(text)
        info = distro.LinuxDistribution(include_lsb=False, include_uname=False, root_dir=tmp)
        return (_clean(info.id()) or "unknown", _clean(info.version()),
                _clean(info.name(pretty=True)), _clean(info.like()))
    except Exception:  # distro raises on odd files: an unknown distro is still a finding
        return ("unknown", "", "", "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kernel(host: Host) -> str:
    if host.live:
        return os.uname().release
    # Offline: the newest kernel installed on the disk.
    for d in ("/lib/modules", "/usr/lib/modules"):
        try:
            mods = host.listdir(d)
        except Unreadable:
            mods = []
        if mods:
            return _clean(mods[-1])
    return ""


def _hostname(host: Host) -> str:
    if host.live:
        import socket

        return socket.gethostname()
    text = _read_small(host, "/etc/hostname", 4096) or ""
    text = text.replace("\0", "")
    # HOST_NAME_MAX is 64; a fully qualified name may reach 253.
    return _clean(text.strip().splitlines()[0], 253) if text.strip() else ""


def _offline_arch(host: Host) -> str:
    # The ELF header of /bin/sh tells the disk's architecture.
    try:
        head = host.read_bytes("/bin/sh", 20)
    except (OSError, Unreadable):
        return ""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return ""
    machine = int.from_bytes(head[18:20], "little")
    return {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i686"}.get(machine, "")
