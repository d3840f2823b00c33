"""/etc/azure/workload.conf: a database workload the extension handles itself (then it runs
that flow instead of the pre/post scripts). Text in, data out; nothing here raises."""

from __future__ import annotations

import configparser
from typing import Any, Optional

WORKLOADS = ("oracle", "mysql", "mariadb", "postgres")


def parse_workload_name(raw: Any) -> Optional[str]:
    """The workload named in /etc/azure/workload.conf [workload] workload_name when it is one
    the extension supports (then it runs that flow instead of the pre/post scripts).

    >>> parse_workload_name("[workload]\\nworkload_name = Oracle\\n")
    'oracle'
    >>> parse_workload_name("[workload]\\nworkload_name = db2\\n") is None
    True
    """
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return None
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(raw)
        value = parser.get("workload", "workload_name", fallback="")
    except Exception:  # noqa: BLE001 - a parser never raises
        return None
    value = (value or "").strip().lower()
    return value if value in WORKLOADS else None
