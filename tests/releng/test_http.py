"""releng.http: the one retry loop behind the CDN, GitHub and webhook clients, against a real local HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from releng import http


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next (status, headers) of its script; the last one repeats."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.seen = 0
        self.authorization: list[str | None] = []


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.authorization.append(self.headers.get("Authorization"))
        status, headers = self.server.script[min(self.server.seen, len(self.server.script) - 1)]
        self.server.seen += 1
        body = f"answer {self.server.seen}".encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[Scripted] = []

    def start(script: list[tuple[int, dict[str, str]]]) -> tuple[Scripted, str]:
        srv = Scripted(script)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv, f"http://127.0.0.1:{srv.server_address[1]}/hook"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_overload_is_retried_with_backoff_and_retry_after(serve):
    srv, url = serve([(503, {}), (429, {"Retry-After": "7"}), (200, {})])
    sleeps: list[float] = []
    reply = http.send("POST", url, data=b"{}", sleep=sleeps.append, backoff=0.5)
    assert (reply.status, reply.body, reply.attempts) == (200, b"answer 3", 3)
    assert sleeps == [0.5, 7.0] and srv.seen == 3


def test_a_final_error_comes_back_to_the_caller_untouched(serve):
    srv, url = serve([(403, {}), (200, {})])
    reply = http.send("POST", url, data=b"{}", sleep=lambda s: None)
    assert reply.status == 403 and srv.seen == 1


def test_gives_up_after_the_bounded_attempts_and_caps_the_wait(serve):
    srv, url = serve([(500, {"Retry-After": "100000"})])
    sleeps: list[float] = []
    with pytest.raises(http.GaveUp) as e:
        http.send("POST", url, data=b"{}", sleep=sleeps.append, attempts=3)
    assert srv.seen == 3 and e.value.attempts == 3 and "HTTP 500" in str(e.value)
    assert sleeps == [http.MAX_WAIT, http.MAX_WAIT]


def test_a_refused_connection_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    with pytest.raises(http.GaveUp, match="connection failed"):
        http.send("POST", f"http://127.0.0.1:{port}/", data=b"", sleep=sleeps.append, attempts=2, backoff=1.0)
    assert sleeps == [1.0]


def test_the_callers_headers_are_sent_and_no_netrc_replaces_them(serve, tmp_path, monkeypatch):
    srv, url = serve([(200, {})])
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elsewhere\n")
    monkeypatch.setenv("NETRC", str(netrc))
    http.send("POST", url, data=b"{}", headers={"Authorization": "Bearer t0ken"})
    http.send("POST", url, data=b"{}")
    assert srv.authorization == ["Bearer t0ken", None]


def test_a_connection_failure_never_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(http.GaveUp) as e:
        http.send("POST", f"http://127.0.0.1:{port}/services/T000/B000/secret", attempts=1)
    assert "secret" not in str(e.value) and str(port) not in str(e.value)


def test_retry_after_forms():
    assert http.retry_after("12", 1.0) == 12.0
    assert http.retry_after("soon", 3.0) == 3.0 and http.retry_after(None, 2.0) == 2.0
    assert http.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 5.0) == 0.0  # a date in the past: go now
