"""azbdiag's own fix journal: a fix or undo that was stopped half-way (SIGKILL, a crash, a power
cut), or a file system that azbdiag's `fix --freeze` left unmounted or mounted read-only.

Unlike every other rule this one reads azbdiag's state on this machine (the journal under
/var/lib/azbdiag, azbdiag/fix/journal.py), not the inspected root: the journals of `--root` runs
are kept here, keyed by the root's identity, so that nothing written on a disk is ever trusted.
The live mount state comes through the host as usual.
"""

from __future__ import annotations

from azbdiag.engine import rule
from azbdiag.model import CheckError, fail, ok, warn


@rule("fix.interrupted", "No azbdiag fix or undo was left unfinished", needs_root=True,
      timeout=15,
      remedy="Run the same `sudo azbdiag fix` again to finish an interrupted run, or `sudo "
             "azbdiag undo RUN` to revert it. A file system azbdiag could not mount again "
             "needs the mount command shown; one it mounted read-only after a failed repair "
             "needs a repair from a rescue VM.")
def interrupted(ctx):
    """This root's runs in the fix journal that are still `applying` or `undoing` while no
    fixer holds the lock, and file systems a repair left unmounted or read-only."""
    from azbdiag.fix.journal import JournalError
    from azbdiag.fix.recover import findings

    try:
        found = findings(ctx.host)
    except JournalError as exc:
        raise CheckError(str(exc)) from None
    if not found:
        return ok("no fix or undo run was left unfinished")
    fails = [text for level, text in found if level == "fail"]
    evidence = [text for _level, text in found]
    if fails:
        return fail(fails[0], evidence)
    return warn(evidence[0], evidence)
