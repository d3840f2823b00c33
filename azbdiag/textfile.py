"""The check's metrics as a file for node_exporter's textfile collector.

When AZBDIAG_TEXTFILE_DIR is set (the systemd unit reads it from /etc/default/azbdiag or
/etc/sysconfig/azbdiag), every check that records its result (live, root: azbdiag/state.py)
also writes `azbdiag.prom` there in the format of `check --format prometheus`. The file is
written to a temporary name in the same directory and renamed, so the collector never reads
half a file (and it ignores the temporary name, which does not end in .prom).

The file is world-readable (0644), unlike azbdiag's reports (0600): node_exporter runs as its
own unprivileged user and must read it. It holds only rule ids, statuses, counts, codes and
times; no evidence, path or setting from the machine.
"""

from __future__ import annotations

import os
from typing import Optional

DIR_ENV = "AZBDIAG_TEXTFILE_DIR"
NAME = "azbdiag.prom"
MODE = 0o644


def write(doc: dict) -> Optional[str]:
    """Write the metrics file when AZBDIAG_TEXTFILE_DIR is set. None, or why it failed."""
    directory = os.environ.get(DIR_ENV, "").strip()
    if not directory:
        return None
    try:
        if not os.path.isabs(directory):
            return f"{DIR_ENV}={directory} is not an absolute path"
        if not os.path.isdir(directory):
            return f"{DIR_ENV}: {directory} is not a directory (node_exporter's package creates it)"
        from azbdiag.fix.files import write_local
        from azbdiag.render import prometheus

        write_local(os.path.join(directory, NAME), prometheus.report(doc).encode("utf-8"), MODE)
        return None
    except Exception as exc:  # noqa: BLE001 - best effort, never fatal
        return f"{os.path.join(directory, NAME)}: {getattr(exc, 'strerror', None) or exc}"
