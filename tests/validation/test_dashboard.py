"""The HTML dashboard: rendered from `releng.validation.metrics.measure()`, checked as text and in headless Chromium.

The Chromium run keeps a screenshot at build/test-artifacts/dashboard.png and the page beside it (dashboard.html),
both gitignored under /build/.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from releng import documents
from releng.validation import dashboard, dashboard_charts, metrics
from releng.validation.metric_sources import Adoption, ChannelChange, Fix, Release, Rollback, ServerRecords

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
T0, DAY, HOUR = 1_700_000_000, 86400, 3600
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def release(version: str, day: float, first_day: float | None, previous: str | None, *signals: str,
            title: str = "") -> Release:
    return Release(f"v{version}", version, int(T0 + day * DAY), "ab" * 20, True, title or f"release {version}",
                   previous, 5, None if first_day is None else int(T0 + first_day * DAY), tuple(signals))


def change(day: float, channel: str, version: str, action: str, percent: float | None = 100,
           halted: bool = False, rollback_of: str | None = None) -> ChannelChange:
    return ChannelChange(int(T0 + day * DAY), channel, version, action, percent, halted, rollback_of)


def sample_document() -> dict:
    """Nine releases over half a year: regular releases, a rollback and its hotfix, a halted and a partial rollout."""
    releases = [
        release("1.0.0", 0, None, None),
        release("1.1.0", 20, 3, "1.0.0"),
        release("1.2.0", 45, 22, "1.1.0", title=EVIL),
        release("1.2.1", 45.2, 45.1, "1.2.0", "on branch hotfix/1.2.1"),
        release("1.3.0", 80, 47, "1.2.0"),
        release("1.4.0", 100, 82, "1.3.0"),
        release("1.4.1", 104, 103, "1.4.0", "on branch hotfix/1.4.1"),
        release("1.5.0", 125, 105, "1.4.1"),
        release("1.6.0", 140, 127, "1.5.0"),
    ]
    fixes = {"1.0.0": [Fix("c1" * 20, int(T0 + 2 * DAY), "fix: meter")],
             "1.2.0": [Fix(f"c{i}" * 20, int(T0 + (45.1 + i) * DAY), f"fix: {EVIL} {i}") for i in range(2)],
             "1.3.0": [Fix(f"d{i}" * 20, int(T0 + (81 + i) * DAY), "fix: preset load") for i in range(4)],
             "1.6.0": [Fix("e1" * 20, int(T0 + 141 * DAY), "fix: resize")]}
    history = []
    for r in releases:
        day = (r.at - T0) / DAY
        history += [change(day + 0.05, "dev", r.version, "publish", None)]
        if r.version not in ("1.2.1", "1.4.1"):
            history.append(change(day + 1, "beta", r.version, "promote"))
        if r.version == "1.2.0":
            history += [change(day + 0.1, "stable", r.version, "promote", 10),
                        change(day + 0.15, "stable", r.version, "halt", 10, True),
                        change(day + 0.16, "stable", "1.1.0", "rollback", 100, rollback_of="1.2.0")]
        elif r.version == "1.6.0":
            history.append(change(day + 3, "stable", r.version, "promote", 25))
        elif r.version == "1.5.0":
            history += [change(day + 3, "stable", r.version, "promote", 10),
                        change(day + 4, "stable", r.version, "halt", 10, True)]
        else:
            history.append(change(day + 3 if r.version[-1] == "0" else day + 0.01, "stable", r.version, "promote"))
    rollbacks = (Rollback(int(T0 + 45.16 * DAY), "1.2.0", "1.1.0", f"crash rate 3% {EVIL}", "watch-health", 38.5,
                          ("stable",)),
                 Rollback(int(T0 + 103 * DAY), "1.4.0", "1.3.0", "presets lost", "ana@audiolab", None, ()))
    history.append(change(103 - 0.02, "stable", "1.4.0", "halt", 100, True))
    history.append(change(103, "stable", "1.3.0", "rollback", 100, rollback_of="1.4.0"))
    history.sort(key=lambda c: c.at)
    server = ServerRecords("local", tuple(history), rollbacks, frozenset(r.version for r in releases),
                           frozenset({"1.2.0", "1.4.0"}), "1.4.1", ("dev", "beta", "stable"))
    adoption = Adoption({"1.6.0": 320, "1.5.0": 410, "1.4.1": 270}, int(T0 + 147 * DAY), "adoption.json")
    body = metrics.measure(releases, fixes, server, adoption, now=int(T0 + 150 * DAY), repository="gain-plugin")
    return json.loads(documents.dumps("metrics", body))


def test_the_sample_is_a_valid_metrics_document(validate_document):
    doc = sample_document()
    validate_document(doc)
    kpis = {k["id"]: (k["value"], k["status"]) for k in doc["kpis"]}
    assert kpis["rollback_rate"] == (22.22, "fail") and kpis["adoption_7d"] == (32.0, "fail")
    # how long each bad release was out on stable, from its first manifest there to the rollback, not the
    # command's 38.5 s: 1.2.0 for 0.06 d (86.4 min), 1.4.0 for 0.02 d (28.8 min); their median is 57.6 min
    assert kpis["rollback_time"] == (3456, "pass")
    assert [(e["from"], e["measured_on"], e["rollback_time_s"]) for e in doc["rollbacks"]] == [
        ("1.2.0", "stable", 5184), ("1.4.0", "stable", 1728)]
    assert {r["version"]: r["state"] for r in doc["releases"]} == {
        "1.0.0": "superseded", "1.1.0": "superseded", "1.2.0": "rolled-back", "1.2.1": "superseded",
        "1.3.0": "superseded", "1.4.0": "rolled-back", "1.4.1": "live", "1.5.0": "superseded",
        "1.6.0": "rolling-out"}


def test_the_page_is_self_contained_accessible_and_escaped():
    page = dashboard.render(sample_document())
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert "<script" not in page and "<img" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page.replace("url(#h", "")  # only the in-page hatch patterns
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    charts = [svg for svg in svgs if 'role="img"' in svg]
    assert len(charts) == 6  # 4 trend charts, the channel matrix, the state strip
    for svg in charts:
        assert re.search(r"<title id=\"t\d+\">[^<]+</title>", svg)
    # the rest are the cards' sparklines and gauges: decorative, the card says the same in words
    assert len(svgs) == 12 and all('aria-hidden="true"' in svg for svg in svgs if svg not in charts)
    assert page.count('class="card ') == 6


def test_no_releases_renders_placeholders_not_errors():
    body = metrics.measure([], {}, None, None, now=T0)
    page = dashboard.render(json.loads(documents.dumps("metrics", body)))
    assert "no releases yet" in page and page.count("<svg") == 5  # four empty charts + the empty matrix; no sparks


@pytest.mark.parametrize(("value", "top"), [(0, 1), (0.3, 0.5), (7, 10), (23, 25), (28.1, 50), (101, 200)])
def test_axis_tops_are_round(value, top):
    assert dashboard_charts.nice_max(value) == top


def test_the_dashboard_in_headless_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    html = tmp_path / "dashboard.html"
    html.write_text(dashboard.render(sample_document()), encoding="utf-8")
    shot = ROOT / "build" / "test-artifacts" / "dashboard.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            charts = page.locator("svg[role=img]")
            assert charts.count() == 6
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, i
            assert page.locator("svg.chart rect.ok").count() > 0 and page.locator("svg.chart rect.bad").count() > 0
            assert page.get_by_text('<script>alert("x")</script>', exact=False).count() >= 1  # shown as text
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [html.as_uri()]  # nothing fetched from anywhere: the page is self-contained
    assert shot.stat().st_size > 10_000
    shutil.copyfile(html, shot.with_suffix(".html"))  # beside the screenshot, for a human to open


def test_trend_charts_keep_the_last_releases_and_the_table_keeps_all():
    releases = [release(f"1.{i}.0", 10 * i, 10 * i - 5 if i else None, f"1.{i - 1}.0" if i else None)
                for i in range(dashboard.TREND + 6)]
    body = metrics.measure(releases, {}, None, None, now=T0 + 400 * DAY)
    page = dashboard.render(json.loads(documents.dumps("metrics", body)))
    charts = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert len(re.findall(r'class="label"', charts[1])) == dashboard.TREND  # bugs: one bar per release
    assert ">1.5.0</text>" not in charts[1] and ">1.6.0</text>" in charts[1]
    assert page.count("<tr><td><b>") == dashboard.TREND + 6
