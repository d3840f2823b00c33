"""`azbdiag summarize`: one table across many hosts' JSON reports (azbdiag/summarize.py).

Exit 0 when no host has a fail, 1 when some host has one, 3 when no file is a valid report.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from azbdiag.app import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK, Fatal, choice, err


def summarize(
    reports: List[str] = typer.Argument(
        ..., help="Report files, or folders searched recursively for *.json "
                  "(for example the reports/ folder the Ansible playbook fetches into)."),
    fmt: str = typer.Option("text", "--format", help="text, json, markdown, csv or html."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the summary to FILE."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes reading reports (0: one per CPU, at most 8)."),
):
    """Summarize many hosts' JSON reports: failing rules by Azure error code, hosts, fix ids.

    Exit 0 when no host has a fail, 1 when some host has one, 3 when no file is a valid report.
    """
    from azbdiag import render
    from azbdiag.summarize import summarize_paths

    fmt = choice(fmt, render.SUMMARY_FORMATS, "--format")
    try:
        render.check_output(output)
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    summary = summarize_paths(reports, on_reject=lambda p, r: err(f"skipped {render.one_line(p)}: {r}"),
                              jobs=jobs)
    if not summary["hosts"]:
        raise Fatal(f"no valid report among the {len(summary['rejected'])} path(s) given",
                    EXIT_CANNOT_RUN)
    try:
        render.write_output(render.summary(summary, fmt), output)
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    raise typer.Exit(EXIT_FINDINGS if summary["totals"]["hosts_fail"] else EXIT_OK)
