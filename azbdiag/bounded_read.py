"""Reading at most so many bytes from an open file descriptor: the one loop shared by the
root's file layer (host.py), the fixer's files and journal, and summarize's report reader.

>>> import os
>>> r, w = os.pipe(); _ = os.write(w, b"abcdef"); os.close(w)
>>> read_fd(r, 4)
b'abcd'
>>> read_fd(r, 100)
b'ef'
>>> os.close(r)
"""

from __future__ import annotations

import os

CHUNK = 1 << 20


def read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from `fd`, from where it stands, in chunks of at most 1 MiB
    (a short read is not the end; an empty one is)."""
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
