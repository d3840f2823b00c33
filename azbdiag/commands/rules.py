"""`azbdiag rules`: list every rule with its flags and the Azure error codes it explains."""

from __future__ import annotations

import typer

from azbdiag.app import choice


def list_rules(
    fmt: str = typer.Option("text", "--format", help="text or json."),
):
    """List every rule: id, title, error codes, needs-root, live-only."""
    from azbdiag import engine, render

    fmt = choice(fmt, render.CATALOGUE_FORMATS, "--format")
    typer.echo(render.rule_list(engine.all_rules(), fmt), nl=False)
