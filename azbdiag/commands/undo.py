"""`azbdiag undo`: revert a fix run from its journal (azbdiag/fix/undo.py).

Exit codes: 0 undone (or nothing left to undo; `--list` listed), 1 a step could not be undone
(changed since the fix, or it failed), 2 usage error, 3 could not run (no such run, the journal
unreadable or untrusted, the lock taken), 4 not confirmed, 128+N stopped by signal N while
finishing an interrupted run."""

from __future__ import annotations

from typing import Optional

import typer

from azbdiag.app import EXIT_OK, confirm, err, make_host


def undo(
    run: Optional[str] = typer.Argument(None, help="Run id from the journal (default: newest)."),
    root: str = typer.Option("/", "--root", metavar="PATH", help="Undo on an OS disk mounted at PATH."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be undone."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Undo without asking."),
    list_runs: bool = typer.Option(False, "--list", help="List the journal's runs."),
):
    """Revert a fix run from its journal (files restored byte for byte, newest run first)."""
    from azbdiag.fix.undo import describe_runs, run_undo

    host = make_host(root)
    if list_runs:
        lines, code = describe_runs(host)
        for line in lines:
            (typer.echo if code == EXIT_OK else err)(line)
        raise typer.Exit(code)
    code = run_undo(host, run, dry_run=dry_run, yes=yes, confirm=confirm,
                    out=typer.echo, err=err)
    raise typer.Exit(code)
