"""The `local` transport: a folder as the server root, the embedded default for demos and single-machine setups.

Same operations and guarantees as SFTP (releng.server.transport): uploads resume, renames are POSIX renames, a
directory rename never replaces, and every relative path is checked before it touches the disk.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from releng import files
from releng.server.transport import ProgressHook, Stat, TransportError, Upload, check_rel, pump, read_prefix


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
        # Never truncate a file another publisher of the same input may be writing: same bytes at same offsets.
        with open(local, "rb") as src, open(target, "r+b" if st is not None and st.size <= total else "wb") as dst:
            read_prefix(src, h, offset)
            if offset and files.hash_stream(lambda n: dst.read(min(n, offset - dst.tell())))[1] != h.hexdigest():
                src.seek(0)
                dst.truncate(0)  # the partial file is not a prefix of ours: start again
                h, offset = hashlib.sha256(), 0
            dst.seek(offset)
            sent = pump(self, src, dst.write, h, rel, offset, total, 4 << 20)
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
        return files.sha256_file(self._p(rel))

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


def _stat(path: Path, func: Callable[[Path], os.stat_result]) -> Stat | None:
    import stat as st

    try:
        s = func(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Stat(s.st_size, st.S_ISDIR(s.st_mode), st.S_ISLNK(s.st_mode), s.st_mtime)
