"""The check's result in the systemd journal, through journald's native protocol (datagrams of
KEY=value fields on /run/systemd/journal/socket; systemd's doc "Native Journal Protocol"), so
that journald-based pipelines can alert without parsing text:

- one entry per run, MESSAGE_ID 277c8b13adbd48a7b6c891784609ce94, with the summary line as
  MESSAGE, the counts (AZBDIAG_FAIL ...) and the last backup (AZBDIAG_LAST_BACKUP ...);
- one entry per warn, fail or error finding, MESSAGE_ID 26192388b9c3486daa4b7d91f7e6e152,
  with AZBDIAG_RULE (the rule id), AZBDIAG_STATUS, AZBDIAG_ERROR_CODES and AZBDIAG_FIX.

    journalctl MESSAGE_ID=26192388b9c3486daa4b7d91f7e6e152 AZBDIAG_STATUS=fail

The ids are fixed forever. Nothing is sent when the socket does not exist (a container, a
system without journald), and nothing here raises: a check never fails because of its log.
AZBDIAG_JOURNAL_SOCKET names another socket (tests).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Dict, List, Optional

SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "AZBDIAG_JOURNAL_SOCKET"
MESSAGE_ID_RUN = "277c8b13adbd48a7b6c891784609ce94"
MESSAGE_ID_FINDING = "26192388b9c3486daa4b7d91f7e6e152"
PRIORITY = {"fail": 3, "error": 3, "warn": 4}          # err, warning; a clean run is info (6)
MAX_FINDINGS = 100
MAX_VALUE = 4000


def encode(fields: Dict[str, str]) -> bytes:
    """One journal entry in the native format: KEY=value lines, and the length-prefixed form
    for values with a newline.

    >>> encode({"MESSAGE": "a", "X": "b\\nc"})
    b'MESSAGE=a\\nX\\n\\x03\\x00\\x00\\x00\\x00\\x00\\x00\\x00b\\nc\\n'
    """
    out = bytearray()
    for key, value in fields.items():
        data = str(value)[:MAX_VALUE].encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


def entries(doc: dict, summary_line: str) -> List[Dict[str, str]]:
    """The entries of one check run: the run's, then one per finding (at most MAX_FINDINGS)."""
    s = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
    version = str((doc.get("tool") or {}).get("version", ""))
    worst = 3 if s.get("fail") or s.get("error") else 4 if s.get("warn") else 6
    run = {"MESSAGE": summary_line, "MESSAGE_ID": MESSAGE_ID_RUN, "PRIORITY": str(worst),
           "SYSLOG_IDENTIFIER": "azbdiag", "AZBDIAG_VERSION": version}
    for key in ("fail", "warn", "error", "ok", "skipped"):
        run[f"AZBDIAG_{key.upper()}"] = str(s.get(key, 0))
    last = doc.get("last_backup") if isinstance(doc.get("last_backup"), dict) else None
    if last:
        run["AZBDIAG_LAST_BACKUP"] = str(last.get("outcome") or "")
        for key in ("code", "azure_error", "time"):
            if last.get(key) is not None:
                run[f"AZBDIAG_LAST_BACKUP_{key.upper()}"] = str(last[key])
    out = [run]
    for r in (doc.get("results") or [])[:1000]:
        if not isinstance(r, dict) or r.get("status") not in PRIORITY:
            continue
        if len(out) > MAX_FINDINGS:
            break
        summary = " ".join(str(r.get("summary", "")).split())
        entry = {"MESSAGE": f"azbdiag {r['status']} {r.get('id')}: {summary}",
                 "MESSAGE_ID": MESSAGE_ID_FINDING, "PRIORITY": str(PRIORITY[r["status"]]),
                 "SYSLOG_IDENTIFIER": "azbdiag", "AZBDIAG_VERSION": version,
                 "AZBDIAG_RULE": str(r.get("id")), "AZBDIAG_STATUS": str(r["status"])}
        if r.get("error_codes"):
            entry["AZBDIAG_ERROR_CODES"] = ",".join(str(c) for c in r["error_codes"])
        if r.get("fix"):
            entry["AZBDIAG_FIX"] = str(r["fix"])
        out.append(entry)
    return out


def socket_path() -> str:
    return os.environ.get(SOCKET_ENV) or SOCKET


def send(doc: dict, summary_line: str) -> Optional[str]:
    """Send the run's entries; None when sent or when there is no journal, else why not."""
    path = socket_path()
    try:
        if not os.path.exists(path):
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.settimeout(2)
            for entry in entries(doc, summary_line):
                sock.sendto(encode(entry), path)
        finally:
            sock.close()
        return None
    except Exception as exc:  # noqa: BLE001 - best effort, never fatal
        return f"journal ({path}): {getattr(exc, 'strerror', None) or exc}"
