"""The backup runs the extension's logs and status files still hold (`azbdiag history`, the
freeze.trend rule, the verdict and the metrics), and the freeze limits of vmbackup.conf.

The logs: extension.log and its rotated copies (`extension.log.1`, `.2.gz`, dateext names;
parsers/rotated_logs.py), read newest first within a byte budget, the tail of a big file only.
Compressed copies are decompressed in memory with a cap on the output (a crafted file cannot
blow up). The status files: every `status/<N>.status` and the older `<N>_status` the extension
keeps (up to 60) in each VMSnapshotLinux-<version> directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
from typing import List, Optional, Tuple

from azbdiag.facts.vmbackup import vmbackup_conf, vmbackup_conf_exists
from azbdiag.model import SkipReason, SkipRule
from azbdiag.parsers.extension_dir import HANDLER, dir_version
from azbdiag.parsers.extension_log import Run, parse_extension_log, parse_log_time
from azbdiag.parsers.rotated_logs import parse_rotated_names
from azbdiag.parsers.status_file import ExtStatus, parse_status
from azbdiag.parsers.vmbackup_conf import INT_KEYS, parse_int

LOG_DIR = f"/var/log/azure/{HANDLER}"
LOG_NAME = "extension.log"
WAAGENT = "/var/lib/waagent"
RULE_BUDGET = 1024 * 1024               # what a check reads: tens of runs, enough for a trend
HISTORY_BUDGET = 32 * 1024 * 1024       # what `azbdiag history` reads at most
COMPRESSED_MAX = 8 * 1024 * 1024        # a bigger compressed copy is not read
DECOMPRESSED_MAX = 256 * 1024 * 1024    # output past this is a decompression bomb
CHUNK = 1024 * 1024
STATUS_MAX = 512 * 1024
STATUS_FILES_MAX = 200
MATCH_SLACK = 120                       # seconds a status file may trail its run's last line
_EPOCH = datetime.datetime(1970, 1, 1)


@dataclasses.dataclass
class LogFile:
    """One extension.log file (the live one or a rotated copy) as read for the history."""
    name: str
    bytes_read: int = 0
    truncated: bool = False     # only its tail was read
    error: str = ""             # why it was not read


@dataclasses.dataclass
class History:
    """The backup runs the extension's logs and status files still hold, and what was read to
    find them."""
    runs: List[Run]                 # oldest first
    logs: List[LogFile]             # oldest first
    status_files: int
    malformed: int
    malformed_where: List[str]      # "extension.log.1:12" for the first few
    notes: List[str] = dataclasses.field(default_factory=list)   # what could not be read


@dataclasses.dataclass
class FreezeLimits:
    """How long the extension waits for the freeze and keeps file systems frozen (seconds), from
    vmbackup.conf or the defaults."""
    safe_freeze_wait: int       # SafeFreezeWaitInSeconds as the extension reads it
    timeout: int                # timeout: how long safefreeze keeps the file systems frozen
    source: str                 # where the values come from

    @property
    def freeze_window(self) -> int:
        """Seconds the extension waits for the freeze: it polls every 2 s, int(N/2) times,
        counted from the start of the thread that launches safefreeze 3 s later
        (fsfreezer.py startproc, as read). freezeTimeTaken is measured against this."""
        return max(2 * (self.safe_freeze_wait // 2), 1)


# ---- reading the logs ----------------------------------------------------------------------

class _TooBig(Exception):
    pass


def _decompress(data: bytes, kind: str, keep: int) -> Tuple[bytes, bool]:
    """The last `keep` bytes of the decompressed `data`, and whether that is not all of it."""
    out, total = bytearray(), [0]

    def emit(chunk: bytes) -> None:
        total[0] += len(chunk)
        if total[0] > DECOMPRESSED_MAX:
            raise _TooBig()
        out.extend(chunk)
        if len(out) > 2 * keep:
            del out[:-keep]

    if kind == "gzip":
        import zlib
        d = zlib.decompressobj(47)             # gzip or zlib header
        buf = data
        while buf:
            emit(d.decompress(buf, CHUNK))
            if d.eof:
                buf = d.unused_data.lstrip(b"\0")          # the next gzip member, if any
                d = zlib.decompressobj(47)
            else:
                buf = d.unconsumed_tail
    else:
        if kind == "xz":
            import lzma
            d = lzma.LZMADecompressor()
        else:
            import bz2
            d = bz2.BZ2Decompressor()
        emit(d.decompress(data, CHUNK))
        while not d.eof and not d.needs_input:
            emit(d.decompress(b"", CHUNK))
    return bytes(out[-keep:]), len(out) > keep


def _read_one(host, path: str, compression: Optional[str], budget: int) -> Tuple[str, LogFile]:
    entry = LogFile(os.path.basename(path))
    try:
        size = host.stat(path).st_size
        if compression is None:
            text = host.read_tail(path, budget)
            entry.truncated = size > budget
        elif size > COMPRESSED_MAX:
            entry.error = f"compressed and larger than {COMPRESSED_MAX // (1024 * 1024)} MiB"
            return "", entry
        else:
            raw, entry.truncated = _decompress(host.read_bytes(path, COMPRESSED_MAX),
                                               compression, budget)
            text = raw.decode("utf-8", errors="replace")
    except _TooBig:
        entry.error = f"decompresses to more than {DECOMPRESSED_MAX // (1024 * 1024)} MiB"
        return "", entry
    except ImportError:
        entry.error = f"{compression} is not available in this Python"
        return "", entry
    except Exception as exc:  # noqa: BLE001 - OSError, Unreadable, corrupt data: that file only
        entry.error = str(getattr(exc, "reason", None) or getattr(exc, "strerror", None)
                          or exc or type(exc).__name__)[:200]
        return "", entry
    if entry.truncated:
        text = text.split("\n", 1)[1] if "\n" in text else ""    # drop the cut first line
    entry.bytes_read = len(text.encode("utf-8", errors="replace"))
    return text, entry


def read_logs(host, budget: int = HISTORY_BUDGET) -> Tuple[List[Tuple[str, str]], List[LogFile]]:
    """(name, text) of extension.log and its rotated copies, oldest first, newest read first
    until `budget` bytes are used; and what was read of each file."""
    try:
        names = host.listdir(LOG_DIR)
    except Exception as exc:  # noqa: BLE001 - Unreadable: say why, as a skip
        if getattr(exc, "denied", False):
            raise SkipRule(SkipReason.NOT_ROOT, f"{LOG_DIR} is readable by root only: re-run "
                                                "as root") from None
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {LOG_DIR}: {exc}") from None
    files = parse_rotated_names(LOG_NAME, names)
    texts: List[Tuple[str, str]] = []
    logs: List[LogFile] = []
    left = budget
    for f in reversed(files):                          # newest first
        if left <= 0:
            logs.append(LogFile(f.name, error="not read: the byte budget was used up"))
            continue
        text, entry = _read_one(host, f"{LOG_DIR}/{f.name}", f.compression, left)
        left = 0 if entry.truncated else left - entry.bytes_read
        texts.append((f.name, text))
        logs.append(entry)
    return texts[::-1], logs[::-1]


# ---- the status files ----------------------------------------------------------------------

def status_reports(host) -> List[Tuple[str, float, ExtStatus]]:
    """(path, modification time, parsed report) of every N.status and N_status, oldest first."""
    found = []
    for ext_dir in host.glob(WAAGENT, HANDLER + "-*"):
        if dir_version(os.path.basename(ext_dir)) is None:
            continue
        for path in host.glob(f"{ext_dir}/status", "*"):
            name = os.path.basename(path)
            seq = name[:-len(".status")] if name.endswith(".status") else \
                name[:-len("_status")] if name.endswith("_status") else ""
            if not seq.isascii() or not seq.isdigit():
                continue
            try:
                mtime = host.stat(path).st_mtime
                text = host.try_read_text(path, STATUS_MAX)
            except Exception:  # noqa: BLE001 - one unreadable file does not hide the others
                continue
            if text is not None:
                found.append((path, mtime, parse_status(text)))
    found.sort(key=lambda f: f[1])
    return found[-STATUS_FILES_MAX:]


def _when(path_mtime: float, rep: ExtStatus) -> datetime.datetime:
    stamp = parse_log_time(rep.timestamp or "")
    if stamp is not None:
        return stamp
    return datetime.datetime.fromtimestamp(path_mtime, datetime.timezone.utc).replace(tzinfo=None)


def _merge_status(runs: List[Run], path: str, mtime: float, rep: ExtStatus) -> None:
    """Attach a status file to the run it reports on (by time), or add it as a run of its own
    when the logs no longer hold that run."""
    if rep.error:
        return
    when = _when(mtime, rep)
    for run in reversed(runs):
        if run.start is not None and run.start <= when and run.end is not None and \
                (when - run.end).total_seconds() <= MATCH_SLACK:
            run.status_file = path
            if run.status_code in (None, 4) and rep.code is not None:
                run.status_code, run.status = rep.code, rep.real_status or rep.status
            if run.ext_code is None:
                run.ext_code = rep.health_code
            return
    runs.append(Run(line=0, start=None, end=when, status_code=rep.code,
                    ext_code=rep.health_code, status=rep.real_status or rep.status,
                    status_file=path))


def read_history(host, budget: int = HISTORY_BUDGET) -> History:
    """Every run in the logs (within `budget`) and the status files. Raises SkipRule when
    there is neither a log nor a status file."""
    texts, logs = read_logs(host, budget)
    try:
        reports = status_reports(host)
    except Exception as exc:  # noqa: BLE001 - /var/lib/waagent unreadable (not root): logs only
        reports = []
        notes = [f"status files not read: {exc}" + (" (re-run as root)" if getattr(
            exc, "denied", False) else "")]
    else:
        notes = []
    if not logs and not reports:
        raise SkipRule(SkipReason.NO_INPUT, f"no {LOG_DIR}/{LOG_NAME} and no status file of the "
                                            "backup extension: no backup has run here")
    runs: List[Run] = []
    malformed, where = 0, []
    for name, text in texts:
        parsed = parse_extension_log(text)
        for run in parsed.runs:
            run.source = name
        if runs and parsed.runs and parsed.runs[0].headless and runs[-1].outcome == "unfinished":
            _join(runs[-1], parsed.runs.pop(0))     # a run cut by the rotation
        runs.extend(parsed.runs)
        malformed += parsed.malformed
        where += [f"{name}:{n}" for n in parsed.malformed_lines]
    for path, mtime, rep in reports:
        _merge_status(runs, path, mtime, rep)
    runs.sort(key=lambda r: r.start or r.end or _EPOCH)
    return History(runs, logs, len(reports), malformed, where[:10], notes)


def _join(first: Run, rest: Run) -> None:
    """`rest` (the head of the newer file) continues `first`."""
    for field in dataclasses.fields(Run):
        value = getattr(rest, field.name)
        mine = getattr(first, field.name)
        if isinstance(mine, list):
            mine.extend(v for v in value if len(mine) < 64)
        elif isinstance(mine, dict):
            for k, v in value.items():
                mine.setdefault(k, v)
        elif field.name in ("line", "start", "headless", "source"):
            continue
        elif value not in (None, "", False):
            setattr(first, field.name, value)


def recent_history(host) -> History:
    """The fact the check's rules use: the newest RULE_BUDGET bytes of the logs."""
    return read_history(host, RULE_BUDGET)


# ---- the limits ----------------------------------------------------------------------------

def freeze_limits(ctx) -> FreezeLimits:
    """SafeFreezeWaitInSeconds and timeout as the extension reads them from vmbackup.conf."""
    wait, timeout = INT_KEYS["safefreezewaitinseconds"], INT_KEYS["timeout"]
    if not ctx.fact(vmbackup_conf_exists):
        return FreezeLimits(wait, timeout, "defaults (no /etc/azure/vmbackup.conf)")
    try:
        conf = ctx.fact(vmbackup_conf)
    except SkipRule:
        return FreezeLimits(wait, timeout, "defaults (/etc/azure/vmbackup.conf unreadable)")
    if not conf.parses:
        return FreezeLimits(wait, timeout, "defaults (/etc/azure/vmbackup.conf does not parse)")
    got_wait = parse_int(conf.value("SafeFreezeWaitInSeconds"))
    got_timeout = parse_int(conf.value("timeout"))
    return FreezeLimits(got_wait if got_wait is not None else wait,
                        got_timeout if got_timeout is not None else timeout,
                        "/etc/azure/vmbackup.conf")


# ---- the last run, for the verdict and the metrics -----------------------------------------

OK_CODES = (0, 1, 3)


def with_last_backup(find, cause_rules):
    """Decorates extension.last_status: adds `last_backup` to its result's data, which the
    verdict at the top of the report and the metrics show (azbdiag/report.py last_backup):
    the run's time, its codes (the ones the rule's decision settled on, its data `codes`),
    their names and Azure error, and the checks that look at the cause (`cause_rules`, code
    -> rule id patterns). `find(ctx)` gives the newest status file (path, mtime, report) or
    None, as the rule found it."""

    def decorate(decide):
        @functools.wraps(decide)
        def wrapped(ctx):
            result = decide(ctx)
            try:
                found = find(ctx)
            except Exception:  # noqa: BLE001 - the decision stands; only the verdict's data is lost
                return result
            if found is None or found.report.error:
                return result
            rep = found.report
            codes = result.data.get("codes") or [rep.code]
            code = codes[-1] if codes[-1] is not None else rep.code
            stamp = parse_log_time(rep.timestamp)
            if rep.code in OK_CODES:
                outcome = "success"
            elif rep.code == 4 or (rep.code is None and rep.status.lower() == "transitioning"):
                outcome = "stuck" if result.status.value == "fail" else "in progress"
            else:
                outcome = "failed"
            name, azure = _catalogue(code)
            result.data["last_backup"] = {
                "outcome": outcome, "status_code": rep.code, "ext_code": rep.health_code,
                "code": code, "name": name, "azure_error": azure,
                "time": stamp.replace(tzinfo=datetime.timezone.utc).timestamp() if stamp
                else found.mtime,
                "cause_rules": list(cause_rules.get(code, ())), "status_file": found.path}
            return result

        return wrapped

    return decorate


def _catalogue(code) -> Tuple[str, Optional[str]]:
    """The extension code's name and the Azure error it surfaces as."""
    if code is None:
        return "", None
    try:
        from azbdiag import catalogue
        entry = catalogue.extension_status(code)
    except Exception:  # noqa: BLE001 - names only decorate the verdict
        return "", None
    if not isinstance(entry, dict):
        return "", None
    return str(entry.get("name") or ""), entry.get("surfaces_as") or None
