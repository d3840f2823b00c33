"""The backup extension's extension.log
(/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log) as a timeline:
every backup run it holds, with its step markers, timing lines and result. Text in, data out;
nothing here raises.

What the lines look like (VMBackup main/Utils/HandlerUtil.py `log_py3`, main/backuplogger.py,
main/safefreeze/src/safefreeze.c, as read at b7eecd4b):

- `2026-01-10 22:00:01.100000 [<handler>-1.0]message`: written at once (Python 3, UTC).
  Python 2 wrote `2026/01/10 22:00:01 [<handler>-1.0]message` (the machine's local time).
- While the file systems are frozen the extension keeps its lines in memory and writes them
  after the thaw, between "Logs during Freeze Start" and "... End", each as
  `2026/01/10 22:00:05.050000  Info  message ` (UTC): they carry the time they happened.
- safefreeze's own output is logged after the binary exits, each line starting with the
  binary's local time to the second: `2026-01-10 22:00:08 Freezing: /data`.
- A line without a time continues the message before it (tracebacks, multi-line errors).

A line is malformed when it starts like a time that is not one (`2026-13-45 ...`), holds
control characters, or comes before any timed line; it is counted and skipped, never fatal.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Dict, List, Optional, Tuple

from azbdiag import lazyre
from azbdiag.parsers.status_file import parse_status

_TIME = lazyre.compile(r"(\d{4})[-/](\d{2})[-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")
_LOOKS_TIMED = lazyre.compile(r"\d{4}[-/]\d")
_BUFFERED = lazyre.compile(r"  ([A-Za-z]{1,12})  ")          # "  Info  " after a buffered time
_PREFIX = lazyre.compile(r" ?\[[^\]\n]{0,200}\]")            # "[<handler>-1.0]"
_BINARY_TIME = lazyre.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ")
_CONTROL = lazyre.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DURATION = lazyre.compile(r"(?:(\d{1,6}) days?, )?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")
_STEP = lazyre.compile(r"\*{6} ([1-9])\. (.{0,80})")
_TIMING = lazyre.compile(r"(freezeTimeTaken|snapshotTimeTaken)=([^,]{0,40})")
_TIMEOUT = lazyre.compile(r"T:S freeze, timeout value (-?\d{1,9})")
_STATUS_LINE = lazyre.compile(r"Enable,(\w{1,20}),(-?\d{1,6}),")
_ARG = lazyre.compile(r"arg : \[(.{0,8000})\]")
_QUOTED = lazyre.compile(r"'([^']{0,4096})'")
_MP = r"(\S{1,4096})(?: with error(?: message)?\s*:?\s*(.{0,300}))?"
_FREEZING = lazyre.compile(r"Freezing: (\S{1,4096})")
_THAWING = lazyre.compile(r"Thawing: (\S{1,4096})")
_FREEZE_FAIL = lazyre.compile(r"Failed to FIFREEZE: " + _MP)
_THAW_FAIL = lazyre.compile(r"Failed to FITHAW: " + _MP)
_OPEN_FAIL = lazyre.compile(r"Failed to open: (\S{1,4096})(?:.{0,80}?error message\s*:?\s*(.{0,300}))?")
_TASK = lazyre.compile(r"taskId: (\S{1,100})")
# Every message _absorb acts on contains one of these: the others (most of a log) cost one search.
_INTERESTING = lazyre.compile(r"\*{6} |Failed to |Freezing: |Thawing: |TimeTaken=|timeout value|"
                          r"arg : \[|skip freeze|timedout :|taskId: |^Enable,|^\[\{|"
                          r"freeze timed-out|file open failed|already freezed|freeze failed|"
                          r"Thaw from parent|SLEEP failure|execute sleep|result inconsistent|"
                          r"Enable failed|CRP timeout")

FREEZE_ERRORS = ("freeze timed-out", "file open failed for some mount",
                 "Mount Points already freezed by some other processor",
                 "freeze failed for some mount")
THAW_ERRORS = ("Failed to receive timely Thaw from parent process",
               "Inconsistent snapshot because of SLEEP failure", "Unable to execute sleep",
               "snapshot result inconsistent")
MAX_RUNS = 2000
MAX_ITEMS = 64          # mounts, failures and errors kept per run
MAX_MESSAGE = 64 * 1024


@dataclasses.dataclass
class Run:
    """One backup run: an Enable request and the daemon it started."""
    line: int                                    # 1-based line where it starts in the text
    start: Optional[datetime.datetime]           # as logged: UTC on Python 3
    end: Optional[datetime.datetime] = None      # its last timed line
    headless: bool = False                       # the text begins inside this run
    task_id: str = ""
    daemon: bool = False                         # the daemon (freeze, snapshot) started
    freeze_skipped: bool = False                 # nothing to freeze ("skip freeze is : True")
    planned: List[str] = dataclasses.field(default_factory=list)   # handed to safefreeze
    frozen: List[str] = dataclasses.field(default_factory=list)    # "Freezing:", in order
    thawed: List[str] = dataclasses.field(default_factory=list)
    freeze_failures: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    open_failures: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    thaw_failures: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    timeout: Optional[int] = None                # the vmbackup.conf `timeout` it used
    timed_out: bool = False                      # SafeFreezeWaitInSeconds ran out
    freeze_error: str = ""
    thaw_error: str = ""
    freeze_seconds: Optional[float] = None       # freezeTimeTaken: until every mount froze
    frozen_seconds: Optional[float] = None       # step 4 (frozen) to step 7 (thaw signal)
    snapshot_seconds: Optional[float] = None     # snapshotTimeTaken
    thaw_seconds: Optional[float] = None         # the ThawTime telemetry
    snapshot_kind: str = ""                      # Host, Guest-seq or Guest-parallel
    steps: Dict[int, Optional[datetime.datetime]] = dataclasses.field(default_factory=dict)
    status_code: Optional[int] = None            # the run's result code (4: in progress)
    ext_code: Optional[int] = None               # vmHealthStatusCode
    status: str = ""                             # the real status inside the report
    errors: List[str] = dataclasses.field(default_factory=list)
    source: str = ""                             # the log file (filled in by its reader)
    status_file: str = ""                        # the status file of this run, if known

    @property
    def outcome(self) -> str:
        """success, failed or unfinished (no final status: running, died or hung)."""
        if self.status_code in (0, 1):
            return "success"
        if self.status_code in (None, 3, 4):
            return "unfinished"
        return "failed"


@dataclasses.dataclass
class ExtensionLog:
    """The backup extension's extension.log read as a timeline: its backup runs in file order,
    the number of lines read and the malformed ones."""
    runs: List[Run] = dataclasses.field(default_factory=list)
    lines: int = 0
    malformed: int = 0
    malformed_lines: List[int] = dataclasses.field(default_factory=list)   # the first few


def parse_log_time(text: str) -> Optional[datetime.datetime]:
    """The time a log line starts with, in either of the extension's formats; None if none.

    >>> parse_log_time("2026-01-10 22:00:01.1 [x-1.0]starting enable")
    datetime.datetime(2026, 1, 10, 22, 0, 1, 100000)
    >>> parse_log_time("2026/02/31 10:00:00  Info  x") is None
    True
    """
    m = _TIME.match(text or "")
    if not m:
        return None
    try:
        micro = int((m.group(7) or "0").ljust(6, "0"))
        return datetime.datetime(*(int(g) for g in m.groups()[:6]), micro)
    except ValueError:
        return None


def parse_duration(text: str) -> Optional[float]:
    """Seconds in a Python timedelta as the extension logs it; None if it is not one.

    >>> parse_duration("0:00:05.370000"), parse_duration("1 day, 0:00:01"), parse_duration("5s")
    (5.37, 86401.0, None)
    """
    m = _DURATION.fullmatch((text or "").strip())
    if not m:
        return None
    days, hours, minutes, seconds, frac = m.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return round(total + int((frac or "0").ljust(6, "0")) / 1e6, 6)


def _entries(text: str, log: ExtensionLog):
    """(line, time, message, buffered, binary) for each message; continuation lines joined."""
    current = None
    for n, raw in enumerate(text.splitlines(), 1):
        log.lines = n
        line = raw.rstrip("\r")
        if _CONTROL.search(line) or (not line.strip() and current is None):
            if line.strip():
                _malformed(log, n)
            continue
        when = parse_log_time(line)
        if when is None:
            if _LOOKS_TIMED.match(line) or current is None:
                _malformed(log, n)
            elif line.strip() and len(current[2]) < MAX_MESSAGE:
                current[2] += "\n" + line
            continue
        if current is not None:
            yield tuple(current)
        rest = line[_TIME.match(line).end():]
        buffered = _BUFFERED.match(rest)
        if buffered:
            rest = rest[buffered.end():]
        else:
            prefix = _PREFIX.match(rest)
            rest = rest[prefix.end():] if prefix else rest[1:]
        binary = _BINARY_TIME.match(rest)
        if binary:
            rest = rest[binary.end():]
        current = [n, when, rest.strip(), bool(buffered), bool(binary)]
    if current is not None:
        yield tuple(current)


def _malformed(log: ExtensionLog, n: int) -> None:
    log.malformed += 1
    if len(log.malformed_lines) < 10:
        log.malformed_lines.append(n)


def _add(items: list, value) -> None:
    if len(items) < MAX_ITEMS:
        items.append(value)


def _seconds(a: Optional[datetime.datetime], b: Optional[datetime.datetime]) -> Optional[float]:
    if a is None or b is None or b < a:
        return None
    return round((b - a).total_seconds(), 6)


def _absorb(run: Run, n: int, when, msg: str, binary: bool, log: ExtensionLog) -> None:
    """What one message says about its run."""
    if not _INTERESTING.search(msg):
        return
    step = _STEP.search(msg)
    if step:
        number = int(step.group(1))
        if number not in run.steps:
            # safefreeze's markers (2, 3, 8) are logged after it exits: their time is not theirs
            run.steps[number] = None if binary or number in (2, 3, 8) else when
        kind = re.search(r"Snaphotting \(([\w-]{1,20})\)", step.group(2))
        if kind:
            run.snapshot_kind = kind.group(1)
        if number == 7 and "Already Completed" in step.group(2):
            run.thaw_error = run.thaw_error or "the binary had already exited before the thaw"
        return
    for pattern, bucket in ((_FREEZE_FAIL, run.freeze_failures), (_THAW_FAIL, run.thaw_failures),
                            (_OPEN_FAIL, run.open_failures)):
        m = pattern.match(msg)
        if m:
            _add(bucket, (m.group(1), (m.group(2) or "").strip()))
            return
    for pattern, bucket in ((_FREEZING, run.frozen), (_THAWING, run.thawed)):
        m = pattern.match(msg)
        if m:
            _add(bucket, m.group(1))
            return
    timing = _TIMING.findall(msg)
    for key, value in timing:
        seconds = parse_duration(value)
        if seconds is None:
            _malformed(log, n)
        elif key == "freezeTimeTaken":
            run.freeze_seconds = seconds
        else:
            run.snapshot_seconds = seconds
    if timing:
        return
    m = _TIMEOUT.search(msg)
    if m:
        run.timeout = int(m.group(1))
        return
    m = _ARG.search(msg)
    if m:
        run.planned = _QUOTED.findall(m.group(1))[2:2 + MAX_ITEMS]
        return
    if msg.startswith("skip freeze is : True"):
        run.freeze_skipped = True
        return
    if "timedout :True" in msg:
        run.timed_out = True
    m = _TASK.match(msg)
    if m:
        run.task_id = m.group(1)
        return
    m = _STATUS_LINE.match(msg)
    if m:
        code = int(m.group(2))
        if run.status_code in (None, 4) or code != 4:
            run.status_code, run.status = code, m.group(1)
        return
    if msg.startswith("[{"):
        _status_report(run, n, msg, log)
        return
    for text in FREEZE_ERRORS:
        if msg.startswith(text):
            run.freeze_error = run.freeze_error or text
            run.timed_out = run.timed_out or text == "freeze timed-out"
            return
    for text in THAW_ERRORS:
        if msg.startswith(text):
            run.thaw_error = run.thaw_error or text
            return
    if "Enable failed" in msg or "CRP timeout limit has reached" in msg:
        _add(run.errors, msg.splitlines()[0][:300])


def _status_report(run: Run, n: int, msg: str, log: ExtensionLog) -> None:
    """The status the run wrote (logged after "file status report message:")."""
    rep = parse_status(msg)
    if rep.error:
        _malformed(log, n)
        return
    if rep.code == 4 and run.status_code not in (None, 4):
        return
    run.status_code = rep.code if rep.code is not None else run.status_code
    run.status = rep.real_status or rep.status or run.status
    if rep.health_code is not None:
        run.ext_code = rep.health_code
    thaw = parse_duration(rep.telemetry.get("ThawTime", ""))
    if thaw is not None:
        run.thaw_seconds = thaw
    if run.snapshot_seconds is None:
        run.snapshot_seconds = parse_duration(rep.telemetry.get("snapshotTimeTaken", ""))
    if run.freeze_seconds is None:
        freeze = parse_duration(rep.telemetry.get("FreezeTime", ""))
        # FreezeTime is freezeTimeTaken less 5 s (freezesnapshotter.py, as read)
        run.freeze_seconds = None if freeze is None else round(freeze + 5, 6)


def _finish(run: Run) -> None:
    run.frozen_seconds = _seconds(run.steps.get(4), run.steps.get(7))
    if run.snapshot_seconds is None:
        run.snapshot_seconds = _seconds(run.steps.get(5), run.steps.get(6))
    if run.freeze_seconds is None and not run.freeze_skipped:
        run.freeze_seconds = _seconds(run.steps.get(1), run.steps.get(4))


def _worth_keeping(run: Run) -> bool:
    """An Enable that skipped itself (same sequence number, same task) is not a backup run."""
    return run.daemon or bool(run.steps or run.planned or run.frozen or run.freeze_error) \
        or run.status_code not in (None, 3, 4) or run.headless


def parse_extension_log(text) -> ExtensionLog:
    """Every backup run in the text of extension.log (oldest first), and the malformed lines.

    >>> log = parse_extension_log(
    ...     "2026-01-10 22:00:01.1 [X-1.0]starting enable\\n"
    ...     "2026-01-10 22:00:03 [X-1.0]starting daemon initially\\n"
    ...     "2026-01-10 22:00:04 [X-1.0]T:S freeze, timeout value 60\\n"
    ...     "2026-01-10 22:00:04 [X-1.0]arg : ['/x/safefreeze', '60', '/data', '/']\\n"
    ...     "2026-13-10 99:00:04 garbage\\n"
    ...     "2026-01-10 22:00:21 [X-1.0]================== Logs during Freeze Start ======\\n"
    ...     "2026/01/10 22:00:08.000000  Info  ****** 1. Starting Freeze Binary \\n"
    ...     "2026/01/10 22:00:10.500000  Info  ****** 4. Freeze Completed (Signal=1 received) \\n"
    ...     "2026/01/10 22:00:10.600000  Info  T:S ***** freeze, time_before_freeze=2026-01-10"
    ...     " 22:00:05, time_after_freeze=2026-01-10 22:00:10.6, freezeTimeTaken=0:00:05.600000 \\n"
    ...     "2026/01/10 22:00:20.600000  Info  ****** 7. Sending Thaw Signal to Binary \\n"
    ...     "2026-01-10 22:00:21 [X-1.0]2026-01-10 22:00:08 Freezing: /data\\n"
    ...     "2026-01-10 22:00:21 [X-1.0]2026-01-10 22:00:08 Freezing: /\\n"
    ...     "2026-01-10 22:00:22 [X-1.0]Enable,success,1,,False\\n")
    >>> run = log.runs[0]
    >>> run.outcome, run.planned, run.frozen, run.freeze_seconds, run.frozen_seconds
    ('success', ['/data', '/'], ['/data', '/'], 5.6, 10.1)
    >>> log.malformed, log.malformed_lines
    (1, [5])
    """
    log = ExtensionLog()
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return log
    run: Optional[Run] = None
    for n, when, msg, _buffered, binary in _entries(text, log):
        starts = msg.startswith("starting enable") or (
            msg.startswith("starting daemon initially") and (run is None or run.daemon))
        if starts or run is None:
            if run is not None:
                _finish(run)
                if _worth_keeping(run):
                    log.runs.append(run)
            run = Run(line=n, start=when, headless=not starts)
        if msg.startswith("starting daemon initially"):
            run.daemon = True
        if when is not None and (run.end is None or when > run.end):
            run.end = when
        _absorb(run, n, when, msg, binary, log)
    if run is not None:
        _finish(run)
        if _worth_keeping(run):
            log.runs.append(run)
    log.runs = log.runs[-MAX_RUNS:]
    return log
