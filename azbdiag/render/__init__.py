"""Rendering: one module per output format, each rendering every document that has that format.

The documents are the check report (`check`, azbdiag/report.py), the backup history
(`history`, azbdiag/history.py, rendered by its own history_<format> modules), the fleet summary
(`summarize`, azbdiag/summarize.py), the error code catalogue (`explain`, azbdiag/catalogue.py)
and the rule list (`rules`). A format module defines one function per document it renders,
named after the document: `report`, `summary`, `code_entry`, `code_list`, `rule_list`.

    text.py      every document but the history, for people (check's verdict first, colour only on a terminal)
    json.py      every document but the history, for programs
    brief.py     the check report in under 4 KB, for Azure Run Command
    prometheus.py  the check report as node_exporter textfile metrics
    verdict.py   the check report's verdict and the ranking of its findings (text, metrics)
    history_text.py, history_json.py, history_html.py   the backup history (`history`)
    markdown.py, csv.py, html.py   the fleet summary
    summary_parts.py   what the summary's text, markdown, csv and html share

The modules are imported when first used: a command loads only the format it prints.
"""

from __future__ import annotations

import importlib
import os

REPORT_FORMATS = ("text", "json", "brief", "prometheus")
HISTORY_FORMATS = ("text", "json", "html")
SUMMARY_FORMATS = ("text", "json", "markdown", "csv", "html")
CATALOGUE_FORMATS = ("text", "json")   # explain's entries and list, and the rule list


def _renderer(document: str, fmt: str, formats):
    if fmt not in formats:
        raise ValueError(f"no {fmt!r} rendering of the {document.replace('_', ' ')}")
    return getattr(importlib.import_module(f"{__name__}.{fmt}"), document)


def report(doc: dict, fmt: str, colour: bool = False, full: bool = False) -> str:
    """The check report (azbdiag.report.build_document) in one of REPORT_FORMATS; `full`
    (check --all) makes the text list every rule."""
    if fmt == "text":
        return _renderer("report", fmt, REPORT_FORMATS)(doc, colour=colour, full=full)
    return _renderer("report", fmt, REPORT_FORMATS)(doc)


def history(doc: dict, fmt: str) -> str:
    """The backup history (azbdiag.history.build_history) as text, json or html."""
    if fmt not in HISTORY_FORMATS:
        raise ValueError(f"no {fmt!r} rendering of the backup history")
    return importlib.import_module(f"{__name__}.history_{fmt}").history(doc)


def summary(s: dict, fmt: str) -> str:
    """The fleet summary (azbdiag.summarize.build_summary) in one of SUMMARY_FORMATS."""
    return _renderer("summary", fmt, SUMMARY_FORMATS)(s)


def code_entry(data: dict, fmt: str) -> str:
    """One error code (azbdiag.catalogue.as_dict) as text or json."""
    return _renderer("code_entry", fmt, CATALOGUE_FORMATS)(data)


def code_list(rows: list, fmt: str) -> str:
    """Every error code (azbdiag.catalogue.list_rows) as text or json."""
    return _renderer("code_list", fmt, CATALOGUE_FORMATS)(rows)


def rule_list(rules: list, fmt: str) -> str:
    """The registered rules (azbdiag.engine.all_rules) as text or json."""
    return _renderer("rule_list", fmt, CATALOGUE_FORMATS)(rules)


def one_line(text) -> str:
    """One line without control characters (report contents may come from anywhere)."""
    text = str(text)
    if text.isprintable():      # the usual case, tested in C rather than per character
        return text.strip()
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


class OutputError(Exception):
    """`--output` cannot be written: one line for the user, and the exit code (2 when the
    path itself is wrong, 3 when writing failed)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def check_output(path) -> None:
    """Refuse an `--output` path that can never be written, before any work is done: a
    folder given as the file, a folder that does not exist (azbdiag creates none for its
    output) or one azbdiag cannot write into. Raises OutputError."""
    from azbdiag.exit_codes import EXIT_CANNOT_RUN, EXIT_USAGE
    from azbdiag.fix.files import open_local_dir

    if not path or path == "-":
        return
    shown = one_line(path)
    full = os.path.abspath(path)
    if str(path).endswith("/") or os.path.isdir(full):
        raise OutputError(f"--output {shown}: is a folder; give the name of a file", EXIT_USAGE)
    folder = os.path.dirname(full)
    try:
        os.close(open_local_dir(folder))
    except FileNotFoundError:
        raise OutputError(f"--output {shown}: the folder {one_line(folder)} does not exist "
                          f"(create it first; azbdiag creates no folders for its output)",
                          EXIT_USAGE) from None
    except NotADirectoryError:
        raise OutputError(f"--output {shown}: {one_line(folder)} is not a folder",
                          EXIT_USAGE) from None
    except OSError as exc:
        raise OutputError(f"--output {shown}: cannot open the folder {one_line(folder)}: "
                          f"{exc.strerror or exc}", EXIT_CANNOT_RUN) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"--output {shown}: cannot write into {one_line(folder)} "
                          f"(permission denied or a read-only file system)", EXIT_CANNOT_RUN)


def write_output(text: str, path) -> None:
    """Print `text`, or replace the file `path` with it: a temporary file created
    exclusively next to it and renamed over it (a symlink there is replaced, never
    followed), mode 0600 whatever the umask. Its folder must exist. Raises OutputError."""
    import sys

    from azbdiag.exit_codes import EXIT_CANNOT_RUN
    from azbdiag.fix.files import write_local

    if not path or path == "-":
        sys.stdout.write(text)
        return
    check_output(path)
    try:
        write_local(os.path.abspath(path), text.encode("utf-8", "replace"), 0o600)
    except OSError as exc:
        raise OutputError(f"cannot write {one_line(path)}: {exc.strerror or exc}",
                          EXIT_CANNOT_RUN) from None
