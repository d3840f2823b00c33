"""Entry point for `azbdiag` and `python3 -m azbdiag`.

`azbdiag --version`, `azbdiag rules` and `azbdiag explain CODE` (with `--format text|json`,
or `explain --list`) answer without importing typer: fleets, Run Command and scripts call
them often, and the import of typer (and of every rule) costs several times a bare Python
start. They print exactly what the full command line prints; anything else (help, another
option, an unknown code, any failure) goes to the full command line, which also reports
errors as every command does.

`azbdiag check` in its everyday forms runs without typer too (azbdiag/fast_check.py).
"""

import sys

_FORMATS = ("text", "json")


def _format(args):
    """The --format value of `args` ([], ["--format", F] or ["--format=F"]), or None when
    `args` is anything else."""
    if not args:
        return "text"
    if len(args) == 2 and args[0] == "--format":
        fmt = args[1]
    elif len(args) == 1 and args[0].startswith("--format="):
        fmt = args[0][len("--format="):]
    else:
        return None
    return fmt if fmt in _FORMATS else None


def _light(argv):
    """The output of a light command, or None when the full command line must answer."""
    if argv == ["--version"]:
        from azbdiag import __version__

        return f"azbdiag {__version__}\n"
    if not argv or argv[0] not in ("rules", "explain"):
        return None
    if argv[0] == "rules":
        fmt = _format(argv[1:])
        if fmt is None:
            return None
        from azbdiag import render, rule_index

        return render.rule_list(rule_index.rules(), fmt)
    if argv[1:2] == ["--list"]:
        fmt = _format(argv[2:])
        if fmt is None:
            return None
        from azbdiag import catalogue, render

        return render.code_list(catalogue.list_rows(), fmt)
    if len(argv) < 2 or argv[1].startswith("-") or not argv[1].strip():
        return None
    fmt = _format(argv[2:])
    if fmt is None:
        return None
    from azbdiag import catalogue, render

    entry = catalogue.lookup(argv[1])
    if entry is None:          # the full command line names the closest codes (exit 2)
        return None
    return render.code_entry(catalogue.as_dict(entry), fmt)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["check"]:
        from azbdiag import fast_check

        code = fast_check.run(argv)
        if code is not None:
            return code
    try:
        text = _light(argv)
    except Exception:  # noqa: BLE001 - the full command line reports it as every command does
        text = None
    if text is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:         # `azbdiag rules | head`: the reader has gone
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    from azbdiag.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
