"""Where releases go: an update server's root reached through a folder (`local`) or SFTP (`sftp`, paramiko).

Both transports offer the same small set of operations on paths relative to the server's root (DESIGN.md "The update
server"): stat, mkdir (atomic, so it doubles as a mutex), list, resumable upload, read and hash, atomic replace of a
small file (temp + POSIX rename), a directory rename that never replaces, and a symlink switch by renaming a new link
over the old one. Every relative path is checked (no `..`, no absolute path, no NUL) before it touches a server.
This module is the model: the Transport protocol, its records and errors, and the helpers built on its operations.
The implementations sit above it (releng.server.local, releng.server.sftp: strict host keys, throughput tuning;
releng.server.s3: a bucket, where conditional writes stand in for mkdir, rename and symlinks),
and releng.server.connect picks one for a configured server (releng.server.pool lets one job that opens the same
server several times, a watch-health check, keep one connection per server).
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from releng.errors import BadInput, ExternalError

ProgressHook = Callable[[str, int, int], None]  # (rel, bytes of the remote file so far, its final size)
CHUNK = 255 * 1024  # OpenSSH's sftp-server takes messages up to 256 KiB: the largest write request that fits
LOCK_WAIT = 15.0  # seconds to wait for a lock another publisher holds


class TransportError(ExternalError):
    """A server refused or failed an operation (exit 2 through releng.cli)."""


class HostKeyError(ExternalError):
    """The server's host key is unknown or differs from known_hosts: nothing was sent (exit 2)."""


def network_error(e: BaseException) -> bool:
    """A dropped connection or a failing server (reported per server, a rerun finishes the job), as opposed to a bug
    (exit 3). paramiko raises its own exception types, not always OSError subclasses."""
    return isinstance(e, OSError | EOFError) or type(e).__module__.startswith("paramiko")


@dataclass(frozen=True)
class Stat:
    size: int
    is_dir: bool
    is_link: bool
    mtime: float


@dataclass(frozen=True)
class Upload:
    bytes_sent: int  # what this call wrote (a resumed upload sends only the missing tail)
    size: int
    sha256: str  # of the whole local file, read once while sending


class Transport(Protocol):
    """The operations publish-release (and promote/rollback) need from an update server."""

    name: str
    bytes_sent: int
    progress: ProgressHook | None  # called by put_file as bytes go out (releng.progress draws it)

    def url(self, rel: str) -> str: ...
    def stat(self, rel: str) -> Stat | None: ...
    def lstat(self, rel: str) -> Stat | None: ...
    def mkdir(self, rel: str) -> bool: ...
    def listdir(self, rel: str) -> list[str]: ...
    def put_file(self, local: Path, rel: str) -> Upload: ...
    def read_bytes(self, rel: str, limit: int = ...) -> bytes: ...
    def hash_file(self, rel: str) -> tuple[int, str]: ...
    def write_bytes(self, rel: str, data: bytes) -> None: ...
    def posix_rename(self, src: str, dst: str) -> None: ...
    def rename_noreplace(self, src: str, dst: str) -> None: ...
    def symlink(self, target: str, rel: str) -> None: ...
    def readlink(self, rel: str) -> str | None: ...
    def remove(self, rel: str) -> None: ...
    def rmdir(self, rel: str) -> None: ...
    def close(self) -> None: ...


def check_rel(rel: str) -> str:
    """A root-relative POSIX path ("" = the root); BadInput for absolute paths, `..`, empty parts or NUL."""
    if rel == "":
        return rel
    parts = rel.split("/")
    if "\0" in rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"unsafe server path {rel!r}")
    return rel


def mkdirs(t: Transport, rel: str) -> None:
    """mkdir -p, relative to the root."""
    parts = check_rel(rel).split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        st = t.stat(sub)
        if st is None:
            t.mkdir(sub)
        elif not st.is_dir:
            raise TransportError(f"{sub} exists and is not a folder", t.name)


def write_atomic(t: Transport, rel: str, data: bytes) -> None:
    """Write a temp file beside `rel`, then rename it over `rel` in one POSIX rename: readers see old or new.
    An object store (releng.server.s3) replaces the object in one conditional PUT instead (If-Match: the ETag it
    read), so a concurrent writer's update is refused, never lost."""
    replace = getattr(t, "replace_bytes", None)
    if replace is not None:
        replace(rel, data)
        return
    _swap_in(t, rel, lambda tmp: t.write_bytes(tmp, data), f"{os.getpid()}.{os.urandom(4).hex()}.tmp")


def switch_symlink(t: Transport, target: str, rel: str) -> None:
    """Point the symlink `rel` at `target` by renaming a new link over it: it never stops resolving
    (docs/security-properties.md #6). In a bucket, `rel` is a pointer object replaced by one PUT."""
    replace = getattr(t, "replace_link", None)
    if replace is not None:
        replace(target, rel)
        return
    _swap_in(t, rel, lambda tmp: t.symlink(target, tmp), os.urandom(6).hex())


def _swap_in(t: Transport, rel: str, create: Callable[[str], None], suffix: str) -> None:
    """Create `.<name>.<suffix>` beside `rel` and rename it over `rel`; on any failure the temp name is removed."""
    folder, base = posixpath.split(check_rel(rel))
    tmp = posixpath.join(folder, f".{base}.{suffix}")
    create(tmp)
    try:
        t.posix_rename(tmp, rel)
    except BaseException:
        t.remove(tmp)
        raise


@contextmanager
def lock(t: Transport, rel: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """A mutex on one server: mkdir is atomic on a local disk and over SFTP. Held while the block runs."""
    deadline = time.monotonic() + wait
    while not t.mkdir(rel):
        if time.monotonic() >= deadline:
            raise TransportError(f"{rel} is held by another publisher (remove it if none is running)", t.name)
        time.sleep(0.05)
    try:
        yield
    finally:
        t.rmdir(rel)


def pump(t: Transport, src: BinaryIO, write: Callable[[bytes], object], h: Any, rel: str, offset: int, total: int,
         chunk: int) -> int:
    """Send the rest of `src` through `write` in `chunk`s, hashing it into `h` and counting `t.bytes_sent`; the
    transport's progress hook sees every block. Returns the bytes sent (both transports' upload loop)."""
    hook = t.progress  # one check per file: the loop stays as lean without a terminal
    if hook is not None:
        hook(rel, offset, total)
    sent = 0
    while block := src.read(chunk):
        h.update(block)
        write(block)
        sent += len(block)
        t.bytes_sent += len(block)
        if hook is not None:
            hook(rel, offset + sent, total)
    return sent


def read_prefix(src: BinaryIO, h: Any, offset: int) -> None:
    """Feed the first `offset` bytes of `src` to `h` (the part a resumed upload does not send again)."""
    left = offset
    while left and (block := src.read(min(4 << 20, left))):
        h.update(block)
        left -= len(block)
