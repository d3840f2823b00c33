"""The typer application every command registers on, and what the commands share: the error
guard (one line and a documented exit code, never a traceback), one-line usage errors, `err`,
the option helpers (`choice_option`, `seconds`) and `make_host`.

The commands live in azbdiag/commands/ (one module each) and azbdiag/cli.py assembles them. This
module imports no engine, rule, fix or rendering code, so that `--version`, `--help` and the
light commands stay cheap. Options are declared in the old `typer.Option(default, "--name")`
style: Debian 12's typer 0.7 silently ignores `Annotated` options, and Ubuntu 22.04 has typer 0.4.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from typing import NoReturn, Optional

import typer
from typer.core import TyperGroup

from azbdiag import __version__

# Fatal, make_host and root_problem are re-exported: the commands import them from here.
from azbdiag.cli_core import Fatal, error_line, failure, make_host, root_problem  # noqa: F401
from azbdiag.exit_codes import (  # noqa: F401  (re-exported: the commands' exit codes)
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_OK,
    EXIT_USAGE,
)

# Click's own exceptions (usage errors, exit 2) must pass through the guard. Typer 0.4 and 0.7
# use click, newer typer vendors it, so find the base class through typer's BadParameter.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_CLICK_EXCEPTIONS = (_CLICK_EXCEPTION, typer.Abort)
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


@contextlib.contextmanager
def _one_line_usage_errors(command):
    """Click's usage errors (and ours, raised as typer.BadParameter) as one line on standard
    error, whatever the typer: no "Usage:" block, no box. `command` names the --help to read."""
    try:
        yield
    except _CLICK_EXCEPTION as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # newer click: the help, exit 2
            raise
        message = " ".join(exc.format_message().split())
        if message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
        if not getattr(exc, "says_what_to_do", False):  # click's own: point to the help
            message = f"{message.rstrip('.')}; see 'azbdiag{' ' + command if command else ''} --help'"
        err(message)
        raise typer.Exit(exc.exit_code) from None
    except typer.Abort:  # end of input or Ctrl-C at a prompt
        err("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


class AzbdiagGroup(TyperGroup):
    """The app's click group. A usage error is one line (exit 2) on every typer we support;
    `azbdiag` alone prints the help and exits 2, as newer click does, on older ones too."""

    def parse_args(self, ctx, args):
        if not args and not ctx.resilient_parsing:
            text = ctx.get_help()  # typer with rich prints the help itself and returns ""
            if text:
                typer.echo(text)
            raise typer.Exit(EXIT_USAGE)
        with _one_line_usage_errors(None):
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        # click 8.2 renamed protected_args (the command name) and deprecated the old name
        rest = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        name = rest[0] if rest and rest[0] in self.commands else None
        with _one_line_usage_errors(name):
            return super().invoke(ctx)


def _typer_settings() -> dict:
    settings = dict(
        cls=AzbdiagGroup,
        add_completion=False,
        no_args_is_help=True,
        help="Find the guest-side cause of Azure VM backup failures on Linux, and fix it safely.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # typer 0.7 and later print rich tracebacks unless told not to; typer 0.4 has no such option.
    parameters = inspect.signature(typer.Typer).parameters
    if "pretty_exceptions_enable" in parameters:
        settings["pretty_exceptions_enable"] = False
    # Where rich is installed, newer typer draws --help in boxes whose narrow columns break the
    # [a|b|c] choices apart; the plain help reads the same on every typer.
    if "rich_markup_mode" in parameters:
        settings["rich_markup_mode"] = None
    return settings


app = typer.Typer(**_typer_settings())

_options = {"debug": False}


def err(message: str) -> None:
    """One line on standard error, secrets removed."""
    typer.echo(error_line(message), err=True)


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
        except (KeyboardInterrupt, Exception) as exc:  # Fatal too; no traceback without --debug
            message, code = failure(exc, _options["debug"])
            err(message)
            raise typer.Exit(code) from None

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


def bad_value(message: str, option: Optional[str] = None, of_option: bool = True):
    """A usage error (exit 2) whose message is complete, printed without the --help hint:
    "invalid value for OPTION: MESSAGE" (in an option's callback click names the option), or
    MESSAGE alone when not `of_option`."""
    exc = typer.BadParameter(message, param_hint=option) if of_option else _USAGE_ERROR(message)
    exc.says_what_to_do = True
    return exc


def one_of(choices):
    """An option callback: the value lower-cased if it is one of `choices`, else a usage error
    naming the option and the choices."""

    def callback(value):
        if value is None:
            return value
        if value.lower() not in choices:
            raise bad_value(f"{value!r} is not one of {', '.join(choices)}")
        return value.lower()

    return callback


def choice_option(default: str, *names: str, choices, help: str):
    """An option taking one of `choices` (case-insensitive), listed in --help as [a|b|c]."""
    return typer.Option(default, *names, metavar="[" + "|".join(choices) + "]",
                        callback=one_of(tuple(choices)), help=help)


def seconds(value):
    """An option callback: a number of seconds above 0 (not 0, negative, nan or inf)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise bad_value(f"must be a number of seconds above 0, not {value:g}")
    return value


def choice(value: str, allowed, option: str) -> str:
    """`value` lower-cased if it is one of `allowed`, else a usage error (exit 2) on `option`.
    For a value checked after parsing; an option's own choices are better declared with
    choice_option, which also lists them in --help."""
    if (value or "").lower() not in allowed:
        raise bad_value(f"{value!r} is not one of {', '.join(allowed)}", option)
    return value.lower()


def given_on_command_line(ctx: typer.Context, param: str) -> bool:
    """Whether option `param` (the parameter's name) was given, rather than left at its default."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def confirm(question: str) -> bool:
    """Ask on the terminal; anything but yes is no (end of input and Ctrl-C too)."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


def usage_error(message: str, option: Optional[str] = None) -> NoReturn:
    """A usage error in one line (exit 2) for what click cannot check itself (conflicting
    options, unknown rule ids): `azbdiag: [invalid value for OPTION: ]MESSAGE; see 'azbdiag
    COMMAND --help'`."""
    raise bad_value(message, option, of_option=option is not None)
