"""Servers that misbehave on purpose (importable as `faultkit`, beside testkit): one that drips its answer a byte at a
time, and stand-ins for Cloudflare and GitHub whose error answers echo the caller's credentials (issue 12 #3, #6).

Every one listens on 127.0.0.1 only, on a free port, served by daemon threads, and is bounded: a dripping connection
gives up after `limit` seconds whatever the client does, so a client without a deadline fails its test instead of
hanging the suite.
"""

from __future__ import annotations

import socket
import threading
import time
from email.message import Message
from typing import Any, Self

from testkit import FakeCloudflare, FakeGitHub


class Dripping:
    """A TCP server on 127.0.0.1 that answers each connection one byte every `interval` seconds.

    `phase` says where it drips: "headers" (from the status line on), "body" (complete headers announcing a
    `Content-Length` the drip never reaches), "eof-body" (complete headers without a length: the body ends when the
    connection does, so a client that is cut and takes the end for the end of the body would see a short answer),
    "silent" (accepts, reads nothing, sends nothing: a TLS handshake or an SMTP greeting that never comes) or "smtp"
    (an SMTP greeting dripped forever). `hits` counts connections, `first_hit` is when the first one came
    (time.monotonic()), `cut` counts the ones the client ended before `limit`."""

    def __init__(self, phase: str = "body", *, interval: float = 0.02, limit: float = 15.0) -> None:
        assert phase in ("headers", "body", "eof-body", "silent", "smtp")
        self.phase, self.interval, self.limit = phase, interval, limit
        self.hits, self.cut = 0, 0
        self.first_hit: float | None = None
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.hits += 1
            self.first_hit = self.first_hit or time.monotonic()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        end = time.monotonic() + self.limit
        with conn:
            conn.settimeout(self.limit)
            try:
                if self.phase not in ("silent", "smtp"):
                    _read_request(conn)
                head, drip = self._answer()
                conn.sendall(head)
                sent = 0
                while time.monotonic() < end and not self.stopped.is_set():
                    if self.phase == "silent":
                        time.sleep(self.interval)
                        continue
                    if not self.interval:  # no drip: a flood, for the caps on an answer's size
                        conn.sendall(drip * 1024)
                        continue
                    conn.sendall(drip[sent % len(drip):][:1])  # the drip, one byte at a time, over and over
                    sent += 1
                    time.sleep(self.interval)
            except OSError:
                self.cut += 1  # the client shut the connection: what a deadline does

    def _answer(self) -> tuple[bytes, bytes]:
        status = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if self.phase == "headers":
            return b"", status + b"X-Padding: " + b"x" * 100000
        if self.phase == "body":
            return status + b"Content-Length: 1000000\r\n\r\n", b"{" + b" " * 64
        if self.phase == "eof-body":
            return status + b"Connection: close\r\n\r\n", b'{"versions": {}}  '
        if self.phase == "smtp":
            return b"", b"220-smtp.example ESMTP dripping\r\n"
        return b"", b""


def _read_request(conn: socket.socket) -> None:
    """Read one request's head and its Content-Length body (so that the client is waiting for the answer)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


def _echo(headers: Message) -> str:
    """What a badly behaved API puts in an error: the credentials it was sent, in several spellings."""
    auth = headers.get("Authorization", "")
    token = auth.split(" ", 1)[-1]
    return (f"Bad credentials: got Authorization: {auth}; token {token}; retry with "
            f"https://x-access-token:{token}@api.example/ or ?access_token={token}")


class EchoingCloudflare(FakeCloudflare):
    """Cloudflare refusing every purge with 403, its error message echoing the token and the Authorization header."""

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        return 403, self._errors(10000, _echo(headers))


class EchoingGitHub(FakeGitHub):
    """GitHub answering every call 401, its `message` echoing the token and the Authorization header."""

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        return 401, {"message": _echo(headers), "documentation_url": "https://docs.github.com/rest"}
