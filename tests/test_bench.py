"""bench/run --quick: the benchmark's own smoke test, so that its code cannot rot. It asserts
that every figure was produced, never a timing (speed is measured, not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_bench_quick_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "median" in proc.stdout
    rows = {r["what"]: r for r in json.loads(out.read_text())["rows"]}
    for what in ("python3 -c pass", "azbdiag --version", "azbdiag rules", "azbdiag explain 121",
                 "bash completion of check --only ag<TAB>", "offline check, realistic root",
                 "... its unavoidable imports alone",
                 "offline check, 1 mounts", "offline check, 50 mounts",
                 "offline check, 1,000 entries in /var/lib/waagent",
                 "offline check, 10 MiB logs (sparse)", "summarize 50 reports (CPU)"):
        assert what in rows, (what, sorted(rows))
        assert rows[what]["seconds"] > 0 and rows[what]["ratio"] is not None
    assert os.listdir(tmp_path) == ["bench.json"]      # its temporary folder is gone
