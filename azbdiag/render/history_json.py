"""The backup history (azbdiag/history.py, schema "azbdiag-history/1") as JSON, for programs."""

from __future__ import annotations

import json


def history(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"
