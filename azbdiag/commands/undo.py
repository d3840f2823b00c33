"""`azbdiag undo`: revert a fix run from its journal (azbdiag/fix/undo.py); same exit codes
as fix."""

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
        for line in describe_runs(host):
            typer.echo(line)
        raise typer.Exit(EXIT_OK)
    code = run_undo(host, run, dry_run=dry_run, yes=yes, confirm=confirm,
                    out=typer.echo, err=err)
    raise typer.Exit(code)
