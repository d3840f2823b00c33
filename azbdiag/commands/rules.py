"""`azbdiag rules`: list every rule with its flags and the Azure error codes it explains."""

from __future__ import annotations

import typer

from azbdiag.app import choice_option

FORMATS = ("text", "json")  # azbdiag.render.CATALOGUE_FORMATS


def list_rules(
    fmt: str = choice_option("text", "--format", choices=FORMATS,
                             help="A table, or JSON for scripts."),
):
    """List every rule: id, title, error codes, needs-root, live-only."""
    from azbdiag import render, rule_index

    typer.echo(render.rule_list(rule_index.rules(), fmt), nl=False)
