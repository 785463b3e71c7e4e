"""CDN cache purges through Cloudflare's API (docs/security-properties.md #35 and #36).

`POST {api_base}/zones/{zone_id}/purge_cache` with `{"files": [<exact URL>, ...]}` and
`Authorization: Bearer <token>`; the token comes from the environment variable named by `cdn.token_env` and is never
printed. Cloudflare's documented limit (developers.cloudflare.com/cache/how-to/purge-cache: "max operations per
request", 100 on every plan but Enterprise) caps a request at 100 URLs: longer lists are sent in batches. A 429 or
5xx (or a dropped connection, or an answer not complete within `timeout` seconds in all) is retried with exponential
backoff, honouring `Retry-After`, for a bounded number of attempts and at most `budget` seconds in all (default
timeout x attempts: 50 s), so a dripping API cannot hold a publish or a rollback for minutes. An error's text is
redacted (releng.http.redact: the token, Authorization headers, bearer strings) before anyone prints or stores it.
Callers purge only after the manifest swap and only mutable URLs (manifests, `releases/latest/...`), never
a versioned artifact URL: those never change, so their cached copies are always right.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from releng import http
from releng.errors import BadInput, ExternalError

MAX_URLS = 100  # Cloudflare: at most 100 purge operations (URLs) per request
DEFAULT_API = "https://api.cloudflare.com/client/v4"
_ZONE = re.compile(r"[0-9a-f]{32}")


class CdnError(ExternalError):
    """The CDN refused or kept failing a purge (exit 2); the message never holds the token."""


@dataclass
class Purger:
    api_base: str
    zone_id: str
    token: str = field(repr=False)
    batch: int = MAX_URLS
    attempts: int = 5
    backoff: float = 1.0
    timeout: float = 10.0  # seconds for one request and its whole answer (Cloudflare answers a purge in about 1 s)
    budget: float | None = None  # seconds for one request with its retries and sleeps (None: timeout x attempts)
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0  # POSTs sent, retries included

    def purge(self, urls: Iterable[str]) -> list[str]:
        """Purge every URL (deduplicated, order kept) in batches of at most `batch`; the URLs purged."""
        todo = list(dict.fromkeys(check_url(u) for u in urls))
        for i in range(0, len(todo), self.batch):
            self._post({"files": todo[i:i + self.batch]})
        return todo

    def _post(self, body: Mapping[str, Any]) -> None:
        url = f"{self.api_base.rstrip('/')}/zones/{self.zone_id}/purge_cache"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Accept": "application/json", "User-Agent": "releng-cdn-purge"}
        try:
            reply = http.send("POST", url, data=json.dumps(body).encode("utf-8"), headers=headers,
                              timeout=self.timeout, attempts=self.attempts, backoff=self.backoff, budget=self.budget,
                              sleep=self.sleep, describe=lambda r: f"HTTP {r.status}: {self._errors(_json(r.body))}")
        except http.GaveUp as e:
            self.requests += e.attempts
            raise CdnError(f"purge {e}", "cdn") from None
        self.requests += reply.attempts
        answer = _json(reply.body)
        if reply.status >= 400:
            raise CdnError(f"purge refused: HTTP {reply.status}: {self._errors(answer)}", "cdn")
        if answer.get("success") is not True:
            raise CdnError(f"purge refused: {self._errors(answer)}", "cdn")

    def _errors(self, answer: Mapping[str, Any]) -> str:
        """Cloudflare's error codes and messages, the token and anything like a credential redacted, then cut."""
        errors = answer.get("errors") or []
        texts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        return http.redact("; ".join(texts), [self.token])[:300] or "no error message"


def check_url(url: str) -> str:
    """An exact absolute http(s) URL, as the CDN's cache key holds it (no wildcard, no fragment)."""
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/#*]+/[^\s#*]*", url):
        raise BadInput(f"not an exact http(s) URL to purge: {url!r}")
    return url


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except (ValueError, RecursionError):  # an answer nested too deeply is no answer either
        return {}
    return value if isinstance(value, dict) else {}


def from_config(cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Purger | None:
    """The purger the config's `cdn` section describes; None when no provider is set. BadInput names the bad key."""
    cdn = cfg.get("cdn") or {}
    if not isinstance(cdn, dict):
        raise BadInput("cdn must be an object")
    provider = cdn.get("provider")
    if provider is None:
        return None
    if provider != "cloudflare":
        raise BadInput(f"cdn.provider must be \"cloudflare\" or null, found {provider!r}")
    zone = cdn.get("zone_id")
    if not isinstance(zone, str) or not _ZONE.fullmatch(zone):
        raise BadInput("cdn.zone_id must be the zone's 32 hex digit id")
    api = cdn.get("api_base") or DEFAULT_API
    if not isinstance(api, str) or not re.fullmatch(r"https?://\S+", api):
        raise BadInput(f"cdn.api_base must be an http(s) URL, found {api!r}")
    batch = cdn.get("max_urls_per_request", MAX_URLS)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 0 < batch <= MAX_URLS:
        raise BadInput(f"cdn.max_urls_per_request must be 1..{MAX_URLS}, found {batch!r}")
    env = cdn.get("token_env") or "RELENG_CDN_TOKEN"
    token = (os.environ if environ is None else environ).get(env, "")
    if not token.strip():
        raise BadInput(f"no CDN token: set ${env} (cdn.token_env)")
    return Purger(api, zone, token.strip(), batch=batch)


def base_url(cfg: Mapping[str, Any], fallback: str) -> str:
    """The public URL the CDN serves the update server's root at (cache keys are built on it)."""
    cdn = cfg.get("cdn") or {}
    base = cdn.get("base_url") or (cfg.get("manifest") or {}).get("base_url") or fallback
    return str(base).rstrip("/")
