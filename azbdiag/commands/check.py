"""`azbdiag check`: run the rules, print the report, record it, exit by --fail-on."""

from __future__ import annotations

from typing import List, Optional

import typer

from azbdiag.app import (
    EXIT_FINDINGS,
    EXIT_OK,
    Fatal,
    choice,
    debug_enabled,
    err,
    given_on_command_line,
    make_host,
    usage_error,
)


def check(
    ctx: typer.Context,
    root: str = typer.Option("/", "--root", help="Inspect an OS disk mounted at PATH (offline)."),
    fmt: str = typer.Option("text", "--format", help="text, json or brief."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to FILE."),
    only: Optional[List[str]] = typer.Option(
        None, "--only", help="Run only this rule id or prefix (repeatable)."),
    skip: Optional[List[str]] = typer.Option(
        None, "--skip", help="Skip this rule id or prefix (repeatable)."),
    fail_on: str = typer.Option("fail", "--fail-on", help="Exit 1 when a result reaches warn or fail."),
    brief: bool = typer.Option(False, "--brief",
                               help="Same as --format brief: one line per finding, under 4 KB "
                                    "(Run Command)."),
    deadline: float = typer.Option(180.0, "--deadline", help="Seconds the whole run may take."),
    freeze_test: bool = typer.Option(
        False, "--freeze-test",
        help="Also freeze and thaw each mount the backup would freeze (root, live)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount",
        help="Limit the per-mount freeze checks and --freeze-test to this mount point (repeatable)."),
):
    """Check this machine (or --root) for causes of Azure VM backup failures."""
    from azbdiag import render, report, state

    fmt = choice(fmt, render.REPORT_FORMATS, "--format")
    if brief:
        if fmt != "brief" and given_on_command_line(ctx, "fmt"):
            usage_error(f"--brief and --format {fmt} contradict each other: --brief is "
                        f"--format brief; give one of them")
        fmt = "brief"
    fail_on = choice(fail_on, ("warn", "fail"), "--fail-on")
    try:
        render.check_output(output)    # before the run: a bad path wastes no deadline
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    host = make_host(root)
    options = {"debug": debug_enabled(), "deadline": deadline, "freeze_test": freeze_test,
               "mounts": list(mount or [])}
    _ctx, results, doc = report.run_check(host, only or (), skip or (), options)
    # Keep the last report and a log line (live, root); never fatal.
    report_json = render.report(doc, "json")
    problem = state.record_check(host, doc, report_json)
    if problem:
        err(f"note: could not record this run: {problem}")
    if fmt == "json":
        text = report_json
    else:
        from azbdiag.render.text import use_colour

        text = render.report(doc, fmt, colour=fmt == "text" and not output and use_colour())
    try:
        render.write_output(text, output)
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    raise typer.Exit(EXIT_FINDINGS if report.worst_reaches(results, fail_on) else EXIT_OK)
