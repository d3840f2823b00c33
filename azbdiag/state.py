"""Where azbdiag keeps what it keeps.

- /var/lib/azbdiag/             state (0700): journal/ of fix runs, last-report.json
- /var/log/azbdiag/             logs (0700): azbdiag.log, one line per check run

This module is the one place that says where the state directory is: the fix journal
(azbdiag/fix/journal.py) asks it too. Files are written through azbdiag/fix/files.py (a
temporary file created exclusively, renamed into place, modes set whatever the umask), and new
folders are made 0700.

The state directory is always this machine's own, also with --root: the journal of a fix run
on a mounted OS disk stays on the machine that ran it (azbdiag/fix/journal.py keys it by the
root's identity), so nothing written on a disk is ever replayed from it, and checking or fixing
a disk never writes azbdiag's state onto it. A check only records its report on the live
system as root. AZBDIAG_STATE_DIR and AZBDIAG_LOG_DIR point them somewhere else;
AZBDIAG_NO_RECORD=1 turns recording off (the test suite sets it).

Recording also sends the result to the systemd journal (azbdiag/journald.py) and, when
AZBDIAG_TEXTFILE_DIR is set, writes the metrics file for node_exporter (azbdiag/textfile.py).

Recording is best effort: record_check() never raises, it returns an error message instead.
"""

from __future__ import annotations

import datetime
import os
import stat
from typing import Optional

STATE_ENV = "AZBDIAG_STATE_DIR"   # the state directory, fix journal included
LOG_ENV = "AZBDIAG_LOG_DIR"
NO_RECORD_ENV = "AZBDIAG_NO_RECORD"
STATE_DIR = "/var/lib/azbdiag"
LOG_DIR = "/var/log/azbdiag"
LAST_REPORT = "last-report.json"
LOG_FILE = "azbdiag.log"
LOG_MAX_BYTES = 1024 * 1024      # past this the log keeps its newest half
SUMMARY_MAX = 400


def state_dir(host=None) -> str:
    """This machine's state directory (`host` is accepted for callers that have one: the
    directory is the same for every root)."""
    return os.environ.get(STATE_ENV) or STATE_DIR


def log_dir(host=None) -> str:
    return os.environ.get(LOG_ENV) or LOG_DIR


def journal_dir(host=None) -> str:
    return os.path.join(state_dir(host), "journal")


def journal_dir_on_disk() -> str:
    """Where earlier builds of azbdiag kept the journal of a --root run: on the disk. Never read;
    `undo --list` only says it is there."""
    return STATE_DIR + "/journal"


def last_report_path(host=None) -> str:
    return os.path.join(state_dir(host), LAST_REPORT)


def log_path(host=None) -> str:
    return os.path.join(log_dir(host), LOG_FILE)


def ensure_dir(path: str) -> None:
    """Create `path` (and parents) 0700 whatever the umask; an existing directory keeps its
    mode; a symlink or a file there is refused (OSError)."""
    if os.path.isdir(path) and not os.path.islink(path):
        return
    from azbdiag.fix.files import make_private_dir

    make_private_dir(path)


def untrusted_reason(st: os.stat_result) -> Optional[str]:
    """Why a folder of azbdiag's state (or a file in it) with this stat is not trusted, or
    None: it must belong to this user (or root) and be writable by nobody else."""
    if st.st_uid not in (os.geteuid(), 0):
        return f"it belongs to uid {st.st_uid}"
    if st.st_mode & 0o022:
        return f"others can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


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
    from azbdiag.fix.files import write_local

    write_local(path, tail[cut + 1:] if cut >= 0 else b"", 0o600)


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
        # Imported here: a check that records nothing (offline, not root) does not pay for them.
        from azbdiag import journald, textfile
        from azbdiag.fix.files import write_local

        problems = []
        try:
            ensure_dir(state_dir(host))
            write_local(last_report_path(host), report_json.encode("utf-8", "replace"), 0o600)
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
