#!/usr/bin/env python3
"""Benchmark: `azbdiag summarize DIR --format json` over a fleet of generated reports.

Generates N reports (default 5,000) laid out as Ansible's fetch does (DIR/<host>/report.json),
starting from a real `azbdiag check --format json` of tests/samples/broken and varying host
names, statuses and a few skipped results per host; then times the whole command end to end
(a new process each run, so start-up and imports count) several times and prints the median.
The target is under 5 s for 5,000 reports. No network, nothing outside a temporary folder.

    python3 bench/bench_summarize.py [--reports 5000] [--runs 5] [--python /usr/bin/python3]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def template(python, env):
    out = subprocess.run([python, "-m", "azbdiag", "check", "--root",
                          os.path.join(CHECKOUT, "tests", "samples", "broken"), "--format", "json"],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1):
        sys.exit(f"bench: azbdiag check failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def generate(folder, count, base, seed=1):
    rng = random.Random(seed)
    statuses = ["ok"] * 14 + ["warn"] * 3 + ["fail"] * 2 + ["skipped"] * 2 + ["error"]
    total = 0
    for i in range(count):
        doc = json.loads(json.dumps(base))
        doc["host"]["hostname"] = f"vm-{i:05d}"
        doc["host"]["live"] = True
        doc["host"]["root"] = "/"
        for r in doc["results"]:
            status = rng.choice(statuses)
            r["status"] = status
            r["skip_reason"] = "not root" if status == "skipped" else None
            r["evidence"] = r["evidence"] or [f"line {rng.randint(1, 40)}: sample evidence"]
        doc["summary"] = {s: sum(1 for r in doc["results"] if r["status"] == s)
                          for s in ("ok", "warn", "fail", "skipped", "error")}
        path = os.path.join(folder, f"host{i:05d}", "report.json")
        os.makedirs(os.path.dirname(path))
        text = json.dumps(doc, indent=2)
        total += len(text)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--reports", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=CHECKOUT, PYTHONDONTWRITEBYTECODE="1")
    base = template(args.python, env)
    tmp = tempfile.mkdtemp(prefix="azbdiag-bench-")
    try:
        started = time.perf_counter()
        size = generate(os.path.join(tmp, "reports"), args.reports, base)
        print(f"generated {args.reports} reports ({len(base['results'])} results each, "
              f"{size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
        times = []
        argv = [args.python, "-m", "azbdiag", "summarize", os.path.join(tmp, "reports"),
                "--format", "json", "--output", os.path.join(tmp, "summary.json")]
        for _ in range(args.runs):
            started = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if proc.returncode not in (0, 1, 5):   # 5: some generated report has an `error`
                sys.exit(f"bench: summarize exited {proc.returncode}: {proc.stderr.strip()[:500]}")
        with open(os.path.join(tmp, "summary.json"), encoding="utf-8") as fh:
            totals = json.load(fh)["totals"]
        if totals["reports"] != args.reports or totals["rejected"]:
            sys.exit(f"bench: unexpected totals {totals}")
        median = statistics.median(times)
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"python {sys.version.split()[0]} ({args.python}), {os.cpu_count()} CPU(s), "
              f"load average {load} (other work on the machine slows every figure)")
        print(f"summarize --format json, {args.reports} reports, {args.runs} runs: "
              f"median {median:.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
              f"({median / args.reports * 1e6:.0f} us per report); target < 5 s: "
              f"{'met' if median < 5 else 'NOT met'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
