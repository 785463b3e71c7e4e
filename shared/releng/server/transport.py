"""Where releases go: an update server's root reached through a folder (`local`) or SFTP (`sftp`, paramiko).

Both transports offer the same small set of operations on paths relative to the server's root (DESIGN.md "The update
server"): stat, mkdir (atomic, so it doubles as a mutex), list, resumable upload, read and hash, atomic replace of a
small file (temp + POSIX rename), a directory rename that never replaces, and a symlink switch by renaming a new link
over the old one. Every relative path is checked (no `..`, no absolute path, no NUL) before it touches a server.
SFTP specifics (strict host keys, throughput tuning) live in releng.server.sftp; releng.server.pool lets one
job that opens the same server several times (a watch-health check) keep one connection per server.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from collections.abc import Callable, Iterator, Mapping
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
    """Write a temp file beside `rel`, then rename it over `rel` in one POSIX rename: readers see old or new."""
    folder, base = posixpath.split(check_rel(rel))
    tmp = posixpath.join(folder, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    t.write_bytes(tmp, data)
    try:
        t.posix_rename(tmp, rel)
    except BaseException:
        t.remove(tmp)
        raise


def switch_symlink(t: Transport, target: str, rel: str) -> None:
    """Point the symlink `rel` at `target` by renaming a new link over it: it never stops resolving (item 6)."""
    folder, base = posixpath.split(check_rel(rel))
    tmp = posixpath.join(folder, f".{base}.{os.urandom(6).hex()}")
    t.symlink(target, tmp)
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


def hash_stream(read: Callable[[int], bytes], chunk: int = 4 << 20) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    while block := read(chunk):
        h.update(block)
        size += len(block)
    return size, h.hexdigest()


def hash_local(path: Path) -> tuple[int, str]:
    """(size, sha256) of a local file."""
    with open(path, "rb") as f:
        return hash_stream(f.read)


def open_server(spec: Mapping[str, Any], *, create: bool = True) -> Transport:
    """Connect to one configured server (a checked `servers[]` entry of update_server_config.json).

    A local root is created unless `create` is false (a dry run changes nothing: TransportError when it is missing).
    Inside releng.server.pool.reusing(), the connection already open to the same server is handed back instead.
    """
    from releng.server import pool  # it builds on this module, so it is imported on use

    return pool.opened(spec, lambda: _connect(spec, create))


def _connect(spec: Mapping[str, Any], create: bool) -> Transport:
    if spec["transport"] == "local":
        root = Path(spec["root"]).expanduser()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return LocalTransport(spec["name"], root, spec.get("base_url"))
    from releng.server.sftp import SftpTransport

    return SftpTransport(spec["name"], host=spec["host"], port=int(spec.get("port", 22)), user=spec["user"],
                         root=spec["root"], known_hosts=spec["known_hosts"], key_file=spec.get("key_file"),
                         base_url=spec["base_url"], timeout=float(spec.get("timeout", 20)))


class LocalTransport:
    """A folder as the server root: the embedded default for demos and single-machine setups."""

    def __init__(self, name: str, root: Path | str, base_url: str | None = None) -> None:
        self.name = name
        self.root = Path(root)
        self.base_url = base_url or self.root.resolve().as_uri()
        self.bytes_sent = 0
        self.progress: ProgressHook | None = None
        if not self.root.is_dir():
            raise TransportError("the server root is not a folder", f"{name}: {root}")

    def _p(self, rel: str) -> Path:
        return self.root / check_rel(rel)

    def url(self, rel: str) -> str:
        return f"{self.base_url.rstrip('/')}/{check_rel(rel)}"

    def stat(self, rel: str) -> Stat | None:
        return _stat(self._p(rel), os.stat)

    def lstat(self, rel: str) -> Stat | None:
        return _stat(self._p(rel), os.lstat)

    def mkdir(self, rel: str) -> bool:
        try:
            os.mkdir(self._p(rel))
        except FileExistsError:
            return False
        return True

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self._p(rel)))
        except FileNotFoundError:
            return []

    def put_file(self, local: Path, rel: str) -> Upload:
        try:
            return self._put(local, rel)
        except OSError as e:
            raise TransportError(f"cannot upload {rel}: {e.strerror or e}", self.name) from None

    def _put(self, local: Path, rel: str) -> Upload:
        target = self._p(rel)
        st = self.stat(rel)
        total = local.stat().st_size
        offset = st.size if st is not None and st.size <= total else 0
        h = hashlib.sha256()
        sent = 0
        # Never truncate a file another publisher of the same input may be writing: same bytes at same offsets.
        with open(local, "rb") as src, open(target, "r+b" if st is not None and st.size <= total else "wb") as dst:
            read_prefix(src, h, offset)
            if offset and hash_stream(lambda n: dst.read(min(n, offset - dst.tell())))[1] != h.hexdigest():
                src.seek(0)
                dst.truncate(0)  # the partial file is not a prefix of ours: start again
                h, offset = hashlib.sha256(), 0
            dst.seek(offset)
            hook = self.progress
            if hook is not None:
                hook(rel, offset, total)
            while block := src.read(4 << 20):
                h.update(block)
                dst.write(block)
                sent += len(block)
                self.bytes_sent += len(block)
                if hook is not None:
                    hook(rel, offset + sent, total)
            dst.flush()
            os.fsync(dst.fileno())
        return Upload(sent, total, h.hexdigest())

    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes:
        with open(self._p(rel), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise TransportError(f"{rel} is larger than {limit} bytes", self.name)
        return data

    def hash_file(self, rel: str) -> tuple[int, str]:
        return hash_local(self._p(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        with open(self._p(rel), "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def posix_rename(self, src: str, dst: str) -> None:
        os.replace(self._p(src), self._p(dst))

    def rename_noreplace(self, src: str, dst: str) -> None:
        # os.rename would replace an empty folder: callers hold the version's lock, and this check runs under it.
        if self.lstat(dst) is not None:
            raise TransportError(f"{dst} already exists", self.name)
        os.rename(self._p(src), self._p(dst))

    def symlink(self, target: str, rel: str) -> None:
        os.symlink(target, self._p(rel))

    def readlink(self, rel: str) -> str | None:
        try:
            return os.readlink(self._p(rel))
        except (FileNotFoundError, OSError):
            return None

    def remove(self, rel: str) -> None:
        try:
            os.unlink(self._p(rel))
        except FileNotFoundError:
            pass

    def rmdir(self, rel: str) -> None:
        try:
            os.rmdir(self._p(rel))
        except FileNotFoundError:
            pass

    def close(self) -> None:
        pass


def read_prefix(src: BinaryIO, h: Any, offset: int) -> None:
    """Feed the first `offset` bytes of `src` to `h` (the part a resumed upload does not send again)."""
    left = offset
    while left and (block := src.read(min(4 << 20, left))):
        h.update(block)
        left -= len(block)


def _stat(path: Path, func: Callable[[Path], os.stat_result]) -> Stat | None:
    import stat as st

    try:
        s = func(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Stat(s.st_size, st.S_ISDIR(s.st_mode), st.S_ISLNK(s.st_mode), s.st_mtime)
