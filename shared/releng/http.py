"""One HTTP call with bounded retries, shared by every client of a web API (CDN purge, GitHub, webhooks).

The services we call (Cloudflare, GitHub, Slack-compatible webhooks) all answer an overload with 429 or 5xx, and
say how long to wait in `Retry-After` (delta-seconds or an HTTP date). Retrying those, and a dropped connection,
with exponential backoff for a bounded number of attempts is the whole policy; what a final answer *means* is the
caller's business, so every answer that is not retried comes back as a `Reply`, whatever its status. Headers may
carry tokens: nothing here prints or logs a request.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import NamedTuple

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
    last = ""
    reply: Reply | None
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        wait = backoff * 2 ** (attempt - 1)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https or a test URL
                reply = Reply(resp.status, resp.read(), dict(resp.headers.items()), attempt)
        except urllib.error.HTTPError as e:
            reply = Reply(e.code, e.read(), dict(e.headers.items()) if e.headers else {}, attempt)
        except (urllib.error.URLError, OSError) as e:
            last = f"connection failed: {getattr(e, 'reason', e)}"
            reply = None
        if reply is not None:
            if not retry(reply):
                return reply
            wait = retry_after(reply.headers.get("Retry-After"), wait)
            last = describe(reply)
        if attempt < attempts:
            sleep(min(wait, MAX_WAIT))
    raise GaveUp(attempts, last)


def retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); `default` when absent or garbled."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, moment.timestamp() - time.time())
