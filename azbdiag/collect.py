"""What `azbdiag collect` puts in the support bundle, most useful first (the size cap leaves out
what comes last): the JSON report of a check run in-process, the configurations azbdiag reads,
the extension's state (status and settings), package versions, this machine's mount table,
block devices and file-system kernel log lines, listings of the agent's directories, then the
agent's and the extension's logs (bounded tails), then their rotated files within a total cap.

Everything under the root is read through the host's safe layer (inside the root, regular files
only, bounded); everything goes through azbdiag/redact.py before it is added.
"""

from __future__ import annotations

import datetime
import json
import posixpath
import stat
import sys
import zlib
from typing import Callable, Dict, List, Optional, Tuple

from azbdiag import __version__
from azbdiag.bundle import Bundle, Member
from azbdiag.host import Unreadable
from azbdiag.model import CheckError, SkipRule
from azbdiag.redact import redact_counted, redact_json_counted

MB = 1024 * 1024
DEFAULT_CAP_MB = 64
CONFIG_LIMIT = 1 * MB            # a configuration file
STATE_LIMIT = 4 * MB             # a status or settings file (the agent truncates at 128 KB)
LOG_TAIL = 4 * MB                # the tail of each current log
ROTATED_TOTAL = 16 * MB          # every rotated log together
INFLATE_LIMIT = 256 * MB         # never inflate more than this of one .gz (a bomb stops here)
MAX_GLOB = 50                    # files per directory pattern
MAX_OLD_STATE = 5                # N_settings / N_status kept by the extension, newest first
MAX_KERNEL_LINES = 5000          # file system lines of the kernel log, the last ones

HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
EXT_LOG_DIR = f"/var/log/azure/{HANDLER}"
CONFIGS = ("/etc/azure/vmbackup.conf", "/etc/azure/VMSnapshotScriptPluginConfig.json",
           "/etc/azure/VMSnapshotPluginHost.conf", "/etc/azure/workload.conf", "/etc/fstab",
           "/etc/os-release", "/etc/selinux/config", "/etc/network/interfaces",
           "/etc/cloud/cloud.cfg")
CONFIG_GLOBS = (("/etc/netplan", "*.yaml"), ("/lib/netplan", "*.yaml"),
                ("/etc/sysconfig/network-scripts", "ifcfg-*"),
                ("/etc/sysconfig/network", "ifcfg-*"),
                ("/etc/NetworkManager/system-connections", "*"),
                ("/etc/systemd/network", "*.network"), ("/etc/network/interfaces.d", "*"),
                ("/etc/cloud/cloud.cfg.d", "*.cfg"))


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(
        microsecond=0).isoformat().replace("+00:00", "Z")


def remote_points(host) -> List[str]:
    """Guest paths of the network and FUSE mounts (this machine's mount table): nothing under
    them is read, so that a stale mount cannot hang the collection."""
    from azbdiag.facts.block_devices import guest_path, machine_mounts, real_root, under
    from azbdiag.facts.frozen_mounts import is_network_or_fuse

    try:
        mounts = machine_mounts(host)
    except (SkipRule, Unreadable):
        return []
    root = real_root(host)
    return [m.mount_point if host.live else guest_path(m.mount_point, root) for m in mounts
            if is_network_or_fuse(m.fstype) and (host.live or under(m.mount_point, root))]


class Collector:
    def __init__(self, host, bundle: Bundle):
        self.host = host
        self.bundle = bundle
        self.remote = remote_points(host)

    def on_remote(self, path: str) -> bool:
        """Whether `path` lies on a network or FUSE mount (and says so in the manifest)."""
        for point in self.remote:
            if path == point or path.startswith(point.rstrip("/") + "/"):
                self.bundle.leave_out(path, f"on the network or FUSE mount {point}: never read")
                return True
        return False

    # ---- reading, safely ------------------------------------------------------------------
    def _regular(self, path: str) -> Optional[object]:
        """The stat of `path` when it is a regular file inside the root; None (and why, in the
        manifest) otherwise; None silently when it does not exist."""
        if self.on_remote(path):
            return None
        try:
            if not self.host.exists(path):
                return None
            st = self.host.stat(path)
        except (OSError, Unreadable) as exc:
            self.bundle.leave_out(path, f"unreadable: {exc}")
            return None
        if not stat.S_ISREG(st.st_mode):
            self.bundle.leave_out(path, "not a regular file")
            return None
        return st

    def add_text(self, name: str, text: str, source: str, kind: str, config: bool = False,
                 json_doc: bool = False, **extra) -> bool:
        cleaned, counts = (redact_json_counted(text) if json_doc
                           else redact_counted(text, config=config))
        return self.bundle.add(Member(name, cleaned.encode("utf-8"), source, kind, counts,
                                      **extra))

    def file(self, path: str, kind: str, limit: int, config: bool = False,
             json_doc: bool = False) -> bool:
        st = self._regular(path)
        if st is None:
            return False
        try:
            text = self.host.read_text(path, limit)
        except (OSError, Unreadable) as exc:
            self.bundle.leave_out(path, f"unreadable: {exc}")
            return False
        cut = st.st_size > limit
        return self.add_text("files" + path, text, path, kind, config=config,
                             json_doc=json_doc and not cut, truncated=cut,
                             original_size=st.st_size, source_mtime=_iso(st.st_mtime),
                             note=f"first {limit} bytes" if cut else "")

    def log(self, path: str, budget: int) -> int:
        """The tail of a log (inflated first when it is a .gz), at most `budget` bytes; returns
        the bytes added."""
        st = self._regular(path)
        if st is None:
            return 0
        name, note = "files" + path, ""
        try:
            if path.endswith(".gz"):
                data, cut = inflate_tail(self.host.read_bytes(path, 32 * MB), budget)
                text, name = data.decode("utf-8", errors="replace"), name[:-3]
                note = "inflated from " + posixpath.basename(path)
            elif path.endswith((".xz", ".bz2", ".zst", ".lz4")):
                self.bundle.leave_out(path, "compressed in a format azbdiag does not read")
                return 0
            else:
                text, cut = self.host.read_tail(path, budget), st.st_size > budget
        except (OSError, Unreadable, zlib.error, EOFError) as exc:
            self.bundle.leave_out(path, f"unreadable: {exc}")
            return 0
        if cut and "\n" in text:
            text = text.split("\n", 1)[1]          # start at a whole line
            note = (note + "; " if note else "") + f"last {len(text.encode('utf-8'))} bytes"
        before = self.bundle.size
        self.add_text(name, text, path, "log", truncated=cut, original_size=st.st_size,
                      source_mtime=_iso(st.st_mtime), note=note)
        return self.bundle.size - before

    def files(self, directory: str, pattern: str) -> List[str]:
        if self.on_remote(directory):
            return []
        try:
            found = self.host.glob(directory, pattern)
        except Unreadable as exc:
            self.bundle.leave_out(f"{directory}/{pattern}", f"unreadable: {exc}")
            return []
        if len(found) > MAX_GLOB:
            self.bundle.leave_out(f"{directory}/{pattern}",
                                  f"{len(found) - MAX_GLOB} more files than the {MAX_GLOB} kept")
        return found[:MAX_GLOB]

    def newest(self, paths: List[str]) -> List[str]:
        def mtime(p: str) -> float:
            try:
                return self.host.lstat(p).st_mtime
            except (OSError, Unreadable):
                return 0.0
        return sorted(paths, key=mtime, reverse=True)


def inflate_tail(data: bytes, keep: int) -> Tuple[bytes, bool]:
    """The last `keep` bytes of gzip `data` inflated, and whether that is not all of it;
    inflating stops at INFLATE_LIMIT (the rest counts as cut off).

    >>> import gzip
    >>> inflate_tail(gzip.compress(b"line 1\\nline 2\\n"), 7)
    (b'line 2\\n', True)
    """
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    tail, total = bytearray(), 0
    for pos in range(0, len(data), 65536):
        piece = data[pos:pos + 65536]
        while piece:
            chunk = d.decompress(piece, 1024 * 1024)
            piece = d.unconsumed_tail
            total += len(chunk)
            tail += chunk
            if len(tail) > keep:
                del tail[:len(tail) - keep]
            if total >= INFLATE_LIMIT:
                return bytes(tail), True
            if d.eof:
                break
        if d.eof:
            break
    return bytes(tail), total > keep


# ---- the parts --------------------------------------------------------------------------

def add_report(c: Collector, report_json: str) -> None:
    c.add_text("report.json", report_json, "azbdiag check (run in-process)", "report",
               json_doc=True)


def add_configs(c: Collector) -> None:
    from azbdiag.facts.agent import CONF_PATHS

    for path in CONF_PATHS + CONFIGS:
        c.file(path, "config", CONFIG_LIMIT, config=True)
    for directory, pattern in CONFIG_GLOBS:
        for path in c.files(directory, pattern):
            c.file(path, "config", CONFIG_LIMIT, config=True)


def extension_dirs(c: Collector) -> List[str]:
    from azbdiag.facts.extension import ext_dirs

    try:
        return [d.path for d in sorted(ext_dirs(c.host), key=lambda d: d.key, reverse=True)][:3]
    except (SkipRule, Unreadable):
        return c.files("/var/lib/waagent", f"{HANDLER}-*")[:3]


def add_extension_state(c: Collector, dirs: List[str]) -> None:
    for d in dirs:
        for rel in ("HandlerEnvironment.json", "HandlerManifest.json", "config/HandlerState",
                    "config/HandlerStatus", "mrseq", "main/VMSnapshotPluginHost.conf"):
            c.file(f"{d}/{rel}", "state", STATE_LIMIT, config=True,
                   json_doc=rel.endswith(".json") or rel.endswith("HandlerStatus"))
        for sub, current, old in (("config", "*.settings", "*_settings"),
                                  ("status", "*.status", "*_status")):
            paths = c.newest(c.files(f"{d}/{sub}", current))
            paths += c.newest(c.files(f"{d}/{sub}", old))[:MAX_OLD_STATE]
            for path in paths:
                c.file(path, "state", STATE_LIMIT, json_doc=True)
    history = c.newest(c.files("/var/lib/waagent/history", "*"))
    if history:
        c.file(f"{history[0]}/waagent_status.json", "state", STATE_LIMIT, json_doc=True)


def listing(c: Collector, directory: str) -> str:
    lines = []
    for name in c.host.listdir(directory)[:2000]:
        path = posixpath.join(directory, name)
        try:
            st = c.host.lstat(path)
        except (OSError, Unreadable):
            lines.append(f"?          ? {name}")
            continue
        lines.append(f"{stat.filemode(st.st_mode)} {st.st_uid}:{st.st_gid} {st.st_size:>10} "
                     f"{_iso(st.st_mtime)} {name}")
    return "\n".join(lines) + ("\n" if lines else "")


def add_listings(c: Collector, dirs: List[str]) -> None:
    for d in ["/var/lib/waagent"] + dirs + [EXT_LOG_DIR]:
        if c.on_remote(d):
            continue
        try:
            text = listing(c, d)
        except Unreadable as exc:
            c.bundle.leave_out(d, f"unreadable: {exc}")
            continue
        if text:
            c.add_text(f"listings{d}.txt", text, f"listing of {d}", "listing")


def packages(host, dirs: List[str]) -> dict:
    from azbdiag.facts.agent import agent_dirs_fact, agent_packages

    out: dict = {"azbdiag": __version__, "azbdiag_python": sys.version.split()[0]}
    try:
        out["agent_packages"] = [{"name": p.name, "version": p.version, "from": p.source}
                                 for p in agent_packages(host)]
    except (SkipRule, CheckError, Unreadable) as exc:
        out["agent_packages"] = f"unknown: {exc}"
    try:
        out["agent_auto_updated"] = [{"version": str(d.version), "usable": d.usable}
                                     for d in agent_dirs_fact(host)]
    except (SkipRule, Unreadable) as exc:
        out["agent_auto_updated"] = f"unknown: {exc}"
    out["extension"] = [posixpath.basename(d)[len(HANDLER) + 1:] for d in dirs]
    return out


def add_machine(c: Collector) -> None:
    """The machine azbdiag runs on (the rescue VM with --root): mounts, devices, kernel log."""
    from azbdiag.facts.block_devices import LSBLK_COLUMNS, machine, machine_kernel_log

    m = machine(c.host)
    which = "this machine" if c.host.live else "the rescue machine azbdiag ran on"
    for name, src in (("mountinfo.txt", "/proc/self/mountinfo"), ("swaps.txt", "/proc/swaps")):
        try:
            text = m.try_read_text(src)
        except Unreadable as exc:
            c.bundle.leave_out(src, f"unreadable: {exc}")
            continue
        if text is not None:
            c.add_text(f"machine/{name}", text, f"{src} of {which}", "machine")
    for name, argv in (("lsblk.txt", ["lsblk", "-b", "-P", "-o", LSBLK_COLUMNS + ",MOUNTPOINT"]),
                       ("blkid.txt", ["blkid", "-c", "/dev/null", "-o", "export"])):
        res = m.run(argv, timeout=20)
        if res.ok or (argv[0] == "blkid" and res.rc == 2):
            c.add_text(f"machine/{name}", res.stdout, " ".join(argv), "command")
        else:
            c.bundle.leave_out(" ".join(argv), res.describe())
    try:
        lines = machine_kernel_log(c.host)
    except (CheckError, SkipRule) as exc:
        c.bundle.leave_out("kernel log", str(exc))
        return
    kept = lines[-MAX_KERNEL_LINES:]
    c.add_text("machine/kernel-fs.log", "".join(ln.text + "\n" for ln in kept),
               f"file system lines of the kernel log of {which}", "command",
               truncated=len(kept) < len(lines),
               note=f"the last {len(kept)} of {len(lines)} lines" if len(kept) < len(lines)
               else "")


def add_logs(c: Collector) -> None:
    current = ["/var/log/waagent.log"] + [p for p in c.files(EXT_LOG_DIR, "*")
                                          if not _rotated(p) and not p.endswith("/events")]
    for path in current:
        c.log(path, LOG_TAIL)
    rotated = c.newest([p for p in c.files("/var/log", "waagent.log?*") if _rotated(p)]
                       + [p for p in c.files(EXT_LOG_DIR, "*") if _rotated(p)])
    left = ROTATED_TOTAL
    for path in rotated:
        if left <= 0:
            c.bundle.leave_out(path, f"rotated logs are capped at {ROTATED_TOTAL} bytes in all")
            continue
        left -= c.log(path, min(LOG_TAIL, left))


def _rotated(path: str) -> bool:
    base = posixpath.basename(path)
    return base.endswith((".gz", ".xz", ".bz2", ".zst")) or any(
        part.isdigit() for part in base.replace("-", ".").split(".")[1:])


def collect(host, report_json: str, cap: int,
            progress: Callable[[str], None] = lambda s: None) -> Tuple[Bundle, Dict[str, object]]:
    """The bundle for `host` (live, or an offline root) and its manifest's header."""
    bundle = Bundle(cap)
    c = Collector(host, bundle)
    add_report(c, report_json)
    progress("configurations")
    add_configs(c)
    dirs = extension_dirs(c)
    add_extension_state(c, dirs)
    c.add_text("packages.json", json.dumps(packages(host, dirs), indent=1), "package versions",
               "packages")
    progress("mounts and the kernel log")
    add_machine(c)
    add_listings(c, dirs)
    progress("logs")
    add_logs(c)
    facts = host.facts()
    meta = {"tool": {"name": "azbdiag", "version": __version__},
            "generated_at": _iso(datetime.datetime.now(datetime.timezone.utc).timestamp()),
            "source": {"live": bool(host.live), "root": host.root,
                       "hostname": facts.hostname}}
    return bundle, meta
