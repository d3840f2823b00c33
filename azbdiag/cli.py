"""The command line: the commands of azbdiag/commands/ registered on the app of azbdiag/app.py,
each behind the error guard, and the console entry point."""

from __future__ import annotations

import sys
import traceback

from azbdiag.app import EXIT_CANNOT_RUN, app, guarded
from azbdiag.commands import check, collect, explain, fix, rules, summarize, undo

# In the order `azbdiag --help` lists them on typers that keep the order.
app.command()(guarded(check.check))
app.command("rules")(guarded(rules.list_rules))
app.command()(guarded(explain.explain))
app.command()(guarded(fix.fix))
app.command()(guarded(undo.undo))
app.command()(guarded(summarize.summarize))
app.command()(guarded(collect.collect))


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
