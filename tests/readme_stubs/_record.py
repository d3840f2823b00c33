"""Shared by the README harness's stand-ins: one JSON line per call in /var/log/readme-stubs.jsonl
(the harness reads it after each command and asserts on it; READMESTUBS_LOG moves it, for the
stand-ins' own tests)."""

import json
import os
import sys

LOG = os.environ.get("READMESTUBS_LOG", "/var/log/readme-stubs.jsonl")


def record(tool, **fields):
    entry = {"tool": tool, "argv": sys.argv[1:], "cwd": os.getcwd(), **fields}
    with open(LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")


def refuse(tool, message, code=2):
    """An argument the stand-in does not know or Azure would reject: say so and fail, so a new
    README command is noticed instead of passing unchecked."""
    record(tool, refused=message, rc=code)
    sys.stderr.write(f"{tool} (README harness stand-in): {message}\n")
    sys.exit(code)
