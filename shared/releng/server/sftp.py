"""The `sftp` transport: paramiko only, strict host keys, key or agent authentication, no remote shell commands.

Host keys: the server's key must be in the configured known_hosts (paramiko's RejectPolicy: an unknown key is refused,
a changed key raises BadHostKeyException); the user's own ~/.ssh/known_hosts is never read unless it is the file
the config names. Nothing is sent before the key is checked, so a refused server stays untouched
(docs/security-properties.md #9).

Throughput (bench/bench_publish.py, bench/README.md): paramiko's plain `put` is well behind OpenSSH's sftp. What
closes the gap:
a 64 MiB channel window and 256 KiB packets, pipelined writes (no round trip per request), 255 KiB write requests
(OpenSSH's sftp-server takes messages up to 256 KiB; paramiko's default is 32 KiB), aes128-gcm@openssh.com
first (AES-NI, one pass for cipher and MAC), and an unbuffered remote file fed exactly one request per write.
"""

from __future__ import annotations

import hashlib
import posixpath
import stat as st
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko

from releng import files
from releng.server.transport import CHUNK, HostKeyError, Stat, TransportError, Upload, check_rel, pump, read_prefix

if TYPE_CHECKING:
    from releng.server.transport import ProgressHook

WINDOW = 64 << 20
PACKET = 256 << 10
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")


_warm: list[bool] = []


def _raise_malloc_thresholds() -> None:
    """Make glibc keep 255 KiB buffers on its heap instead of mmap/munmap-ing each one.

    A fresh process starts with a 128 KiB mmap threshold and trims the heap above 256 KiB, so every 255 KiB request
    (ours, and the messages paramiko builds from it) faults in fresh pages, and a new process uploaded far slower
    than a warm one (bench/README.md). Freeing one large mmapped block raises both thresholds (glibc's dynamic
    threshold); elsewhere this is a harmless 8 MiB allocation.
    """
    if not _warm:
        block = bytearray(8 << 20)
        del block
        _warm.append(True)


def _fast_transport(sock: Any, **kwargs: Any) -> paramiko.Transport:
    kwargs.update(default_window_size=WINDOW, default_max_packet_size=PACKET)
    t = paramiko.Transport(sock, **kwargs)
    # paramiko has no public knob for the cipher order: its private `_preferred_ciphers` is the order offered.
    offered: tuple[str, ...] = getattr(t, "_preferred_ciphers")  # noqa: B009
    ordered = tuple(c for c in CIPHERS if c in offered) + tuple(c for c in offered if c not in CIPHERS)
    setattr(t, "_preferred_ciphers", ordered)  # noqa: B010
    return t


class SftpTransport:
    """An update server reached over SFTP; paths are relative to its configured absolute root."""

    def __init__(self, name: str, *, host: str, port: int, user: str, root: str, known_hosts: str,
                 key_file: str | None, base_url: str, timeout: float = 20.0) -> None:
        self.name, self.root, self.base_url = name, root.rstrip("/") or "/", base_url
        self.bytes_sent = 0
        self.progress: ProgressHook | None = None
        where = f"{name}: {user}@{host}:{port}"
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(Path(known_hosts).expanduser()))
        except OSError as e:
            raise HostKeyError(f"cannot read known_hosts: {e.strerror or e}", f"{name}: {known_hosts}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        if key_file and not Path(key_file).expanduser().is_file():  # paramiko would say only "No such file"
            raise TransportError("key_file does not exist or is not a file (nothing was sent)", f"{name}: {key_file}")
        try:
            client.connect(host, port, user, key_filename=str(Path(key_file).expanduser()) if key_file else None,
                           allow_agent=key_file is None, look_for_keys=False, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, transport_factory=_fast_transport)
        except paramiko.BadHostKeyException:
            client.close()
            raise HostKeyError("the server's host key differs from known_hosts (refused)", where) from None
        except paramiko.AuthenticationException:
            client.close()
            raise TransportError("authentication failed (key or agent refused)", where) from None
        except paramiko.SSHException as e:
            client.close()
            if "not found in known_hosts" in str(e):
                raise HostKeyError("the server's host key is not in known_hosts (refused)", where) from None
            raise TransportError(f"ssh: {e}", where) from None
        except OSError as e:
            client.close()
            raise TransportError(f"cannot connect: {e.strerror or e}", where) from None
        self._client = client
        transport = client.get_transport()
        assert transport is not None
        sftp = paramiko.SFTPClient.from_transport(transport, window_size=WINDOW, max_packet_size=PACKET)
        assert sftp is not None
        self._sftp = sftp

    def _p(self, rel: str) -> str:
        return posixpath.join(self.root, check_rel(rel)) if rel else self.root

    def _fail(self, what: str, rel: str, e: Exception) -> TransportError:
        return TransportError(f"{what} {rel}: {getattr(e, 'strerror', None) or e}", self.name)

    def url(self, rel: str) -> str:
        return f"{self.base_url.rstrip('/')}/{check_rel(rel)}"

    def _stat(self, rel: str, link: bool) -> Stat | None:
        try:
            a = (self._sftp.lstat if link else self._sftp.stat)(self._p(rel))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self._fail("cannot stat", rel, e) from None
        mode = a.st_mode or 0
        return Stat(a.st_size or 0, st.S_ISDIR(mode), st.S_ISLNK(mode), float(a.st_mtime or 0))

    def stat(self, rel: str) -> Stat | None:
        return self._stat(rel, False)

    def lstat(self, rel: str) -> Stat | None:
        return self._stat(rel, True)

    def mkdir(self, rel: str) -> bool:
        for _ in range(5):
            try:
                self._sftp.mkdir(self._p(rel))
            except OSError as e:
                # SFTP v3 reports EEXIST as a generic failure: tell it apart by looking. A lock folder can vanish
                # between the failed mkdir and the look (its holder let go): then try again.
                if self.lstat(rel) is not None:
                    return False
                error = e
                continue
            return True
        raise self._fail("cannot create", rel, error) from None

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(self._sftp.listdir(self._p(rel)))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise self._fail("cannot list", rel, e) from None

    def put_file(self, local: Path, rel: str) -> Upload:
        """Upload, resuming after the bytes already there; the local file is read once and hashed on the way.

        A resumed upload first hashes the remote partial file: when it is not a prefix of the local file (another
        input, a corrupted disk), the upload starts again from byte 0.

        An existing file no longer than the local one is opened without truncation: a second publisher of the same
        input writes the same bytes at the same offsets into it, so the file never shows a hole.
        """
        _raise_malloc_thresholds()
        total = local.stat().st_size
        have = self.stat(rel)
        offset = have.size if have is not None and have.size <= total else 0
        h = hashlib.sha256()
        try:
            mode = "r+" if have is not None and have.size <= total else "w"
            with open(local, "rb") as src:
                read_prefix(src, h, offset)
                if offset and self.hash_file(rel, offset)[1] != h.hexdigest():  # not a prefix of ours: start again
                    src.seek(0)
                    h, offset, mode = hashlib.sha256(), 0, "w"
                with self._sftp.open(self._p(rel), mode, bufsize=0) as f:
                    f.MAX_REQUEST_SIZE = CHUNK
                    f.set_pipelined(True)
                    f.seek(offset)
                    sent = pump(self, src, f.write, h, rel, offset, total, CHUNK)
        except (OSError, EOFError, paramiko.SSHException) as e:  # the connection dropped mid-transfer
            raise self._fail("cannot upload", rel, e) from None
        return Upload(sent, total, h.hexdigest())

    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes:
        try:
            with self._sftp.open(self._p(rel), "r") as f:
                data: bytes = f.read(limit + 1)
        except OSError as e:
            raise self._fail("cannot read", rel, e) from None
        if len(data) > limit:
            raise TransportError(f"{rel} is larger than {limit} bytes", self.name)
        return data

    def hash_file(self, rel: str, limit: int | None = None) -> tuple[int, str]:
        """(size, sha256) of a remote file, or of its first `limit` bytes."""
        try:
            with self._sftp.open(self._p(rel), "r", bufsize=0) as f:
                # 255 KiB read requests, all queued at once: many times prefetch's 32 KiB ones (bench/README.md).
                f.MAX_REQUEST_SIZE = CHUNK
                size = (f.stat().st_size or 0) if limit is None else limit
                f.prefetch(size)
                left = [size]

                def read(n: int) -> bytes:
                    block: bytes = f.read(min(n, left[0])) if left[0] else b""
                    left[0] -= len(block)
                    return block

                return files.hash_stream(read, CHUNK)
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise self._fail("cannot read", rel, e) from None

    def write_bytes(self, rel: str, data: bytes) -> None:
        try:
            with self._sftp.open(self._p(rel), "wx") as f:
                f.write(data)
        except OSError as e:
            raise self._fail("cannot write", rel, e) from None

    def posix_rename(self, src: str, dst: str) -> None:
        try:
            self._sftp.posix_rename(self._p(src), self._p(dst))
        except OSError as e:
            raise self._fail("cannot rename", src, e) from None

    def rename_noreplace(self, src: str, dst: str) -> None:
        # Plain SFTP rename refuses an existing target on OpenSSH; callers also hold the version's lock.
        if self.lstat(dst) is not None:
            raise TransportError(f"{dst} already exists", self.name)
        try:
            self._sftp.rename(self._p(src), self._p(dst))
        except OSError as e:
            raise self._fail("cannot rename", src, e) from None

    def symlink(self, target: str, rel: str) -> None:
        try:
            self._sftp.symlink(target, self._p(rel))
        except OSError as e:
            raise self._fail("cannot create link", rel, e) from None

    def readlink(self, rel: str) -> str | None:
        try:
            link = self._sftp.readlink(self._p(rel))
            return str(link) if link is not None else None
        except OSError:
            return None

    def remove(self, rel: str) -> None:
        self._delete(self._sftp.remove, rel)

    def rmdir(self, rel: str) -> None:
        self._delete(self._sftp.rmdir, rel)

    def _delete(self, op: Callable[[str], object], rel: str) -> None:
        """remove or rmdir: a name already gone is fine (a rerun, a racing cleaner), any other failure is not."""
        try:
            op(self._p(rel))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise self._fail("cannot remove", rel, e) from None

    def close(self) -> None:
        self._sftp.close()
        self._client.close()
