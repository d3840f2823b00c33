"""Command line interface.

Options are declared in the old `typer.Option(default, "--name")` style: Debian 12's typer 0.7
silently ignores `Annotated` options. Exit codes: 0 nothing reached --fail-on, 1 something did,
2 usage error, 3 azbdiag could not run.
"""

from __future__ import annotations

import functools
import sys
import traceback
from typing import List, Optional

import typer

from azbdiag import __version__
from azbdiag.exit_codes import (  # noqa: F401  (re-exported for the commands)
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find the guest-side cause of Azure VM backup failures on Linux, and fix it safely.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}
# Click's own exceptions (usage errors, exit 2) must pass through. Typer 0.7 uses click, newer
# typer vendors it, so find the base class through typer's BadParameter.
_CLICK_EXCEPTIONS = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
) + (typer.Abort,)


class Fatal(Exception):
    """azbdiag cannot go on: print one line and exit with `code`."""

    def __init__(self, message: str, code: int = EXIT_CANNOT_RUN):
        super().__init__(message)
        self.code = code


def err(message: str) -> None:
    from azbdiag.redact import redact

    typer.echo(f"azbdiag: {redact(message)}", err=True)


def guarded(func):
    """Turn any failure inside a command into one line and exit 3 (--debug shows the trace)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, *_CLICK_EXCEPTIONS):
            raise
        except Fatal as exc:
            err(str(exc))
            raise typer.Exit(exc.code) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # the promise: no traceback without --debug
            if _state["debug"]:
                traceback.print_exc()
            err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
            raise typer.Exit(EXIT_CANNOT_RUN) from None

    return wrapper


def _version_callback(value: bool):
    if value:
        typer.echo(f"azbdiag {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal errors."),
):
    _state["debug"] = debug


def make_host(root: str, runner=None):
    from azbdiag.host import Host, HostError

    try:
        return Host(root=root, runner=runner)
    except HostError as exc:
        raise Fatal(str(exc)) from None


def _choice(value: str, allowed, option: str) -> str:
    value = (value or "").lower()
    if value not in allowed:
        raise typer.BadParameter(f"must be one of: {', '.join(allowed)}", param_hint=option)
    return value


@app.command()
@guarded
def check(
    root: str = typer.Option("/", "--root", help="Inspect an OS disk mounted at PATH (offline)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to FILE."),
    only: Optional[List[str]] = typer.Option(
        None, "--only", help="Run only this rule id or prefix (repeatable)."),
    skip: Optional[List[str]] = typer.Option(
        None, "--skip", help="Skip this rule id or prefix (repeatable)."),
    fail_on: str = typer.Option("fail", "--fail-on", help="Exit 1 when a result reaches warn or fail."),
    brief: bool = typer.Option(False, "--brief", help="One line per finding, under 4 KB (Run Command)."),
    deadline: float = typer.Option(180.0, "--deadline", help="Seconds the whole run may take."),
    freeze_test: bool = typer.Option(
        False, "--freeze-test",
        help="Also freeze and thaw each mount the backup would freeze (root, live)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount",
        help="Limit the per-mount freeze checks and --freeze-test to this mount point (repeatable)."),
):
    """Check this machine (or --root) for causes of Azure VM backup failures."""
    from azbdiag import render, report

    fmt = _choice(fmt, ("text", "json"), "--format")
    fail_on = _choice(fail_on, ("warn", "fail"), "--fail-on")
    host = make_host(root)
    options = {"debug": _state["debug"], "deadline": deadline, "freeze_test": freeze_test,
               "mounts": list(mount or [])}
    _ctx, results, doc = report.run_check(host, only or (), skip or (), options)
    from azbdiag import state  # keep the last report and a log line (live, root); never fatal

    report_json = render.report(doc, "json")
    problem = state.record_check(host, doc, report_json)
    if problem:
        err(f"note: could not record this run: {problem}")
    if brief:
        text = render.report(doc, "brief")
    elif fmt == "json":
        text = report_json
    else:
        from azbdiag.render.text import use_colour

        text = render.report(doc, "text", colour=not output and use_colour())
    render.write_output(text, output)
    raise typer.Exit(EXIT_FINDINGS if report.worst_reaches(results, fail_on) else EXIT_OK)


@app.command("rules")
@guarded
def list_rules(
    fmt: str = typer.Option("text", "--format", help="text or json."),
):
    """List every rule: id, title, error codes, needs-root, live-only."""
    from azbdiag import engine, render

    fmt = _choice(fmt, render.CATALOGUE_FORMATS, "--format")
    typer.echo(render.rule_list(engine.all_rules(), fmt), nl=False)


@app.command()
@guarded
def explain(
    code: Optional[str] = typer.Argument(
        None, help="Azure error code name or number, or an extension status code."),
    list_all: bool = typer.Option(False, "--list", help="List every known code."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
):
    """Explain an Azure backup error code: what it means for a Linux guest and what to do."""
    from azbdiag import catalogue, render

    fmt = _choice(fmt, render.CATALOGUE_FORMATS, "--format")
    if list_all:
        typer.echo(render.code_list(catalogue.list_rows(), fmt), nl=False)
        return
    if not code:
        raise typer.BadParameter("give a CODE or --list", param_hint="CODE")
    entry = catalogue.lookup(code)
    if entry is None:
        err(f"unknown error code {code!r}; `azbdiag explain --list` shows the known ones")
        raise typer.Exit(EXIT_FINDINGS)
    typer.echo(render.code_entry(catalogue.as_dict(entry), fmt), nl=False)


def main():
    """Console entry point."""
    try:
        app(prog_name="azbdiag")
    except SystemExit:
        raise
    except Exception as exc:  # last resort outside any command (for example a broken install)
        if "--debug" in sys.argv:
            traceback.print_exc()
        print(f"azbdiag: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_RUN)


# These modules register their commands (fix, undo, summarize) on `app` when imported.
from azbdiag import fixcli, summarize  # noqa: E402,F401
