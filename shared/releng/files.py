"""The sha256 and size of a file or a stream, read in pieces: one implementation for the release folder
(build-package, verify-artifacts, the artifact gates), uploads and the update server's transports.

A release holds archives of hundreds of MiB, so nothing is read whole: a local file is read into one reused 1 MiB
buffer (no allocation per piece), a stream (a remote file, a socket) in the pieces its reader hands back. An
optional progress line counts the bytes as they are hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releng.progress import Progress

BLOCK = 1 << 20  # bytes per read: large enough that the per-call cost vanishes, small enough to stay in cache


def sha256_file(path: Path | str, progress: Progress | None = None) -> tuple[int, str]:
    """(size, sha256 hex) of a local file; OSError (FileNotFoundError...) when it cannot be read."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            sha.update(view[:n])
            size += n
            if progress is not None:
                progress.add(n)
    return size, sha.hexdigest()


def hash_stream(read: Callable[[int], bytes], chunk: int = BLOCK,
                progress: Progress | None = None) -> tuple[int, str]:
    """(size, sha256 hex) of what `read(chunk)` returns until it returns b"" (a remote file, a pipe)."""
    sha = hashlib.sha256()
    size = 0
    while block := read(chunk):
        sha.update(block)
        size += len(block)
        if progress is not None:
            progress.add(len(block))
    return size, sha.hexdigest()
