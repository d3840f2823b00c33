"""`azbdiag check`: run the rules, print the report, record it, exit by --fail-on."""

from __future__ import annotations

import contextlib
import os
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
    disk: Optional[List[str]] = typer.Option(
        None, "--disk",
        help="Rescue VM: also check, read-only, the file systems of this attached disk that are "
             "not mounted (repeatable; root)."),
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
    host = make_host(root)
    options = {"debug": debug_enabled(), "deadline": deadline, "freeze_test": freeze_test,
               "mounts": list(mount or [])}
    with contextlib.ExitStack() as stack:
        if disk:
            only = _with_disks(ctx, stack, host, disk, options, only)
        _ctx, results, doc = report.run_check(host, only or (), skip or (), options)
    # Keep the last report and a log line (live, root); never fatal. A --disk run reports on
    # another machine's disk, not on this one.
    report_json = render.report(doc, "json")
    problem = None if disk else state.record_check(host, doc, report_json)
    if problem:
        err(f"note: could not record this run: {problem}")
    if fmt == "json":
        text = report_json
    else:
        from azbdiag.render.text import use_colour

        text = render.report(doc, fmt, colour=fmt == "text" and not output and use_colour())
    render.write_output(text, output)
    raise typer.Exit(EXIT_FINDINGS if report.worst_reaches(results, fail_on) else EXIT_OK)


# An offline read-only check reads every metadata block: far longer than the default deadline.
DISK_DEADLINE = 3600.0


def _with_disks(ctx, stack, host, disk, options, only):
    """--disk: the attached disks prepared (or refused: one line, exit 2) for
    freeze.disk_fs_state for as long as the check runs; returns the rule selection."""
    from azbdiag import disks

    if os.geteuid() != 0:
        usage_error("--disk needs root (it reads block devices): re-run with sudo")
    try:
        options["disks"] = stack.enter_context(disks.attached(host, disk, err))
    except disks.DiskRefused as exc:
        usage_error(str(exc))
    except disks.DiskUnavailable as exc:
        raise Fatal(f"--disk: {exc}") from None
    if not given_on_command_line(ctx, "deadline"):
        options["deadline"] = max(options["deadline"], DISK_DEADLINE)
    # Without --root this machine is the rescue VM: its own rules would describe it, not the disk.
    if only or not host.live:
        return only
    return ["freeze.disk_fs_state"]
