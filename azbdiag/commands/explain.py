"""`azbdiag explain`: what an Azure backup error code or extension status code means."""

from __future__ import annotations

from typing import Optional

import typer

from azbdiag.app import EXIT_FINDINGS, choice_option, err

FORMATS = ("text", "json")  # azbdiag.render.CATALOGUE_FORMATS


def explain(
    code: Optional[str] = typer.Argument(
        None, help="Azure error code name or number, or an extension status code."),
    list_all: bool = typer.Option(False, "--list", help="List every known code."),
    fmt: str = choice_option("text", "--format", choices=FORMATS,
                             help="Readable text, or JSON for scripts."),
):
    """Explain an Azure backup error code: its meaning for Linux, what to do."""
    from azbdiag import catalogue, render

    if list_all:
        typer.echo(render.code_list(catalogue.list_rows(), fmt), nl=False)
        return
    if not code:
        raise typer.BadParameter("give a CODE or --list", param_hint="CODE")
    entry = catalogue.lookup(code)
    if entry is None:
        err(f"unknown error code {code!r}; `azbdiag explain --list` shows the known ones")
        raise typer.Exit(EXIT_FINDINGS)
    typer.echo(render.code_entry(catalogue.as_dict(entry), fmt), nl=False)
