"""`azbdiag explain`: what an Azure backup error code or extension status code means."""

from __future__ import annotations

from typing import Optional

import typer

from azbdiag.app import choice_option, usage_error

FORMATS = ("text", "json")  # azbdiag.render.CATALOGUE_FORMATS


def explain(
    code: Optional[str] = typer.Argument(
        None, help="Azure error code name or number, or an extension status code."),
    list_all: bool = typer.Option(False, "--list", help="List every known code."),
    fmt: str = choice_option("text", "--format", choices=FORMATS,
                             help="Readable text, or JSON for scripts."),
):
    """Explain an Azure backup error code: its meaning for Linux, what to do.

    An unknown code is a usage error (exit 2) that names the closest known codes.
    """
    from azbdiag import catalogue, render

    if list_all:
        if code:
            usage_error(f"give a CODE or --list, not both ({code!r} and --list)")
        typer.echo(render.code_list(catalogue.list_rows(), fmt), nl=False)
        return
    if not code:
        usage_error("give a CODE (for example UserErrorFsFreezeFailed or 121), or --list")
    entry = catalogue.lookup(code)
    if entry is None:
        usage_error(f"unknown error code {render.one_line(code)!r}; {_close_codes(code)}")
    typer.echo(render.code_entry(catalogue.as_dict(entry), fmt), nl=False)


def _close_codes(code: str) -> str:
    from azbdiag import catalogue

    names = {}
    for row in catalogue.list_rows():
        names.setdefault(row["code"].lower(), row["code"])
    import difflib

    close = difflib.get_close_matches(code.strip().lower(), list(names), n=3, cutoff=0.6)
    if close:
        return "did you mean " + ", ".join(names[c] for c in close) + "?"
    return "`azbdiag explain --list` shows the known ones"
