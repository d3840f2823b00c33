"""Headless Chromium for the HTML tests and the README screenshots, and a small PNG reader to
check a screenshot shows what it should (no PIL needed).

Chromium runs without network: no background networking or component updates, and every host
name resolves to nothing, so a page with an external reference could not load it anyway.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from typing import Dict, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))


def chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def artifacts_dir() -> str:
    """Where screenshots go: $AZBDIAG_TEST_ARTIFACTS, else tests/artifacts (git-ignored)."""
    path = os.environ.get("AZBDIAG_TEST_ARTIFACTS") or os.path.join(HERE, "artifacts")
    os.makedirs(path, exist_ok=True)
    return path


def run(binary: str, page: str, profile: str, *extra: str, timeout: float = 120) -> str:
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *extra,
            "file://" + os.path.abspath(page)]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, HOME=profile))
    if cp.returncode != 0:
        raise RuntimeError(f"chromium exited {cp.returncode}: {cp.stderr[-2000:]}")
    return cp.stdout


def screenshot(binary: str, page: str, png: str, profile: str, size: str = "1280,1000") -> None:
    run(binary, page, profile, f"--window-size={size}", f"--screenshot={png}")
    if not os.path.isfile(png):
        raise RuntimeError(f"chromium wrote no {png}")


def dump_dom(binary: str, page: str, profile: str) -> str:
    return run(binary, page, profile, "--dump-dom")


# ---- PNG -------------------------------------------------------------------------------------

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(path: str) -> Tuple[int, int, list]:
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour})")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[filt]) & 0xFF
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def colour_counts(path: str) -> Dict[Tuple[int, int, int], int]:
    counts: Dict[Tuple[int, int, int], int] = {}
    for row in read_png(path)[2]:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    return counts


def near(counts: Dict[Tuple[int, int, int], int], rgb: Tuple[int, int, int], tol: int = 6) -> int:
    """Pixels within `tol` of the colour `rgb`."""
    return sum(n for px, n in counts.items() if all(abs(p - q) <= tol for p, q in zip(px, rgb)))
