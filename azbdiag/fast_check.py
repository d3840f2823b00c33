"""`azbdiag check` in its everyday forms, without typer.

Importing typer and click costs about as much as the rest of an offline check's start-up, and
`azbdiag check` is what boots, timers, Run Command and fleet sweeps run. This path takes only

    check [--root PATH] [--format text|json|brief|prometheus] [--fail-on warn|fail]
          [--only ID]... [--skip ID]... [--all] [--brief]

(long options, `--option VALUE` or `--option=VALUE`, values in lower case that do not start
with "-"), and only when every --only/--skip selects a rule, --root can be read and --brief
and --format agree. Anything else (help, another option, a usage error, a --root problem)
returns None before anything has run, and the full command line runs the command and words
the problem as for every command. The run itself is the full command's code
(report.run_check and cli_core.finish_check); failures are reported as the full command's
guard reports them. AZBDIAG_FULL_CLI=1 turns this path off (the tests compare the two).
"""

from __future__ import annotations

import os
import sys

from azbdiag import cli_core
from azbdiag.render import REPORT_FORMATS

_VALUED = {"--root": "root", "--format": "fmt", "--fail-on": "fail_on", "--only": "only",
           "--skip": "skip"}
_FLAGS = {"--all": "full", "--brief": "brief"}


def parse(args):
    """The options of `check ARGS` as a dict, or None when ARGS is not one of the forms above.

    >>> parse(["--root", "/mnt/os", "--format=json", "--only", "agent", "--only", "dhcp"])["only"]
    ['agent', 'dhcp']
    >>> parse(["--brief"])["fmt"], parse(["--help"]), parse(["--format", "JSON"])
    ('brief', None, None)
    """
    opts = {"root": "/", "fmt": "text", "fail_on": "fail", "only": [], "skip": [],
            "full": False, "brief": False}
    given = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _FLAGS:
            opts[_FLAGS[arg]] = True
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in _VALUED:
            return None
        if eq:
            i += 1
        elif i + 1 < len(args):
            value = args[i + 1]
            i += 2
        else:
            return None
        if not value or value.startswith("-"):
            return None
        key = _VALUED[name]
        if key in ("only", "skip"):
            opts[key].append(value)
        else:
            opts[key] = value
        given.add(key)
    if opts["fmt"] not in REPORT_FORMATS or opts["fail_on"] not in cli_core.FAIL_ON:
        return None
    if opts["brief"]:
        if "fmt" in given and opts["fmt"] != "brief":
            return None
        opts["fmt"] = "brief"
    return opts


def _err(message: str) -> None:
    """As azbdiag.app.err, without typer."""
    sys.stderr.write(cli_core.error_line(message) + "\n")
    sys.stderr.flush()


def run(argv):
    """The exit code of `azbdiag ARGV`, or None when the full command line must run it."""
    if not argv or argv[0] != "check" or os.environ.get("AZBDIAG_FULL_CLI", "") not in ("", "0"):
        return None
    opts = parse(argv[1:])
    if opts is None:
        return None
    try:
        from azbdiag import engine, report

        ids = [r.id for r in engine.all_rules()]
        if cli_core.unknown_rule_ids(opts["only"] + opts["skip"], ids):
            return None          # the full command line names the closest ids (exit 2)
        if cli_core.root_problem(opts["root"]):
            return None          # ... and says what is wrong with --root (exit 3)
        # From here on the check runs.
        host = cli_core.make_host(opts["root"])
        _ctx, results, doc = report.run_check(host, opts["only"], opts["skip"],
                                              cli_core.check_options())
        return cli_core.finish_check(host, doc, results, fmt=opts["fmt"], output=None,
                                     full=opts["full"], fail_on=opts["fail_on"], record=True,
                                     err=_err)
    except (KeyboardInterrupt, Exception) as exc:  # as azbdiag.app.guarded (no --debug here)
        message, code = cli_core.failure(exc)
        _err(message)
        return code
