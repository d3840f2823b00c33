#!/usr/bin/env python3
"""Time `azbdiag --version` and `azbdiag check --root` on a generated large root.

The root has 500 mounts in /etc/fstab and 50 extension directories under /var/lib/waagent
(with status files), which is far more than a real VM. Nothing here touches the network or
the machine's own files: everything is generated in a temporary directory.

    python3 bench/bench_check.py [--runs 7] [--python /usr/bin/python3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_root(base: str) -> str:
    root = os.path.join(base, "root")
    etc = os.path.join(root, "etc")
    os.makedirs(os.path.join(etc, "azure"))
    with open(os.path.join(etc, "os-release"), "w") as fh:
        fh.write('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    with open(os.path.join(etc, "fstab"), "w") as fh:
        fh.write("UUID=0000-root / ext4 defaults 0 1\n")
        for i in range(499):
            fstype = ("ext4", "xfs", "btrfs", "nfs4", "cifs")[i % 5]
            src = f"srv{i}:/export" if fstype in ("nfs4", "cifs") else f"UUID=0000-{i:04d}"
            fh.write(f"{src} /data/vol{i:03d} {fstype} defaults,nofail 0 2\n")
    skip = ",".join(f"/data/vol{i:03d}" for i in range(0, 60, 3))
    with open(os.path.join(etc, "azure", "vmbackup.conf"), "w") as fh:
        fh.write(f"[SnapshotThread]\ntimeout = 90\nMountsToSkip = {skip}\n")
    with open(os.path.join(etc, "waagent.conf"), "w") as fh:
        fh.write("Extensions.Enabled=y\nProvisioning.Agent=auto\nAutoUpdate.Enabled=y\n")
    lib = os.path.join(root, "var", "lib", "waagent")
    for i in range(50):
        name = ("Microsoft.Azure.RecoveryServices.VMSnapshotLinux" if i < 10
                else f"Microsoft.Azure.Extensions.Sample{i}") + f"-1.0.{9100 + i}.0"
        status = os.path.join(lib, name, "status")
        os.makedirs(status)
        os.makedirs(os.path.join(lib, name, "config"))
        for seq in range(3):
            with open(os.path.join(status, f"{seq}.status"), "w") as fh:
                json.dump([{"version": "1.0", "timestampUTC": "2026-11-01T00:00:00Z",
                            "status": {"name": name, "operation": "Enable", "status": "success",
                                       "code": 1, "formattedMessage": {"lang": "en-US",
                                                                      "message": "ok"}}}], fh)
    os.makedirs(os.path.join(root, "var", "log"), exist_ok=True)
    return root


def timed(argv, runs: int, env) -> list:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                              cwd="/")
        times.append((time.perf_counter() - start) * 1000)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1")
    base = tempfile.mkdtemp(prefix="azbdiag-bench-")
    try:
        root = make_root(base)
        cmd = [args.python, "-m", "azbdiag"]
        timed(cmd + ["--version"], 1, env)  # warm the page cache
        rows = [
            ("azbdiag --version", timed(cmd + ["--version"], args.runs, env), 150),
            ("azbdiag check --root (500 mounts, 50 extension dirs)",
             timed(cmd + ["check", "--root", root, "--format", "json"], args.runs, env), 1000),
        ]
        version = subprocess.run([args.python, "--version"], capture_output=True, text=True)
        print(f"python: {args.python} ({version.stdout.strip()}), cpus: {os.cpu_count()}, "
              f"runs: {args.runs}")
        print("| command | median ms | min ms | max ms | target ms |")
        print("|---|---|---|---|---|")
        for name, times, target in rows:
            print(f"| {name} | {statistics.median(times):.0f} | {min(times):.0f} | "
                  f"{max(times):.0f} | {target} |")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
