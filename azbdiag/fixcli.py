"""`azbdiag fix` and `azbdiag undo`: the command line of the shared fixer (azbdiag/fixer.py).

Exit codes of fix and undo: 0 applied (or nothing to do) and the re-check is clean, 1 applied
but something still fails, 2 usage error, 3 could not run or refused for safety, 4 not
confirmed.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from azbdiag.cli import (  # noqa: F401  (EXIT_* documented for the contract)
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_OK,
    Fatal,
    _state,
    app,
    err,
    guarded,
    make_host,
    run_check,
)
from azbdiag.fixer import FIX_IDS, run_fix, run_undo


def _confirm(question: str) -> bool:
    return typer.confirm(question, default=False)


@app.command()
@guarded
def fix(
    freeze: bool = typer.Option(False, "--freeze",
                                help="Repair file systems the backup cannot freeze."),
    vmbackup_conf: bool = typer.Option(False, "--vmbackup-conf",
                                       help="Repair /etc/azure/vmbackup.conf."),
    selinux: bool = typer.Option(False, "--selinux", help="Repair SELinux labels and settings."),
    agent: bool = typer.Option(False, "--agent", help="Repair the guest agent's setup."),
    scripts: bool = typer.Option(False, "--scripts", help="Repair pre/post script settings."),
    dhcp: bool = typer.Option(False, "--dhcp", help="Repair DHCP on the primary NIC."),
    all_fixes: bool = typer.Option(False, "--all", help="Every fix above."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Apply without asking (needed when there is no terminal)."),
    root: str = typer.Option("/", "--root", help="Fix an OS disk mounted at PATH (offline)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount", help="Limit --freeze to this mount point (repeatable)."),
    deadline: float = typer.Option(180.0, "--deadline", help="Seconds each check run may take."),
):
    """Repair what `azbdiag check` found: print a plan, confirm, back up, apply, re-check."""
    chosen = {"freeze": freeze, "vmbackup-conf": vmbackup_conf, "selinux": selinux,
              "agent": agent, "scripts": scripts, "dhcp": dhcp}
    ids = list(FIX_IDS) if all_fixes else [fid for fid in FIX_IDS if chosen[fid]]
    if not ids:
        raise typer.BadParameter("choose what to fix: " + ", ".join(f"--{f}" for f in FIX_IDS)
                                 + " or --all", param_hint="FIX")
    if all_fixes:
        from azbdiag.fixer import registered_fixes

        ids = [fid for fid in ids if fid in registered_fixes()]
    host = make_host(root)
    options = {"debug": _state["debug"], "deadline": deadline, "mounts": list(mount or []),
               "fixing": True}
    code = run_fix(host, ids, check=run_check, options=options, dry_run=dry_run, yes=yes,
                   confirm=_confirm, argv=list(sys.argv), out=typer.echo, err=err)
    raise typer.Exit(code)


@app.command()
@guarded
def undo(
    run: Optional[str] = typer.Argument(None, help="Run id from the journal (default: newest)."),
    root: str = typer.Option("/", "--root", help="Undo on an OS disk mounted at PATH."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be undone."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Undo without asking."),
    list_runs: bool = typer.Option(False, "--list", help="List the journal's runs."),
):
    """Revert a fix run from its journal (files restored byte for byte, newest run first)."""
    from azbdiag import fixer

    host = make_host(root)
    if list_runs:
        runs = fixer.list_runs(host)
        if not runs:
            typer.echo(f"no fix runs in {fixer.journal_root(host)}")
        for r in runs:
            try:
                data = fixer.Journal.load(host, r).data
            except (OSError, ValueError):
                typer.echo(f"{r}  (unreadable journal)")
                continue
            typer.echo(f"{r}  {data.get('status', '?'):12} {','.join(data.get('fixes', []))}")
        raise typer.Exit(EXIT_OK)
    code = run_undo(host, run, dry_run=dry_run, yes=yes, confirm=_confirm,
                    out=typer.echo, err=err)
    raise typer.Exit(code)
