"""The sha256 and size of a file or a stream, read in pieces: one implementation for the release folder
(build-package, verify-artifacts, the artifact gates), uploads and the update server's transports.

A release holds archives of hundreds of MiB, so nothing is read whole: a local file is read into one reused 1 MiB
buffer (no allocation per piece), a stream (a remote file, a socket) in the pieces its reader hands back. An
optional progress line counts the bytes as they are hashed.

Local inputs (documents, configs, signatures, feeds, artifacts) are opened through `open_regular`: a path that is a
FIFO, a device or a socket is refused (exit 2) instead of hanging on a pipe nobody writes or reading /dev/zero
until memory runs out (issue 12), and `read_capped` reads a whole small input with a size cap.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from releng.errors import BadInput


class Progress(Protocol):
    """What a progress line (releng.progress.Progress) offers here; a protocol, not an import, so that
    documents -> files -> progress -> cli -> documents is no import cycle."""

    def add(self, n: int) -> None: ...


BLOCK = 1 << 20  # bytes per read: large enough that the per-call cost vanishes, small enough to stay in cache


class Missing(BadInput):
    """read_capped's "no such <what>": a subclass, so that a caller for whom absence means something can tell."""


def sha256_file(path: Path | str, progress: Progress | None = None) -> tuple[int, str]:
    """(size, sha256 hex) of a local file; OSError (FileNotFoundError...) when it cannot be read, BadInput when it
    is not a regular file (a FIFO would hang, a device never end)."""
    sha = hashlib.sha256()
    size = 0
    with open(regular_fd(path, "file"), "rb", buffering=0) as f:
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


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ("a FIFO", "a character device"...), for error lines."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular_fd(path: Path | str, what: str) -> int:
    """A descriptor open for reading on `path` if it is a regular file (symlinks followed); BadInput naming `what`
    otherwise.

    Opened with O_NONBLOCK, so a FIFO without a writer is refused at once instead of blocking the open; the type is
    checked on the open descriptor (fstat), so nothing can swap the file between the check and the read. OSError
    (FileNotFoundError, PermissionError) passes through for the caller to word.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise BadInput(f"cannot read {what}: {file_kind(mode)}, not a regular file", str(path))
    return fd


def open_regular(path: Path | str, what: str) -> BinaryIO:
    """`regular_fd` as a buffered binary file."""
    return open(regular_fd(path, what), "rb")  # noqa: SIM115 - the caller closes it


def read_capped(path: Path | str, cap: int, what: str, *, stdin: bool = False) -> bytes:
    """The whole of a small local input, at most `cap` bytes; BadInput (exit 2) in one line naming `what` and the
    path: "no such <what>", "cannot read <what>: ...", "<what> is larger than N bytes".

    With `stdin`, `-` is standard input (a pipe is what is meant there), read with the same cap. Any other path
    must be a regular file (`open_regular`).
    """
    where = str(path)
    if stdin and where == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(cap + 1) if stream is not None else sys.stdin.read(cap + 1).encode("utf-8")
    else:
        try:
            with open_regular(path, what) as f:
                data = f.read(cap + 1)
        except FileNotFoundError:
            raise Missing(f"no such {what}", where) from None
        except OSError as e:
            raise BadInput(f"cannot read {what}: {e.strerror or e}", where) from None
    if len(data) > cap:
        raise BadInput(f"{what} is larger than {cap} bytes", where)
    return data
