"""LVM reports: `pvs`/`vgs`/`lvs --noheadings --separator '|' -o FIELDS`. Text in, data out;
nothing here raises."""

from __future__ import annotations

from typing import Dict, List, Sequence


def parse_lvm_report(text: str, fields: Sequence[str]) -> List[Dict[str, str]]:
    """One dict per line, keyed by `fields` in the order given to -o. Lines with another number
    of columns (warnings LVM prints among the rows) are left out.

    >>> parse_lvm_report("  /dev/sdc2|rootvg|fnO44W-RbzC\\n  WARNING: something\\n",
    ...                  ["pv_name", "vg_name", "vg_uuid"])
    [{'pv_name': '/dev/sdc2', 'vg_name': 'rootvg', 'vg_uuid': 'fnO44W-RbzC'}]
    """
    rows: List[Dict[str, str]] = []
    for line in (text or "").splitlines():
        cols = [c.strip() for c in line.strip().split("|")]
        if len(cols) == len(fields) and len(fields) > 1:
            rows.append(dict(zip(fields, cols)))
    return rows
