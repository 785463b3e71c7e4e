"""One connection per server for a job made of steps that each open and close the servers (`reusing()`).

Why: watch-health's check runs independent steps (what is offered, was it rolled back, halt, roll back), each opening
every server through connect.open_server and closing it after, as each must when it runs alone
(rollback-release). Over SFTP every open is a TCP connect, key exchange and authentication: most of such a check's
time on a fast network, more round trips than the work itself on a slow one. Inside `with reusing():` open_server
hands back the connection already open to the same `servers[]` entry, its close() does nothing, and the block's end
closes them all; outside one, nothing changes.

A connection handed out again is first asked one stat of the server root: one that dropped or failed since its last
use (a mirror restarting, a network cut) is closed and replaced by a fresh connect, so a server that went away fails
that connect and is reported as unreachable, exactly as without the pool, and one that came back is used again.
A connect that fails leaves nothing in the pool: the next open tries again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from releng.server.transport import ProgressHook, Stat, Transport, Upload

# The pool of the active reusing() block, keyed by the server's spec. A ContextVar: another thread never sees it.
_POOL: ContextVar[dict[str, _Shared] | None] = ContextVar("releng_transport_pool", default=None)


@contextmanager
def reusing() -> Iterator[None]:
    """Share one connection per server among the open_server calls of the block; close them all at its end.
    A nested block joins the outermost one."""
    if _POOL.get() is not None:
        yield
        return
    pool: dict[str, _Shared] = {}
    token = _POOL.set(pool)
    try:
        yield
    finally:
        _POOL.reset(token)
        with ExitStack() as stack:  # every one is closed even when one close raises
            for shared in pool.values():
                stack.callback(shared.t.close)


def opened(spec: Mapping[str, Any], connect: Callable[[], Transport]) -> Transport:
    """connect.open_server's path: `connect()` outside a reusing() block; inside one, the pooled connection to
    `spec` when it still answers, else a fresh `connect()` put in the pool. (open_server's `create` does not change
    the key: a pooled local root exists already.)"""
    pool = _POOL.get()
    if pool is None:
        return connect()
    key = json.dumps(spec, sort_keys=True, default=str)
    shared = pool.pop(key, None)
    if shared is not None:
        try:  # one round trip instead of a handshake
            st = shared.t.stat("")
        except Exception:  # noqa: BLE001 - whatever broke it, the fresh connect below says what is wrong now
            st = None
        if st is not None and st.is_dir:
            pool[key] = shared
            return shared
        with suppress(Exception):  # it is being dropped: a failing close changes nothing
            shared.t.close()
    shared = _Shared(connect())  # raises when the server cannot be reached: nothing is pooled
    pool[key] = shared
    return shared


class _Shared:
    """A pooled transport as open_server hands it out in `reusing()`: every operation goes to the one connection,
    and close() leaves it open for the next step (the pool closes it)."""

    def __init__(self, t: Transport) -> None:
        self.t = t
        self.name = t.name

    @property
    def bytes_sent(self) -> int:
        return self.t.bytes_sent

    @bytes_sent.setter
    def bytes_sent(self, value: int) -> None:
        self.t.bytes_sent = value

    @property
    def progress(self) -> ProgressHook | None:
        return self.t.progress

    @progress.setter
    def progress(self, hook: ProgressHook | None) -> None:
        self.t.progress = hook

    def url(self, rel: str) -> str:
        return self.t.url(rel)

    def stat(self, rel: str) -> Stat | None:
        return self.t.stat(rel)

    def lstat(self, rel: str) -> Stat | None:
        return self.t.lstat(rel)

    def mkdir(self, rel: str) -> bool:
        return self.t.mkdir(rel)

    def listdir(self, rel: str) -> list[str]:
        return self.t.listdir(rel)

    def put_file(self, local: Path, rel: str, *expected: str) -> Upload:
        return self.t.put_file(local, rel, *expected)  # an object store also takes the expected sha256

    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes:
        return self.t.read_bytes(rel, limit)

    def hash_file(self, rel: str) -> tuple[int, str]:
        return self.t.hash_file(rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.t.write_bytes(rel, data)

    def posix_rename(self, src: str, dst: str) -> None:
        self.t.posix_rename(src, dst)

    def rename_noreplace(self, src: str, dst: str) -> None:
        self.t.rename_noreplace(src, dst)

    def symlink(self, target: str, rel: str) -> None:
        self.t.symlink(target, rel)

    def readlink(self, rel: str) -> str | None:
        return self.t.readlink(rel)

    def remove(self, rel: str) -> None:
        self.t.remove(rel)

    def rmdir(self, rel: str) -> None:
        self.t.rmdir(rel)

    def close(self) -> None:
        pass  # the end of reusing() closes the connection

    def __getattr__(self, attr: str) -> Any:
        """An object store's extra operations (releng.server.s3: objects, stored, replace_bytes, replace_link) reach
        the pooled connection too; a transport without them has none here either."""
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.t, attr)
