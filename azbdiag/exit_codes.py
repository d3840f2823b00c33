"""The exit codes of every azbdiag command, defined once (README "Exit status").

No import beyond the standard library: the fix package and the command line both use them, and
a caller may need them without loading typer.
"""

EXIT_OK = 0              # nothing reached --fail-on; a fix or undo is done and re-checks clean
EXIT_FINDINGS = 1        # something reached --fail-on; a fix step failed or a check still fails
EXIT_USAGE = 2           # bad command line (click uses 2 for its own usage errors too)
EXIT_CANNOT_RUN = 3      # azbdiag could not run, or a fix refused for safety
EXIT_NOT_CONFIRMED = 4   # fix or undo: the plan was not confirmed (answered no, or no terminal)
EXIT_INCOMPLETE = 5      # check: a check could not run (an `error` result), whatever --fail-on
                         # says, and before 1; summarize: a host's report has one
EXIT_INTERRUPTED = 130   # Ctrl-C, as a shell reports SIGINT
