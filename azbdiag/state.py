"""Where azbdiag keeps what it keeps.

- /var/lib/azbdiag/             state (0700): journal/ of fix runs, last-report.json
- /var/log/azbdiag/             logs (0700): azbdiag.log, one line per check run

This module is the one place that says where the state directory is: the fix journal
(azbdiag/fix/journal.py) asks it too. Files are replaced through the fixer's atomic_write.

Under --root these paths map into the mounted disk (host.path), so a fix journal of an offline
disk travels with that disk. A check only records its report on the live system as root:
checking a mounted disk never writes to it. AZBDIAG_STATE_DIR and AZBDIAG_LOG_DIR point them
somewhere else; AZBDIAG_NO_RECORD=1 turns recording off (the test suite sets it).

Recording also sends the result to the systemd journal (azbdiag/journald.py) and, when
AZBDIAG_TEXTFILE_DIR is set, writes the metrics file for node_exporter (azbdiag/textfile.py).

Recording is best effort: record_check() never raises, it returns an error message instead.
"""

from __future__ import annotations

import datetime
import errno
import os
from typing import Optional

from azbdiag import journald, textfile
from azbdiag.fix.files import atomic_write

STATE_ENV = "AZBDIAG_STATE_DIR"   # the state directory, fix journal included
LOG_ENV = "AZBDIAG_LOG_DIR"
NO_RECORD_ENV = "AZBDIAG_NO_RECORD"
STATE_DIR = "/var/lib/azbdiag"
LOG_DIR = "/var/log/azbdiag"
LAST_REPORT = "last-report.json"
LOG_FILE = "azbdiag.log"
LOG_MAX_BYTES = 1024 * 1024      # past this the log keeps its newest half
SUMMARY_MAX = 400


def _map(host, guest: str) -> str:
    return host.path(guest) if host is not None else guest


def state_dir(host=None) -> str:
    return os.environ.get(STATE_ENV) or _map(host, STATE_DIR)


def log_dir(host=None) -> str:
    return os.environ.get(LOG_ENV) or _map(host, LOG_DIR)


def journal_dir(host=None) -> str:
    return os.path.join(state_dir(host), "journal")


def last_report_path(host=None) -> str:
    return os.path.join(state_dir(host), LAST_REPORT)


def log_path(host=None) -> str:
    return os.path.join(log_dir(host), LOG_FILE)


def ensure_dir(path: str) -> None:
    """Create `path` (and parents) root-only; an existing directory keeps its mode."""
    if os.path.isdir(path) and not os.path.islink(path):
        return
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.path.islink(path) or not os.path.isdir(path):
        raise OSError(errno.ENOTDIR, "not a directory", path)


def _append_private(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)


def _trim(path: str, max_bytes: Optional[int] = None) -> None:
    """Keep the newest half of a log that grew past `max_bytes` (no logrotate needed)."""
    max_bytes = max_bytes or LOG_MAX_BYTES
    try:
        size = os.lstat(path).st_size
    except OSError:
        return
    if size <= max_bytes:
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.lseek(fd, size - max_bytes // 2, os.SEEK_SET)
        tail = os.read(fd, max_bytes)
    finally:
        os.close(fd)
    cut = tail.find(b"\n")
    atomic_write(path, tail[cut + 1:] if cut >= 0 else b"", 0o600)


def summary_line(doc: dict, now: Optional[datetime.datetime] = None) -> str:
    """One line for the log and the journal: counts and the ids that are not ok."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not isinstance(doc, dict):
        doc = {}
    s = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
    tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
    results = doc.get("results") if isinstance(doc.get("results"), list) else []

    def ids(status):
        return [str(r.get("id")) for r in results if isinstance(r, dict) and r.get("status") == status]

    line = (f"{now.replace(microsecond=0).isoformat().replace('+00:00', 'Z')} azbdiag "
            f"{tool.get('version', '?')} check: "
            + ", ".join(f"{s.get(k, 0)} {k}" for k in ("fail", "warn", "error", "ok", "skipped")))
    for status in ("fail", "error", "warn"):
        found = ids(status)
        if found:
            line += f"; {status}: {','.join(found)}"
    line = " ".join(line.split())  # no control characters or newlines from odd rule ids
    return line if len(line) <= SUMMARY_MAX else line[:SUMMARY_MAX - 3] + "..."


def should_record(host) -> bool:
    """Only a live run as root records, unless AZBDIAG_NO_RECORD is set."""
    if os.environ.get(NO_RECORD_ENV, "") not in ("", "0"):
        return False
    return bool(host.live and host.is_root)


def record_check(host, doc: dict, report_json: str) -> Optional[str]:
    """Save the last JSON report and append the summary line to the log. Returns None, or a
    one-line reason why something could not be written. Never raises."""
    try:
        if not should_record(host):
            return None
        problems = []
        try:
            ensure_dir(state_dir(host))
            atomic_write(last_report_path(host), report_json.encode("utf-8", "replace"), 0o600)
        except OSError as exc:
            problems.append(f"{last_report_path(host)}: {exc.strerror or exc}")
        line = summary_line(doc)
        try:
            ensure_dir(log_dir(host))
            _trim(log_path(host))
            _append_private(log_path(host), line)
        except OSError as exc:
            problems.append(f"{log_path(host)}: {exc.strerror or exc}")
        problems += [p for p in (journald.send(doc, line), textfile.write(doc)) if p]
        return "; ".join(problems) or None
    except Exception as exc:  # best effort: a check never fails because of its log
        return f"{type(exc).__name__}: {exc}"
