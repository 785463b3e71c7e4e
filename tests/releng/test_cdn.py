"""releng.server.cdn against testkit.FakeCloudflare (the fake_cloudflare fixture), a local fake of Cloudflare's
purge_cache
endpoint (docs/security-properties.md #14 and #35).

The fake checks what Cloudflare checks: the path with the zone id, `Authorization: Bearer <token>`, a JSON body
`{"files": [...]}` of at most 100 exact URLs; it can answer 429 with Retry-After, or 5xx, before succeeding.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from faultkit import Dripping, EchoingCloudflare
from releng import http
from releng.errors import BadInput
from releng.server import cdn
from testkit import CF_TOKEN as TOKEN
from testkit import CF_ZONE as ZONE
from testkit import FakeCloudflare


def purger(fake: FakeCloudflare, sleeps: list[float], **over) -> cdn.Purger:
    cfg = {"cdn": {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake.api, "token_env": "CDN_T", **over}}
    p = cdn.from_config(cfg, {"CDN_T": TOKEN})
    assert p is not None
    p.sleep = sleeps.append
    return p


def test_batches_of_at_most_100_exact_urls(fake_cloudflare):
    urls = [f"https://cdn.example/channels/c{i}.json" for i in range(250)]
    sleeps: list[float] = []
    p = purger(fake_cloudflare, sleeps)
    assert p.purge(urls + urls[:10]) == urls  # duplicates sent once, order kept
    assert [len(b) for b in fake_cloudflare.batches] == [100, 100, 50]
    assert [u for b in fake_cloudflare.batches for u in b] == urls
    assert sleeps == [] and p.requests == 3


def test_429_honours_retry_after_then_succeeds(fake_cloudflare):
    fake_cloudflare.fail(429, retry_after="7")
    fake_cloudflare.fail(429, retry_after="2")
    sleeps: list[float] = []
    purger(fake_cloudflare, sleeps).purge(["https://cdn.example/channels/stable.json"])
    assert sleeps == [7.0, 2.0]
    assert fake_cloudflare.batches == [["https://cdn.example/channels/stable.json"]] and fake_cloudflare.requests == 3


def test_5xx_backs_off_exponentially_and_gives_up_after_bounded_attempts(fake_cloudflare):
    fake_cloudflare.fail(503, times=10)
    sleeps: list[float] = []
    with pytest.raises(cdn.CdnError, match="after 5 attempts") as e:
        purger(fake_cloudflare, sleeps).purge(["https://cdn.example/releases/latest/"])
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and fake_cloudflare.requests == 5
    assert TOKEN not in str(e.value) and e.value.exit_code == 2


def test_retry_after_as_an_http_date_and_a_cap():
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= http.retry_after(soon, 1.0) <= 31
    assert http.retry_after("garbage", 4.0) == 4.0 and http.retry_after(None, 2.0) == 2.0


def test_a_long_retry_after_is_capped(fake_cloudflare):
    fake_cloudflare.fail(429, retry_after="86400")
    sleeps: list[float] = []
    p = purger(fake_cloudflare, sleeps)
    p.budget = 1000.0  # the default budget (timeout x attempts, 50 s) gives up instead: the next test
    p.purge(["https://cdn.example/a"])
    assert sleeps == [http.MAX_WAIT]


def test_a_retry_after_past_the_budget_gives_up_at_once(fake_cloudflare):
    fake_cloudflare.fail(429, retry_after="86400")
    sleeps: list[float] = []
    with pytest.raises(cdn.CdnError, match="no time left to retry within 50 s"):
        purger(fake_cloudflare, sleeps).purge(["https://cdn.example/a"])
    assert sleeps == [] and fake_cloudflare.requests == 1


def test_a_4xx_is_not_retried_and_never_shows_the_token(fake_cloudflare, capfd):
    sleeps: list[float] = []
    p = cdn.from_config({"cdn": {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake_cloudflare.api}},
                        {"RELENG_CDN_TOKEN": "wrong-" + TOKEN})
    assert p is not None
    p.sleep = sleeps.append
    with pytest.raises(cdn.CdnError, match="HTTP 403: 10000: Authentication error") as e:
        p.purge(["https://cdn.example/a"])
    assert fake_cloudflare.requests == 1 and sleeps == []
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
def test_only_exact_urls_are_purged(url, fake_cloudflare):
    with pytest.raises(BadInput):
        purger(fake_cloudflare, []).purge([url])
    assert fake_cloudflare.requests == 0


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


def test_smaller_batches_for_plans_with_a_lower_limit(fake_cloudflare):
    purger(fake_cloudflare, [], max_urls_per_request=30).purge([f"https://cdn.example/{i}" for i in range(61)])
    assert [len(b) for b in fake_cloudflare.batches] == [30, 30, 1]


# --- issue 12: a dripping API is cut at the deadline; an error echoing the token never shows it ------------------


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_api_fails_the_purge_within_its_budget(phase):
    with Dripping(phase) as srv:
        p = cdn.Purger(f"{srv.url}/client/v4", ZONE, TOKEN, timeout=1, attempts=2, backoff=0.1)
        start = time.monotonic()
        with pytest.raises(cdn.CdnError, match="no complete answer within 1 s") as e:
            p.purge(["https://cdn.example/channels/stable.json"])
        assert time.monotonic() - start < 2 + 1.0  # its budget (1 s x 2 attempts) and a generous second
    assert "\n" not in str(e.value) and TOKEN not in str(e.value) and e.value.exit_code == 2


def test_an_error_echoing_the_token_and_the_authorization_header_is_redacted(capfd):
    with EchoingCloudflare() as fake:
        p = cdn.from_config({"cdn": {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake.api}},
                            {"RELENG_CDN_TOKEN": TOKEN})
        assert p is not None
        with pytest.raises(cdn.CdnError, match=r"HTTP 403: 10000: Bad credentials: got Authorization: \[redacted\]"
                           ) as e:
            p.purge(["https://cdn.example/a"])
    assert TOKEN not in str(e.value) and TOKEN[:12] not in str(e.value)
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err
