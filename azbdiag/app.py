"""The typer application every command registers on, and what the commands share: the error
guard (one line and a documented exit code, never a traceback), `err`, `choice` and `make_host`.

The commands live in azbdiag/commands/ (one module each) and azbdiag/cli.py assembles them. This
module imports no engine, rule, fix or rendering code, so that `--version`, `--help` and the
light commands stay cheap. Options are declared in the old `typer.Option(default, "--name")`
style: Debian 12's typer 0.7 silently ignores `Annotated` options, and Ubuntu 22.04 has typer 0.4.
"""

from __future__ import annotations

import functools
import inspect
import traceback

import typer

from azbdiag import __version__
from azbdiag.exit_codes import (  # noqa: F401  (re-exported: the commands' exit codes)
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_OK,
    EXIT_USAGE,
)


def _typer_settings() -> dict:
    settings = dict(
        add_completion=False,
        no_args_is_help=True,
        help="Find the guest-side cause of Azure VM backup failures on Linux, and fix it safely.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # typer 0.7 and later print rich tracebacks unless told not to; typer 0.4 has no such option.
    if "pretty_exceptions_enable" in inspect.signature(typer.Typer).parameters:
        settings["pretty_exceptions_enable"] = False
    return settings


app = typer.Typer(**_typer_settings())

_options = {"debug": False}
# Click's own exceptions (usage errors, exit 2) must pass through. Typer 0.4 and 0.7 use click,
# newer typer vendors it, so find the base class through typer's BadParameter.
_CLICK_EXCEPTIONS = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
) + (typer.Abort,)


class Fatal(Exception):
    """azbdiag cannot go on: print one line and exit with `code`."""

    def __init__(self, message: str, code: int = EXIT_CANNOT_RUN):
        super().__init__(message)
        self.code = code


def err(message: str) -> None:
    """One line on standard error, secrets removed."""
    from azbdiag.redact import redact

    typer.echo(f"azbdiag: {redact(message)}", err=True)


def debug_enabled() -> bool:
    """Whether --debug was given (tracebacks of internal errors, rule tracebacks as evidence)."""
    return _options["debug"]


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
            if _options["debug"]:
                traceback.print_exc()
            err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
            raise typer.Exit(EXIT_CANNOT_RUN) from None

    return wrapper


def _version_callback(value: bool):
    if value:
        typer.echo(f"azbdiag {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal errors."),
):
    _options["debug"] = debug


def make_host(root: str, runner=None):
    """The host to inspect: the live system for "/", else the OS disk mounted at `root`."""
    from azbdiag.host import Host, HostError

    try:
        return Host(root=root, runner=runner)
    except HostError as exc:
        raise Fatal(str(exc)) from None


def choice(value: str, allowed, option: str) -> str:
    """`value` lower-cased if it is one of `allowed`, else a usage error (exit 2) on `option`."""
    value = (value or "").lower()
    if value not in allowed:
        raise typer.BadParameter(f"must be one of: {', '.join(allowed)}", param_hint=option)
    return value


def given_on_command_line(ctx: typer.Context, param: str) -> bool:
    """Whether option `param` (the parameter's name) was given, rather than left at its default."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def confirm(question: str) -> bool:
    """Ask on the terminal; anything but yes is no."""
    return typer.confirm(question, default=False)


def usage_error(message: str) -> None:
    """A usage error in one line (exit 2), for conflicts click cannot express."""
    err(message)
    raise typer.Exit(EXIT_USAGE)
