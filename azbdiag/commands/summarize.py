"""`azbdiag summarize`: one table across many hosts' JSON reports (azbdiag/summarize.py).

Exit 0 when no host has a fail, 1 when some host has one, 5 when some host's report has an
error result (a check that could not run), 3 when no file is a valid report.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from azbdiag.app import (
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_OK,
    Fatal,
    choice_option,
    err,
)

FORMATS = ("text", "json", "markdown", "csv", "html")  # azbdiag.render.SUMMARY_FORMATS
MAX_JOBS = 64


def summarize(
    reports: List[str] = typer.Argument(
        ..., help="Report files, or folders searched recursively for *.json "
                  "(for example the reports/ folder the Ansible playbook fetches into)."),
    fmt: str = choice_option("text", "--format", choices=FORMATS,
                             help="The table as text, JSON, Markdown, CSV or one HTML page."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write the summary to FILE."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=0, max=MAX_JOBS, metavar="N",
                             help="Worker processes reading reports (default 1, which costs "
                                  "the least CPU; 0: one per CPU, at most 8)."),
):
    """Summarize many hosts' JSON reports: failing rules by error code.

    Exit 0: no host has a fail; 1: a host has one; 5: a host has an error; 3: no valid report.
    """
    from azbdiag import render
    from azbdiag.render.summary_parts import chunks
    from azbdiag.summarize import summarize_paths

    if output not in (None, "-"):   # (check_output imports the fixer's file layer)
        try:
            render.check_output(output)
        except render.OutputError as exc:
            raise Fatal(str(exc), exc.code) from None
    rejected: List[str] = []
    summary = summarize_paths(
        reports, on_reject=lambda p, r: rejected.append(f"{render.one_line(p)}: {r}"), jobs=jobs)
    if not summary["hosts"]:  # one line, whatever the number of files
        if not rejected:
            raise Fatal(f"no report found in {', '.join(map(render.one_line, reports))}")
        shown = "; ".join(rejected[:3]) + (f"; and {len(rejected) - 3} more"
                                           if len(rejected) > 3 else "")
        raise Fatal(f"no valid report found; skipped {shown}", EXIT_CANNOT_RUN)
    for line in rejected:
        err(f"skipped {line}")
    try:
        if output in (None, "-"):   # written as it is rendered: never held whole
            _print(chunks(summary, fmt))
        else:
            render.write_output("".join(chunks(summary, fmt)), output)
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    totals = summary["totals"]
    if totals["hosts_error"]:
        raise typer.Exit(EXIT_INCOMPLETE)
    raise typer.Exit(EXIT_FINDINGS if totals["hosts_fail"] else EXIT_OK)


def _print(pieces) -> None:
    """Write `pieces` to stdout; when the reader has gone (`azbdiag summarize DIR | head`),
    stop writing and go on to the exit status."""
    import os
    import sys

    try:
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so that the flush at exit cannot fail
        os.close(devnull)
