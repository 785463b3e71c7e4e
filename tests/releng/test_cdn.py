"""releng.cdn against a local fake of Cloudflare's purge_cache endpoint (UPDATE_SECURITY items 14 and 35).

The fake checks what Cloudflare checks: the path with the zone id, `Authorization: Bearer <token>`, a JSON body
`{"files": [...]}` of at most 100 exact URLs; it can answer 429 with Retry-After, or 5xx, before succeeding.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from releng import cdn, http
from releng.errors import BadInput

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "Y4Jk-secret-cdn-token-ffa1"


class Fake(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.batches: list[list[str]] = []
        self.script: list[tuple[int, dict[str, str]]] = []  # answers to give before succeeding
        self.requests = 0
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/client/v4"


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, code: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        self.server.requests += 1
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != f"/client/v4/zones/{ZONE}/purge_cache":
            return self.answer(404, {"success": False, "errors": [{"code": 7003, "message": "no route"}]})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer(403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
        try:
            body = json.loads(raw)
        except ValueError:
            return self.answer(400, {"success": False, "errors": [{"code": 1012, "message": "bad json"}]})
        files = body.get("files") if isinstance(body, dict) and set(body) == {"files"} else None
        if not isinstance(files, list) or not files or len(files) > 100 or not all(
                isinstance(f, str) and f.startswith(("http://", "https://")) for f in files):
            return self.answer(400, {"success": False, "errors": [{"code": 1015, "message": "bad files"}]})
        if self.server.script:
            code, headers = self.server.script.pop(0)
            return self.answer(code, {"success": False, "errors": [{"code": 971, "message": "slow down"}]}, headers)
        self.server.batches.append(files)
        self.answer(200, {"success": True, "errors": [], "result": {"id": ZONE}})


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.shutdown()
    server.server_close()


def purger(fake: Fake, sleeps: list[float], **over) -> cdn.Purger:
    cfg = {"cdn": {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake.api, "token_env": "CDN_T", **over}}
    p = cdn.from_config(cfg, {"CDN_T": TOKEN})
    assert p is not None
    p.sleep = sleeps.append
    return p


def test_batches_of_at_most_100_exact_urls(fake):
    urls = [f"https://cdn.example/channels/c{i}.json" for i in range(250)]
    sleeps: list[float] = []
    p = purger(fake, sleeps)
    assert p.purge(urls + urls[:10]) == urls  # duplicates sent once, order kept
    assert [len(b) for b in fake.batches] == [100, 100, 50]
    assert [u for b in fake.batches for u in b] == urls
    assert sleeps == [] and p.requests == 3


def test_429_honours_retry_after_then_succeeds(fake):
    fake.script = [(429, {"Retry-After": "7"}), (429, {"Retry-After": "2"})]
    sleeps: list[float] = []
    purger(fake, sleeps).purge(["https://cdn.example/channels/stable.json"])
    assert sleeps == [7.0, 2.0]
    assert fake.batches == [["https://cdn.example/channels/stable.json"]] and fake.requests == 3


def test_5xx_backs_off_exponentially_and_gives_up_after_bounded_attempts(fake):
    fake.script = [(503, {})] * 10
    sleeps: list[float] = []
    with pytest.raises(cdn.CdnError, match="after 5 attempts") as e:
        purger(fake, sleeps).purge(["https://cdn.example/releases/latest/"])
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and fake.requests == 5
    assert TOKEN not in str(e.value) and e.value.exit_code == 2


def test_retry_after_as_an_http_date_and_a_cap():
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= http.retry_after(soon, 1.0) <= 31
    assert http.retry_after("garbage", 4.0) == 4.0 and http.retry_after(None, 2.0) == 2.0


def test_a_long_retry_after_is_capped(fake):
    fake.script = [(429, {"Retry-After": "86400"})]
    sleeps: list[float] = []
    purger(fake, sleeps).purge(["https://cdn.example/a"])
    assert sleeps == [http.MAX_WAIT]


def test_a_4xx_is_not_retried_and_never_shows_the_token(fake, capfd):
    sleeps: list[float] = []
    p = cdn.from_config({"cdn": {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake.api}},
                        {"RELENG_CDN_TOKEN": "wrong-" + TOKEN})
    assert p is not None
    p.sleep = sleeps.append
    with pytest.raises(cdn.CdnError, match="HTTP 403: 10000: Authentication error") as e:
        p.purge(["https://cdn.example/a"])
    assert fake.requests == 1 and sleeps == []
    assert TOKEN not in str(e.value) + repr(p)
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err


def test_an_unreachable_api_is_retried_then_reported():
    sleeps: list[float] = []
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = cdn.Purger(f"http://127.0.0.1:{port}/client/v4", ZONE, TOKEN, attempts=3, sleep=sleeps.append)
    with pytest.raises(cdn.CdnError, match="connection failed"):
        p.purge(["https://cdn.example/a"])
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("url", ["/channels/stable.json", "https://cdn.example/releases/*", "ftp://x/y",
                                 "https://cdn.example/a#frag", "https://cdn.example", "https://cdn.example/a b"])
def test_only_exact_urls_are_purged(url, fake):
    with pytest.raises(BadInput):
        purger(fake, []).purge([url])
    assert fake.requests == 0


@pytest.mark.parametrize(("cdn_cfg", "message"), [
    ({"provider": "akamai"}, "cdn.provider"),
    ({"provider": "cloudflare", "zone_id": "nothex"}, "zone_id"),
    ({"provider": "cloudflare", "zone_id": ZONE, "api_base": "file:///etc"}, "api_base"),
    ({"provider": "cloudflare", "zone_id": ZONE, "max_urls_per_request": 500}, "max_urls_per_request"),
    ({"provider": "cloudflare", "zone_id": ZONE, "token_env": "NOPE"}, r"\$NOPE"),
])
def test_bad_config(cdn_cfg, message):
    with pytest.raises(BadInput, match=message):
        cdn.from_config({"cdn": cdn_cfg}, {"RELENG_CDN_TOKEN": TOKEN})


def test_no_provider_means_no_purge():
    assert cdn.from_config({"cdn": {"provider": None}}) is None and cdn.from_config({}) is None


def test_smaller_batches_for_plans_with_a_lower_limit(fake):
    purger(fake, [], max_urls_per_request=30).purge([f"https://cdn.example/{i}" for i in range(61)])
    assert [len(b) for b in fake.batches] == [30, 30, 1]
