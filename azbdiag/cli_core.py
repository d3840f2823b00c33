"""What the command line shares that needs no typer: `Fatal`, the --root checks and
`make_host`, and the end of a check (report, record, print, exit code).

The typer commands (azbdiag/app.py, azbdiag/commands/) and the fast path of `azbdiag check`
(azbdiag/fast_check.py) both run this code, so that they cannot drift apart.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Callable, Optional, Sequence, Tuple

from azbdiag.exit_codes import (
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
)

# Seconds a whole check may take unless --deadline says otherwise.
CHECK_DEADLINE = 180.0
FAIL_ON = ("warn", "fail")     # check --fail-on


class Fatal(Exception):
    """azbdiag cannot go on: print one line and exit with `code`."""

    def __init__(self, message: str, code: int = EXIT_CANNOT_RUN):
        super().__init__(message)
        self.code = code


def error_line(message: str) -> str:
    """What azbdiag prints on standard error for `message`: one line, secrets removed."""
    from azbdiag.redact import redact

    return f"azbdiag: {redact(message)}"


def failure(exc: BaseException, debug: bool = False) -> Tuple[str, int]:
    """(message, exit code) for an exception that ends a command: Fatal's own, "interrupted"
    (130) for Ctrl-C, otherwise an internal error (3), never a traceback (--debug prints it)."""
    if isinstance(exc, Fatal):
        return str(exc), exc.code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    return (f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            EXIT_CANNOT_RUN)


def root_problem(root: str):
    """Why `root` cannot be inspected, in a few words, or None: missing, not a directory, or a
    directory this user cannot read (a user error, exit 3, rather than rules that all fail)."""
    if not root:
        return "--root must not be empty"
    try:
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode):
            return f"--root {root!r}: not a directory"
        with os.scandir(root):
            pass
        if not os.access(root, os.R_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except FileNotFoundError:
        return f"--root {root!r}: no such directory"
    except NotADirectoryError:
        return f"--root {root!r}: not a directory"
    except PermissionError as exc:
        return f"--root {root!r}: cannot read it: {exc.strerror} (run as root?)"
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        return f"--root {root!r}: cannot use it: {getattr(exc, 'strerror', None) or exc}"
    return None


def make_host(root: str, runner=None):
    """The host to inspect: the live system for "/", else the OS disk mounted at `root`."""
    from azbdiag.host import Host, HostError

    problem = root_problem(root)
    if problem:
        raise Fatal(problem)
    try:
        return Host(root=root, runner=runner)
    except HostError as exc:
        raise Fatal(str(exc)) from None


def unknown_rule_ids(patterns: Sequence[str], ids: Sequence[str]) -> Optional[str]:
    """Why some of `patterns` (--only/--skip values) select no rule, with close matches, or
    None. A pattern is a rule id or a dotted prefix of one (`agent`, `agent.version`)."""
    from azbdiag.engine import matches

    for pattern in patterns:
        wanted = pattern.strip().lower()
        if wanted and any(matches(i, [wanted]) for i in ids):
            continue
        names = sorted(set(ids) | {i.rsplit(".", 1)[0] for i in ids})
        import difflib

        close = difflib.get_close_matches(wanted, names, n=4, cutoff=0.6)
        hint = (f"did you mean {', '.join(close)}?" if close
                else "`azbdiag rules` lists the rule ids")
        return f"no rule id is or starts with {pattern!r}; {hint}"
    return None


def check_options(debug: bool = False, deadline: float = CHECK_DEADLINE,
                  freeze_test: bool = False, mounts: Sequence[str] = ()) -> dict:
    """The options a check's rules read (engine.Context.options)."""
    return {"debug": debug, "deadline": deadline, "freeze_test": freeze_test,
            "mounts": list(mounts)}


def finish_check(host, doc: dict, results, *, fmt: str, output: Optional[str], full: bool,
                 fail_on: str, record: bool, err: Callable[[str], None]) -> int:
    """After the rules ran: keep the last report and a log line when `record` (live, root;
    never fatal), print or write the report in `fmt`, and return the exit code. Raises Fatal
    when the report cannot be written."""
    from azbdiag import render, state

    report_json = render.report(doc, "json")
    problem = state.record_check(host, doc, report_json) if record else None
    if problem:
        err(f"note: could not record this run: {problem}")
    if fmt == "json":
        text = report_json
    else:
        from azbdiag.render.text import use_colour

        text = render.report(doc, fmt, colour=fmt == "text" and not output and use_colour(),
                             full=full)
    try:
        render.write_output(text, output)
    except render.OutputError as exc:
        raise Fatal(str(exc), exc.code) from None
    return exit_code(results, fail_on)


def exit_code(results, fail_on: str) -> int:
    """5 when a check could not run (the report is incomplete, whatever --fail-on says: the
    timer, Ansible and Run Command must not read it as healthy), else 1 when a result reached
    `fail_on`, else 0."""
    from azbdiag import report
    from azbdiag.model import Status

    if any(r.status == Status.ERROR for r in results):
        return EXIT_INCOMPLETE
    return EXIT_FINDINGS if report.worst_reaches(results, fail_on) else EXIT_OK
