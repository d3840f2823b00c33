"""`azbdiag fix`: repair what check found, through the shared fixer (azbdiag/fix/run.py).

Each `fix_<id>` parameter is the flag `--<id>` of the fix registered as `<id>` with `@fix`
(azbdiag/fix/__init__.py); tests/test_cli_layout.py fails when a registered fix has no flag here,
or a flag no fix. Exit codes: 0 applied (or nothing to do) and the re-check is clean, 1 applied
but something still fails, 2 usage error, 3 could not run or refused for safety, 4 not confirmed.
"""

from __future__ import annotations

import contextlib
import sys
from typing import List, Optional

import typer

from azbdiag.app import (
    confirm,
    debug_enabled,
    err,
    make_host,
    seconds,
    usage_error,
)

FLAG_PREFIX = "fix_"


def fix(
    ctx: typer.Context,
    fix_freeze: bool = typer.Option(False, "--freeze",
                                    help="Repair file systems the backup cannot freeze."),
    fix_vmbackup_conf: bool = typer.Option(False, "--vmbackup-conf",
                                           help="Repair /etc/azure/vmbackup.conf."),
    fix_selinux: bool = typer.Option(False, "--selinux", help="Repair SELinux labels and settings."),
    fix_agent: bool = typer.Option(False, "--agent", help="Repair the guest agent's setup."),
    fix_scripts: bool = typer.Option(False, "--scripts", help="Repair pre/post script settings."),
    fix_dhcp: bool = typer.Option(False, "--dhcp", help="Repair DHCP on the primary NIC."),
    all_fixes: bool = typer.Option(False, "--all", help="Every fix above."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Apply without asking (needed when there is no terminal)."),
    root: str = typer.Option("/", "--root", metavar="PATH",
                             help="Fix an OS disk mounted at PATH (offline)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount", metavar="PATH", help="Limit --freeze to this mount point (repeatable)."),
    deadline: float = typer.Option(180.0, "--deadline", metavar="SECONDS", callback=seconds,
                                   help="Seconds each check run may take."),
    disk: Optional[List[str]] = typer.Option(
        None, "--disk", metavar="DEVICE",
        help="Rescue VM: with --freeze, repair the file systems of this attached disk that are "
             "not mounted (repeatable; root)."),
):
    """Repair what `azbdiag check` found: print a plan, confirm, back up, apply, re-check."""
    flags = fix_flags(ctx.command)
    if all_fixes:
        from azbdiag.fix import registered_fixes

        ids = list(registered_fixes())
    else:
        ids = [fix_id for name, fix_id in flags if ctx.params.get(name)]
    if not ids:
        raise typer.BadParameter("choose what to fix: " + ", ".join(f"--{f}" for _, f in flags)
                                 + " or --all", param_hint="FIX")
    from azbdiag.fix.run import run_fix
    from azbdiag.report import run_check

    host = make_host(root)
    options = {"debug": debug_enabled(), "deadline": deadline, "mounts": list(mount or []),
               "fixing": True}
    with contextlib.ExitStack() as stack:
        if disk:
            _with_disks(ctx, stack, host, ids, disk, options)
        code = run_fix(host, ids, check=run_check, options=options, dry_run=dry_run, yes=yes,
                       confirm=confirm, argv=list(sys.argv), out=typer.echo, err=err)
    raise typer.Exit(code)


def _with_disks(ctx, stack, host, ids, disk, options) -> None:
    """--disk: the attached disks prepared as for `check --disk` (or refused: one line, exit
    2) for the whole run; only the rescue rules are checked, never this machine's own."""
    from azbdiag.commands.check import attach_disks
    from azbdiag.fix.offline_fs import OFFLINE_RULES

    if ids != ["freeze"]:
        usage_error("--disk goes with --freeze only (the other fixes would change this "
                    "machine)", "--disk")
    attach_disks(ctx, stack, host, disk, options, "repairs")
    options["only_rules"] = list(OFFLINE_RULES)


def fix_flags(command) -> List[tuple]:
    """(parameter name, fix id) of each fix flag of the click `command`, in --help order."""
    return [(p.name, p.name[len(FLAG_PREFIX):].replace("_", "-")) for p in command.params
            if p.name.startswith(FLAG_PREFIX)]
