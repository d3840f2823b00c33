"""`azbdiag collect`: one redacted .tar.gz for a Microsoft support ticket."""

from __future__ import annotations

import datetime
import os
import re
from typing import Optional

import typer

from azbdiag.app import EXIT_OK, Fatal, debug_enabled, err, make_host, seconds, usage_error

MAX_CAP_MB = 4096


def default_name(hostname: str) -> str:
    """azbdiag-collect-HOST-YYYYmmddTHHMMSSZ.tar.gz, the host name reduced to safe characters."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", hostname or "").strip(".-")[:63] or "unknown"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"azbdiag-collect-{host}-{stamp}.tar.gz"


def collect(
    root: str = typer.Option("/", "--root", metavar="PATH", help="Collect from an OS disk mounted at PATH "
                                                 "(offline, on a rescue VM)."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="Write the bundle to FILE (default ./azbdiag-collect-HOST-TIME.tar.gz); an "
             "existing file is never replaced."),
    max_size: int = typer.Option(
        64, "--max-size", metavar="MB", help="Cap on the bundle's contents in MB; what does not fit is left "
                               "out (rotated logs first) and listed."),
    deadline: float = typer.Option(180.0, "--deadline", metavar="SECONDS", callback=seconds,
                                   help="Seconds the check run for the report may take."),
):
    """Gather a support bundle: the report, logs, status, settings and configurations, secrets
    removed, in one .tar.gz of mode 0600 with a manifest."""
    from azbdiag import render, report
    from azbdiag.collect import collect as gather
    from azbdiag.fix.files import create_exclusive
    from azbdiag.redact import RULES

    if not 1 <= max_size <= MAX_CAP_MB:
        usage_error(f"--max-size must be between 1 and {MAX_CAP_MB} (MB), not {max_size}")
    host = make_host(root)
    path = os.path.abspath(output or default_name(host.facts().hostname))
    if os.path.lexists(path):
        usage_error(f"--output {path} exists: azbdiag never replaces a file; give another name")
    if not os.path.isdir(os.path.dirname(path)):
        usage_error(f"--output {path}: the directory {os.path.dirname(path)} does not exist")
    _ctx, _results, doc = report.run_check(host, options={"debug": debug_enabled(),
                                                          "deadline": deadline})
    bundle, meta = gather(host, render.report(doc, "json"), max_size * 1024 * 1024)
    data = bundle.tar_gz(bundle.manifest(meta, RULES))
    try:
        create_exclusive(path, data, 0o600)
    except FileExistsError:
        usage_error(f"--output {path} exists: azbdiag never replaces a file; give another name")
    except OSError as exc:
        raise Fatal(f"cannot write {path}: {exc.strerror or exc}") from None
    total = sum(n for m in bundle.members for n in m.redactions.values())
    typer.echo(f"{path}: {len(bundle.members) + 1} files, {len(data)} bytes, mode 0600; "
               f"{total} secret(s) redacted (see manifest.json)")
    if not host.is_root:
        err("note: not root: files only root can read are left out (manifest.json lists them); "
            "re-run with sudo")
    capped = bundle.capped
    if capped:
        names = ", ".join(e["source"] for e in capped[:5]) + (
            f" and {len(capped) - 5} more" if len(capped) > 5 else "")
        err(f"the bundle reached its size cap of {max_size} MB: left out {len(capped)} "
            f"file(s) ({names}); they are listed in manifest.json; raise the cap with "
            f"--max-size")
    raise typer.Exit(EXIT_OK)
