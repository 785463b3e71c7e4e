"""One HTTP call with bounded retries, shared by every client of a web API (CDN purge, GitHub, webhooks).

The services we call (Cloudflare, GitHub, Slack-compatible webhooks) all answer an overload with 429 or 5xx, and
say how long to wait in `Retry-After` (delta-seconds or an HTTP date). Retrying those, and a dropped connection,
with exponential backoff for a bounded number of attempts is the whole policy; what a final answer *means* is the
caller's business, so every answer that is not retried comes back as a `Reply`, whatever its status. Headers may
carry tokens: nothing here prints or logs a request, and no message names the URL (a webhook URL is a secret).

Sent with requests (the library check-update and watch-health use), imported on the first call so that the
commands which never send anything, the commit hook first, do not pay for it. The session ignores ~/.netrc, which
would replace the caller's `Authorization` header, and takes proxies from the environment as urllib did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import requests

MAX_WAIT = 60.0  # never sleep longer than this for one retry, whatever Retry-After says


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
         timeout: float = 20.0, attempts: int = 5, backoff: float = 1.0,
         sleep: Callable[[float], None] = time.sleep,
         retry: Callable[[Reply], bool] = overloaded,
         describe: Callable[[Reply], str] = lambda r: f"HTTP {r.status}") -> Reply:
    """Send one request, retrying while `retry(reply)` says so or the connection fails; the first final Reply."""
    import requests

    last = ""
    reply: Reply | None
    with _session(url) as session:
        for attempt in range(1, attempts + 1):
            wait = backoff * 2 ** (attempt - 1)
            try:
                with session.request(method, url, data=data, headers=dict(headers or {}), timeout=timeout) as resp:
                    reply = Reply(resp.status_code, resp.content, resp.headers, attempt)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                last = f"connection failed: {_reason(e)}"
                reply = None
            if reply is not None:
                if not retry(reply):
                    return reply
                wait = retry_after(reply.headers.get("Retry-After"), wait)
                last = describe(reply)
            if attempt < attempts:
                sleep(min(wait, MAX_WAIT))
    raise GaveUp(attempts, last)


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
