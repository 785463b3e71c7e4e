"""One HTTP call with bounded retries, shared by every client of a web API (CDN purge, GitHub, webhooks).

The services we call (Cloudflare, GitHub, Slack-compatible webhooks) all answer an overload with 429 or 5xx, and
say how long to wait in `Retry-After` (delta-seconds or an HTTP date). Retrying those, and a dropped connection,
with exponential backoff for a bounded number of attempts is the whole policy; what a final answer *means* is the
caller's business, so every answer that is not retried comes back as a `Reply`, whatever its status. Headers may
carry tokens: nothing here prints or logs a request, and no message names the URL (a webhook URL is a secret);
`redact()` strips credentials from the text of an answer before a caller prints or stores it.

Every exchange has a total deadline (issue 12 #3): per-read timeouts let a server that drips one byte at a time
hold a caller for ever, so `bounded()` and `watch()` shut the sockets down when a `Deadline` passes (connect, TLS,
headers and body), and name resolution, which no timeout covers, is given up at the deadline too.

Sent with requests (the library check-update and watch-health use), imported on the first call so that the
commands which never send anything, the commit hook first, do not pay for it. The session ignores ~/.netrc, which
would replace the caller's `Authorization` header, and takes proxies from the environment as urllib did.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    import socket

    import requests
    import requests.adapters

T = TypeVar("T")

MAX_WAIT = 60.0  # never sleep longer than this for one retry, whatever Retry-After says
MAX_ANSWER = 8 << 20  # bytes: an API answer is a few KiB; more is a runaway server (TUF's "endless data")


class Reply(NamedTuple):
    status: int
    body: bytes
    headers: Mapping[str, str]
    attempts: int = 1  # requests sent to get this answer, retries included


class GaveUp(Exception):
    """Every attempt was retryable and failed; `last` says how the last one ended (no header values in it)."""

    def __init__(self, attempts: int, last: str) -> None:
        super().__init__(f"failed after {attempts} attempts ({last})")
        self.attempts = attempts
        self.last = last


def overloaded(reply: Reply) -> bool:
    """The default retry rule: 429 and 5xx are worth another try, every other answer is final."""
    return reply.status == 429 or reply.status >= 500


def send(method: str, url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 20.0, attempts: int = 5, backoff: float = 1.0, budget: float | None = None,
         sleep: Callable[[float], None] = time.sleep,
         retry: Callable[[Reply], bool] = overloaded,
         describe: Callable[[Reply], str] = lambda r: f"HTTP {r.status}") -> Reply:
    """Send one request, retrying while `retry(reply)` says so or the connection fails; the first final Reply.

    Each attempt is over within `timeout` seconds in all (connect, headers and body), and the whole call, retries and
    sleeps included, within `budget` (default `timeout * attempts`): a retry whose wait would not leave time for it is
    not made. GaveUp's reason has the headers' credentials and the URL redacted. An answer is at most MAX_ANSWER."""
    import requests

    Deadline(timeout)  # refuses a timeout of nan, inf, 0 or below before anything is sent
    total = Deadline(timeout * attempts if budget is None else budget)
    hidden = [url, *credentials(headers or {})]
    last = ""
    for attempt in range(1, attempts + 1):
        wait, reply = backoff * 2 ** (attempt - 1), None
        try:
            reply = _attempt(method, url, data, headers or {}, Deadline(max(min(timeout, total.remaining()), 1e-3)),
                             attempt)
        except TooSlow as e:
            last = str(e)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            last = f"connection failed: {_reason(e)}"
        except (requests.RequestException, ValueError) as e:  # a bad URL, a redirect loop: retrying cannot help
            raise GaveUp(attempt, f"{type(e).__name__}, not retried") from None
        if reply is not None:
            if not retry(reply):
                return reply
            wait = retry_after(reply.headers.get("Retry-After"), wait)
            last = redact(describe(reply), hidden)
        if attempt < attempts:
            wait = min(wait, MAX_WAIT)
            if wait + min(timeout, 1.0) > total.remaining():  # an attempt needs a second (or its timeout) at least
                raise GaveUp(attempt, f"{last}; no time left to retry within {total.seconds:g} s")
            sleep(wait)
    raise GaveUp(attempts, last)


def _attempt(method: str, url: str, data: bytes | None, headers: Mapping[str, str], deadline: Deadline,
             attempt: int) -> Reply:
    """One request and its whole answer within `deadline` (TooSlow else); GaveUp for an answer past MAX_ANSWER."""
    sent = {"Accept-Encoding": "identity", **headers}  # what is capped is what the server sent, never inflated
    with bounded(deadline, url) as session, session.request(method, url, data=data, headers=sent, stream=True,
                                                            timeout=deadline.timeout(deadline.seconds)) as resp:
        body = bytearray()
        for chunk in resp.iter_content(chunk_size=65536):
            body += chunk
            if len(body) > MAX_ANSWER:
                raise GaveUp(attempt, f"the answer is larger than {MAX_ANSWER} bytes")
        return Reply(resp.status_code, bytes(body), resp.headers, attempt)


class Deadline:
    """A moment by which a whole network exchange must be over, whatever the server does (docs/update-client.md).

    Per-read timeouts do not bound a server that drips one byte just before each one runs out; a Deadline does:
    `bounded()` cuts every socket it opened when the moment passes, so the blocked read returns at once."""

    def __init__(self, seconds: float) -> None:
        if not (seconds > 0 and seconds < float("inf")):  # also refuses nan
            raise ValueError(f"a deadline needs a finite number of seconds above 0, found {seconds!r}")
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def timeout(self, per_read: float) -> tuple[float, float]:
        """requests' (connect, read) timeout: `per_read`, never past the deadline (and never 0, which means none)."""
        left = max(self.remaining(), 0.001)
        return min(per_read, left), min(per_read, left)


class TooSlow(Exception):
    """The deadline passed before the exchange was over (its sockets were cut)."""


@contextmanager
def bounded(deadline: Deadline, url: str) -> Iterator[requests.Session]:
    """A requests Session whose connections are shut down when `deadline` passes: connect, headers and body.

    Raises TooSlow in place of whatever error the cut socket gave, also when the deadline passes between two reads
    (a caller streaming a body checks `deadline.passed`). The session is closed at the end. Name resolution and each
    connect run within what is left of the deadline (`open_socket`); TLS handshakes and proxy tunnels are cut too."""
    with watch(deadline) as add:
        session = _session(url)
        adapter = _Adapter(deadline, add)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            yield session
        finally:
            session.close()


@contextmanager
def watch(deadline: Deadline) -> Iterator[Callable[[socket.socket], None]]:
    """Yields `add(sock)`: every socket added is shut down when `deadline` passes, so a read blocked on it returns at
    once; TooSlow then replaces whatever error the block raised (or is raised at its end). For `bounded()` and the
    clients that are not requests (smtplib, whose timeout is per operation).

    It shuts down a dup of each socket: shutdown acts on the connection, which the dup shares, and a dup stays valid
    when the original is wrapped in TLS (which detaches it) or closed: a handshake is cut too, a reused fd never."""
    import threading

    dups: list[socket.socket] = []
    lock, fired = threading.Lock(), threading.Event()

    def add(sock: socket.socket) -> None:
        with lock:
            dups.append(sock.dup())
            if fired.is_set():
                _shutdown(dups[-1])

    def fire() -> None:
        with lock:
            fired.set()
            for dup in dups:
                _shutdown(dup)

    timer = threading.Timer(deadline.remaining(), fire)
    timer.daemon = True
    timer.start()
    try:
        yield add
    except Exception as e:
        if fired.is_set() or deadline.passed:
            raise TooSlow(f"no complete answer within {deadline.seconds:.3g} s") from e
        raise
    finally:
        timer.cancel()
        with lock:
            for dup in dups:
                dup.close()
            dups.clear()
    if fired.is_set():
        raise TooSlow(f"no complete answer within {deadline.seconds:.3g} s")


def _shutdown(sock: socket.socket) -> None:
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more): nothing left to cut


def within(deadline: Deadline, call: Callable[[], T]) -> T:
    """`call()`'s result, run in a daemon thread given up (TimeoutError) when `deadline` passes: for the blocking
    calls no timeout reaches, getaddrinfo and getfqdn. A call given up on finishes in the background, unseen."""
    import threading

    out: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            out.append((True, call()))
        except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
            out.append((False, e))

    thread = threading.Thread(target=run, name="releng-deadline", daemon=True)
    thread.start()
    thread.join(deadline.remaining())
    if not out:
        raise TimeoutError(f"not done within {deadline.seconds:g} s")
    if out[0][0]:
        return out[0][1]  # type: ignore[no-any-return]
    raise out[0][1]


def open_socket(host: str, port: int, deadline: Deadline, *, timeout: float | None = None, source: Any = None,
                options: Iterable[tuple[int, int, int | bytes]] = ()) -> socket.socket:
    """A TCP connection to host:port made within `deadline`: the name is resolved within it (a literal address is
    never looked up) and the addresses share what is left, never `timeout` each. Its timeout stays the connect one."""
    import ipaddress
    import socket

    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError:
        try:
            found = within(deadline, lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except UnicodeError as e:
            raise socket.gaierror(f"not a valid host name: {e}") from None
    error: OSError = TimeoutError("timed out")
    for family, kind, proto, _, address in found:
        left = deadline.remaining()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            for option in options:
                sock.setsockopt(*option)
            sock.settimeout(min(left, timeout) if timeout else left)
            if source:
                sock.bind(source)
            sock.connect(address)
            return sock
        except OSError as e:
            error = e
            sock.close()
    raise error


def _Adapter(deadline: Deadline, on_connect: Callable[[socket.socket], None]  # noqa: N802 - a class factory
             ) -> requests.adapters.HTTPAdapter:
    """An HTTPAdapter whose connections open their socket with `open_socket` and hand it to `on_connect`."""
    import socket
    import sys

    import requests.adapters
    from urllib3 import connection, connectionpool
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    def new_conn(conn: Any) -> socket.socket:  # urllib3's HTTPConnection._new_conn within the deadline
        timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
        try:
            sock = open_socket(conn._dns_host, conn.port, deadline, timeout=timeout, source=conn.source_address,
                               options=conn.socket_options or ())
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from e
        except OSError as e:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
        on_connect(sock)
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock

    pools = {scheme: type(pool.__name__, (pool,), {"ConnectionCls": type(conn.__name__, (conn,),
                                                                         {"_new_conn": new_conn})})
             for scheme, pool, conn in (("http", connectionpool.HTTPConnectionPool, connection.HTTPConnection),
                                        ("https", connectionpool.HTTPSConnectionPool, connection.HTTPSConnection))}

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # a SOCKS proxy keeps its own connections
                manager.pool_classes_by_scheme = pools
            return manager

    return Adapter()


_REDACTED = "[redacted]"
_SHAPES = [(re.compile(pattern), replacement) for pattern, replacement in (  # credentials by their shape
    (r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", "[redacted key]"),
    (r"(?i)\b((?:proxy-)?authorization|cookie|x-[\w-]*(?:token|key|secret))([\"']?\s*[:=]\s*[\"']?)"
     r"(?!\[redacted)[^\s\"',;}][^\r\n\"',;}]*",
     rf"\1\2{_REDACTED}"),
    (r"(?i)\b(bearer|basic|token)(\s+|=)(?=[\w.~+/=-]*\d|[\w.~+/=-]{16})[\w.~+/=-]{5,}[\w~+/=-]", rf"\1\2{_REDACTED}"),
    (r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@\"'<>]+@", rf"\1{_REDACTED}@"),  # user:password@ in a URL
    (r"(?i)([?&;](?:access_token|token|api_?key|key|password|secret|sig|signature|auth)=)[^&\s\"'#]+",
     rf"\1{_REDACTED}"),
    (r"\b(?:gh[pousr]_|github_pat_)\w{16,}|\bxox[abprs]-[\w-]{10,}", _REDACTED),  # GitHub and Slack tokens
)]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret given (also URL-encoded and JSON-escaped, and a URL's path) and anything shaped like
    a credential replaced by "[redacted]": Authorization and API-key headers, `Bearer`/`token`/`Basic` values, a URL's
    user info, credential query parameters, GitHub and Slack tokens, private keys. For an answer's text before it is
    printed or stored: cut it to length after, never before (half a token no longer matches)."""
    import json
    import urllib.parse

    forms: set[str] = set()
    for secret in secrets:
        parts = [secret] + ([x for x in urllib.parse.urlsplit(secret)[2:4] if len(x) > 7] if "://" in secret else [])
        for part in (x for x in parts if len(x) >= 4):  # a shorter "secret" would shred the text, not hide anything
            forms |= {part, urllib.parse.quote(part, safe=""), urllib.parse.quote(part), json.dumps(part)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, _REDACTED)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def credentials(headers: Mapping[str, str]) -> list[str]:
    """The secret values of request headers (Authorization, cookies, API keys and tokens; also the credential after
    an auth scheme's name): what `redact` strips from an answer that echoes the request."""
    return [v for name, value in headers.items() if re.search(r"(?i)auth|cookie|token|key|secret", name)
            for v in (value, value.split(" ", 1)[-1])]


def _session(url: str) -> requests.Session:
    import requests

    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials in place of the caller's headers, no REQUESTS_CA_BUNDLE
    session.proxies = requests.utils.get_environ_proxies(url)  # HTTPS_PROXY / NO_PROXY still apply
    return session


def _reason(error: BaseException) -> str:
    """Why a connection failed (`Connection refused`), without the URL requests and urllib3 put in their messages."""
    todo: list[object] = [error]
    seen: set[int] = set()
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:  # the socket's own error, under requests' and urllib3's wrappers
            return e.strerror
        if isinstance(e, TimeoutError):
            return "timed out"
        todo += [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
    return type(error).__name__


def retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); `default` when absent or garbled."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # for an HTTP date only: email.utils is slow to import

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, moment.timestamp() - time.time())
