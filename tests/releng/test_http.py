"""releng.http: the one retry loop behind the CDN, GitHub and webhook clients, its deadlines and its redaction, against
real local HTTP servers (faultkit.Dripping drips an answer a byte every 20 ms)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from faultkit import Dripping
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
        http.send("POST", url, data=b"{}", sleep=sleeps.append, attempts=3, budget=1000)
    assert srv.seen == 3 and e.value.attempts == 3 and "HTTP 500" in str(e.value)
    assert sleeps == [http.MAX_WAIT, http.MAX_WAIT]


def test_a_wait_that_would_pass_the_budget_gives_up_at_once(serve):
    srv, url = serve([(503, {"Retry-After": "30"})])
    sleeps: list[float] = []
    with pytest.raises(http.GaveUp, match=r"HTTP 503; no time left to retry within 20 s") as e:
        http.send("POST", url, data=b"{}", sleep=sleeps.append, timeout=5, attempts=4)  # budget 5 x 4 = 20 s
    assert srv.seen == 1 and e.value.attempts == 1 and sleeps == []


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


# --- deadlines (issue 12 #3): a server dripping its answer a byte every 20 ms is cut at the deadline ---------------

SLACK = 1.0  # what a test allows past a deadline: generous, never a tight timing


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -float("inf"), 0, 0.0, -1, -1e-9])
def test_a_deadline_needs_a_finite_number_of_seconds_above_0(seconds):
    with pytest.raises(ValueError, match="finite number of seconds above 0"):
        http.Deadline(seconds)


def test_a_deadline_counts_down_and_its_timeouts_never_pass_it():
    d = http.Deadline(5)
    assert 4 < d.remaining() <= 5 and not d.passed
    connect, read = d.timeout(30)
    assert 4 < connect <= 5 and 4 < read <= 5
    assert d.timeout(0.5) == (0.5, 0.5)
    gone = http.Deadline(1e-6)
    time.sleep(0.01)
    assert gone.passed and gone.remaining() == 0 and gone.timeout(30) == (0.001, 0.001)  # never 0: "no timeout"


@pytest.mark.parametrize("phase", ["headers", "body", "eof-body"])
def test_bounded_cuts_a_dripping_answer_at_the_deadline(phase):
    with Dripping(phase) as srv:
        start = time.monotonic()
        with pytest.raises(http.TooSlow, match="within 1 s"), http.bounded(http.Deadline(1), srv.url) as session, \
                session.get(srv.url, stream=True, timeout=30) as resp:  # per read: never reached
            for _ in resp.iter_content(65536):
                pass
        assert time.monotonic() - start < 1 + SLACK
        assert srv.hits == 1


def test_bounded_cuts_a_tls_handshake_that_never_ends():
    with Dripping("silent") as srv:
        start = time.monotonic()
        with pytest.raises(http.TooSlow), http.bounded(http.Deadline(1), srv.url) as session:
            session.get(f"https://127.0.0.1:{srv.port}/", timeout=30)
        assert time.monotonic() - start < 1 + SLACK


def test_bounded_lets_a_prompt_answer_through(serve):
    _, url = serve([(200, {})])
    with http.bounded(http.Deadline(10), url) as session:
        assert session.post(url, data=b"{}", timeout=5).content == b"answer 1"


def test_watch_cuts_any_socket_it_is_given():
    with Dripping("silent") as srv, socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.settimeout(30)
        start = time.monotonic()
        with pytest.raises(http.TooSlow), http.watch(http.Deadline(0.5)) as add:
            add(sock)
            assert sock.recv(1) == b""  # shut down under the blocked read: it returns at once
        assert time.monotonic() - start < 0.5 + SLACK


def test_within_gives_up_a_call_no_timeout_reaches():
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        http.within(http.Deadline(0.3), lambda: time.sleep(5))
    assert time.monotonic() - start < 0.3 + SLACK
    assert http.within(http.Deadline(5), lambda: 42) == 42
    with pytest.raises(KeyError):
        http.within(http.Deadline(5), lambda: {}["x"])


@pytest.mark.parametrize("phase", ["headers", "body", "eof-body"])
def test_send_gives_up_on_a_dripping_server_within_its_budget(phase):
    with Dripping(phase) as srv:
        start = time.monotonic()
        with pytest.raises(http.GaveUp, match=r"no complete answer within 1 s") as e:
            http.send("POST", srv.url + "/hook/secret", data=b"{}", timeout=1, attempts=3, backoff=0.1, budget=2.5)
        elapsed = time.monotonic() - start
    # 1 s, a 0.1 s wait, 1 s: 0.4 s are left, too little for another attempt (it needs 1 s at least)
    assert elapsed < 2.5 + SLACK and e.value.attempts == 2 and srv.hits == 2
    assert "no time left to retry within 2.5 s" in str(e.value)
    assert "\n" not in str(e.value) and "secret" not in str(e.value)


def test_the_default_budget_is_timeout_times_attempts():
    with Dripping("body") as srv:
        start = time.monotonic()
        with pytest.raises(http.GaveUp, match="no complete answer within 0.5 s"):
            http.send("GET", srv.url, timeout=0.5, attempts=2, backoff=0.01)
        assert time.monotonic() - start < 0.5 * 2 + SLACK


def test_an_endless_answer_is_capped(monkeypatch):
    monkeypatch.setattr(http, "MAX_ANSWER", 1000)
    with Dripping("body", interval=0) as srv, pytest.raises(http.GaveUp, match="larger than 1000 bytes"):
        http.send("GET", srv.url, timeout=5)


def test_a_bad_timeout_is_refused_before_anything_is_sent(serve):
    srv, url = serve([(200, {})])
    for bad in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(ValueError):
            http.send("POST", url, timeout=bad)
    assert srv.seen == 0


# --- redaction (issue 12 #6) -------------------------------------------------------------------------------------

TOKEN = "ghp_fakeTokenValue0123456789abcdefXYZ"


@pytest.mark.parametrize(("text", "kept"), [
    (f"Authorization: Bearer {TOKEN}", "Authorization: [redacted]"),
    (f'{{"authorization": "token {TOKEN}"}}', '{"authorization": "[redacted]"}'),
    ("Proxy-Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==\nnext line", "Proxy-Authorization: [redacted]\nnext line"),
    (f"bad credentials: Bearer {TOKEN[4:]}.", "bad credentials: Bearer [redacted]."),
    ("WWW-Authenticate: Bearer realm=api", "WWW-Authenticate: Bearer realm=api"),
    ("the token abc123def456 expired", "the token [redacted] expired"),
    ("token expired, get a new token", "token expired, get a new token"),  # words stay words
    ("clone https://user:hunter2@git.example/x.git", "clone https://[redacted]@git.example/x.git"),
    ("see https://x-access-token@github.com/acme/gain", "see https://[redacted]@github.com/acme/gain"),
    ("GET /a?access_token=s3cr3t&page=2", "GET /a?access_token=[redacted]&page=2"),
    (f"leaked {TOKEN} here", "leaked [redacted] here"),
    ("hook xoxb-1234567890-abcdefghij", "hook [redacted]"),
    ("X-Auth-Key: 0123456789abcdef", "X-Auth-Key: [redacted]"),
    ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----", "[redacted key]"),
    ("HTTP 403: 10000: Authentication error", "HTTP 403: 10000: Authentication error"),
])
def test_redact_strips_what_looks_like_a_credential(text, kept):
    assert http.redact(text) == kept
    assert http.redact(kept) == kept  # twice is once: a stored error redacted again does not change


def test_redact_strips_the_given_secrets_in_every_spelling():
    secret, hook = "Y4Jk-secret/cdn+token ffa1", "https://hooks.example/services/T000/B000/secretpath"
    text = (f"raw {secret}; quoted {urllib.parse.quote(secret, safe='')}; json {json.dumps(secret)}; "
            f"hook {hook}; path /services/T000/B000/secretpath")
    out = http.redact(text, [secret, hook, "", "ab"])
    assert "secret" not in out.replace("[redacted]", "") and "ffa1" not in out and "B000" not in out
    assert out.startswith("raw [redacted]; quoted [redacted]; json \"[redacted]\"")
    assert http.redact("a b ab", ["ab", ""]) == "a b ab"  # too short to be a secret: the text is left alone


def test_credentials_are_read_from_the_headers_sent():
    found = http.credentials({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                              "X-Auth-Key": "k3y", "Accept": "x"})
    assert found == [f"Bearer {TOKEN}", TOKEN, "k3y", "k3y"]


def test_an_answer_echoing_the_authorization_header_never_reaches_the_message(serve):
    class Echo(Handler):
        def do_POST(self) -> None:  # noqa: N802
            body = f"denied for {self.headers.get('Authorization')}".encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = Scripted([])
    srv.RequestHandlerClass = Echo
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(http.GaveUp) as e:
            http.send("POST", f"http://127.0.0.1:{srv.server_address[1]}/", headers={"Authorization": "token s3cr3t!"},
                      attempts=2, sleep=lambda s: None, describe=lambda r: r.body.decode())
    finally:
        srv.shutdown()
        srv.server_close()
    assert "s3cr3t" not in str(e.value) and "denied for [redacted]" in str(e.value)


@pytest.mark.parametrize("url", ["http://[::1/x", "http://", "ftp://127.0.0.1/x"])
def test_a_bad_url_gives_up_at_once_in_one_line(url):
    with pytest.raises(http.GaveUp, match="not retried") as e:
        http.send("POST", url, attempts=3, sleep=lambda s: None)
    assert e.value.attempts == 1
