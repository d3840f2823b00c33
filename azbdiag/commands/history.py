"""`azbdiag history`: every backup run the extension's logs and status files still hold."""

from __future__ import annotations

from typing import Optional

import typer

from azbdiag.app import EXIT_CANNOT_RUN, EXIT_OK, Fatal, choice, make_host


def history(
    root: str = typer.Option("/", "--root", help="Read an OS disk mounted at PATH (offline)."),
    fmt: str = typer.Option("text", "--format", help="text, json or html."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write it to FILE."),
    last: int = typer.Option(0, "--last", min=0, help="Show only the newest N runs (0: all)."),
    max_mib: int = typer.Option(32, "--max-mib", min=1, max=1024,
                                help="Read at most this many MiB of logs, newest first."),
):
    """Backup runs from the extension's logs and status files: result, frozen mounts, and
    freeze, snapshot and thaw times against their timeouts."""
    from azbdiag import render
    from azbdiag.history import build_history
    from azbdiag.model import SkipRule

    fmt = choice(fmt, render.HISTORY_FORMATS, "--format")
    host = make_host(root)
    try:
        doc = build_history(host, budget=max_mib * 1024 * 1024, last=last)
    except SkipRule as exc:
        raise Fatal(exc.summary, EXIT_CANNOT_RUN) from None
    try:
        render.write_output(render.history(doc, fmt), output)
    except OSError as exc:
        raise Fatal(f"cannot write {output}: {exc.strerror or exc}") from None
    raise typer.Exit(EXIT_OK)
