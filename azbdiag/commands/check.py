"""`azbdiag check`: run the rules, print the report, record it, exit by --fail-on (and 5 when a
check could not run)."""

from __future__ import annotations

import contextlib
import os
from typing import List, Optional

import typer

from azbdiag.app import (
    Fatal,
    choice_option,
    debug_enabled,
    err,
    given_on_command_line,
    make_host,
    seconds,
    usage_error,
)
from azbdiag.cli_core import (
    CHECK_DEADLINE,
    FAIL_ON,
    check_options,
    finish_check,
    unknown_rule_ids,
)

# The report formats (azbdiag.render.REPORT_FORMATS, which the command line does not import at
# start-up; tests/test_cli_contract.py checks they agree).
FORMATS = ("text", "json", "brief", "prometheus")


def check(
    ctx: typer.Context,
    root: str = typer.Option("/", "--root", metavar="PATH",
                             help="Inspect an OS disk mounted at PATH (offline)."),
    fmt: str = choice_option("text", "--format", choices=FORMATS,
                             help="The report verdict first, the JSON report, one line per finding, or "
                                  "node_exporter metrics."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write the report to FILE."),
    only: Optional[List[str]] = typer.Option(
        None, "--only", metavar="ID", help="Run only this rule id or prefix (repeatable)."),
    skip: Optional[List[str]] = typer.Option(
        None, "--skip", metavar="ID", help="Skip this rule id or prefix (repeatable)."),
    fail_on: str = choice_option("fail", "--fail-on", choices=FAIL_ON,
                                 help="Exit 1 when a result reaches this level."),
    brief: bool = typer.Option(False, "--brief",
                               help="Same as --format brief: one line per finding, under 4 KB "
                                    "(Run Command)."),
    deadline: float = typer.Option(CHECK_DEADLINE, "--deadline", metavar="SECONDS", callback=seconds,
                                   help="Seconds the whole run may take."),
    all_rules: bool = typer.Option(False, "--all",
                                   help="Text: list every rule, not only the findings."),
    freeze_test: bool = typer.Option(
        False, "--freeze-test",
        help="Also freeze and thaw each mount the backup would freeze (root, live)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount", metavar="PATH",
        help="Limit the per-mount freeze checks and --freeze-test to this mount point (repeatable)."),
    disk: Optional[List[str]] = typer.Option(
        None, "--disk", metavar="DEVICE",
        help="Rescue VM: also check, read-only, the file systems of this attached disk that are "
             "not mounted (repeatable; root)."),
):
    """Check this machine (or --root) for causes of Azure VM backup failures.

    Exit 0: nothing reached --fail-on; 1: something did; 5: a check could not run (error).
    """
    from azbdiag import engine, render, report

    if brief:
        if fmt != "brief" and given_on_command_line(ctx, "fmt"):
            usage_error(f"--brief and --format {fmt} contradict each other: --brief is "
                        f"--format brief; give one of them")
        fmt = "brief"
    ids = [r.id for r in engine.all_rules()]
    for option, patterns in (("--only", only), ("--skip", skip)):
        problem = unknown_rule_ids(patterns or (), ids)
        if problem:
            usage_error(problem, option)
    try:
        render.check_output(output)    # before the run: a bad path wastes no deadline
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    host = make_host(root)
    options = check_options(debug_enabled(), deadline, freeze_test, mount or ())
    with contextlib.ExitStack() as stack:
        if disk:
            only = _with_disks(ctx, stack, host, disk, options, only)
        _ctx, results, doc = report.run_check(host, only or (), skip or (), options)
    # A --disk run reports on another machine's disk, not on this one: nothing recorded.
    raise typer.Exit(finish_check(host, doc, results, fmt=fmt, output=output, full=all_rules,
                                  fail_on=fail_on, record=not disk, err=err))


# An offline read-only check reads every metadata block: far longer than the default deadline.
DISK_DEADLINE = 3600.0


def attach_disks(ctx, stack, host, disk, options, needs_root_for: str) -> None:
    """--disk of check and fix: the attached disks prepared for the whole run (released by
    `stack`), or refused in one line (exit 2; exit 3 when the disk cannot be used), and a
    deadline long enough for a full read unless --deadline was given."""
    from azbdiag import disks

    if os.geteuid() != 0:
        usage_error(f"--disk needs root (it {needs_root_for} block devices): re-run with sudo")
    try:
        options["disks"] = stack.enter_context(disks.attached(host, disk, err))
    except disks.DiskRefused as exc:
        usage_error(str(exc))
    except disks.DiskUnavailable as exc:
        raise Fatal(f"--disk: {exc}") from None
    if not given_on_command_line(ctx, "deadline"):
        options["deadline"] = max(options["deadline"], DISK_DEADLINE)


def _with_disks(ctx, stack, host, disk, options, only):
    """--disk: the attached disks prepared for freeze.disk_fs_state for as long as the
    check runs; returns the rule selection."""
    attach_disks(ctx, stack, host, disk, options, "reads")
    # Without --root this machine is the rescue VM: its own rules would describe it, not the disk.
    if only or not host.live:
        return only
    return ["freeze.disk_fs_state"]
