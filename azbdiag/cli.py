"""The command line: the commands of azbdiag/commands/ registered on the app of azbdiag/app.py,
each behind the error guard, and the console entry point."""

from __future__ import annotations

import sys

from azbdiag.app import EXIT_CANNOT_RUN, app, guarded
from azbdiag.commands import check, collect, explain, fix, history, rules, summarize, undo


def register(func, name=None):
    """`func` as a command behind the guard. Its docstring's first line is given as the short
    help, which click then wraps in `azbdiag --help` instead of cutting it with "..."."""
    short = (func.__doc__ or "").strip().splitlines()[0]
    app.command(name, short_help=short)(guarded(func))


# In the order `azbdiag --help` lists them on typers that keep the order.
register(check.check)
register(rules.list_rules, "rules")
register(explain.explain)
register(fix.fix)
register(undo.undo)
register(summarize.summarize)
register(history.history)
register(collect.collect)


def main():
    """Console entry point."""
    try:
        app(prog_name="azbdiag")
    except SystemExit:
        raise
    except Exception as exc:  # last resort outside any command (for example a broken install)
        if "--debug" in sys.argv:
            import traceback

            traceback.print_exc()
        print(f"azbdiag: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_RUN)
