"""Issue 13, item 8 on the dashboard: the title is the project's own name (never AudioLab's, never the folder's),
every segment of the rollout bar carries its count, and what only a hover showed (values, dates) is printed, so a
screenshot or a PDF says it too. The KPI definitions behind the numbers: tests/validation/test_release_metrics.py
and the pure cases below."""

from __future__ import annotations

import json
import re

from releng import documents
from releng.validation import dashboard, dashboard_charts, metrics
from releng.validation.metric_sources import ChannelChange, Release, Rollback, ServerRecords

T0, DAY, HOUR = 1_700_000_000, 86400, 3600


def _doc(**kw) -> dict:
    releases = [Release(f"v0.{i}.0", f"0.{i}.0", T0 + i * 10 * DAY, "ab" * 20, True, "", f"0.{i - 1}.0" if i else None,
                        3, T0 + (i * 10 - 5) * DAY if i else None, ()) for i in range(12)]
    history = tuple(ChannelChange(r.at + HOUR, "stable", r.version, "promote", 100 if i != 11 else 30, False, None)
                    for i, r in enumerate(releases))
    server = ServerRecords("local", history, (), frozenset(r.version for r in releases), frozenset(), "0.10.0",
                           ("dev", "beta", "stable"))
    body = metrics.measure(releases, {}, server, None, now=T0 + 200 * DAY, repository="checkout-folder", **kw)
    return json.loads(documents.dumps("metrics", body))


def test_the_title_is_the_project_name_and_never_borrowed():
    page = dashboard.render(_doc(project="nebula-synth"))
    assert "<title>Release metrics · nebula-synth</title>" in page and "<h1>Release metrics · nebula-synth</h1>" in page
    assert "AudioLab" not in page and "checkout-folder" not in page
    bare = dashboard.render(_doc())
    assert "<h1>Release metrics</h1>" in bare and "AudioLab" not in bare and "checkout-folder" not in bare


def test_every_segment_of_the_state_strip_is_labelled_however_small():
    counts = [("live", 1), ("rolling-out", 1), ("superseded", 40), ("rolled-back", 1)]
    svg = dashboard_charts.state_strip("Releases by rollout state", counts)
    segments = re.findall(r"<g><title>([^<]+)</title><rect [^>]*width=\"([\d.]+)\"[^>]*/><text [^>]*>(\d+)</text></g>",
                          svg)
    assert [(t, text) for t, _, text in segments] == [("live: 1", "1"), ("rolling out: 1", "1"),
                                                      ("superseded: 40", "40"), ("rolled back: 1", "1")]
    assert all(float(w) >= 36 for _, w, _ in segments)
    widths = dashboard_charts.segment_widths([1, 1, 98], 300)  # 3 x 36 px, the other 192 px shared by count
    assert [round(w, 2) for w in widths] == [37.92, 37.92, 224.16] and round(sum(widths), 6) == 300


def test_values_and_dates_are_printed_not_only_hovered():
    page = dashboard.render(_doc(project="nebula-synth"))
    charts = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    ttr = charts[0]  # 11 bars: rotated labels, and still a value above each bar
    assert len(re.findall(r'class="val"', ttr)) == len(re.findall(r"<rect [^>]*class=\"(?:ok|bad)\"", ttr)) == 11
    assert "Hover" not in page
    assert ">30% · 2024-" in page or ">30% · 2023-" in page  # the rollout cell prints its first-offered date


def test_rollback_and_hotfix_times_come_from_the_records():
    """0.2.0 reaches dev at 0 h, stable at 10 h, is rolled back from stable at 12 h (the command took 3 s) and from
    dev at 12 h; 0.2.1, fixed from 13 h, reaches stable at 15 h."""
    def at(hours: float) -> int:
        return int(T0 + hours * HOUR)
    releases = [Release("v0.1.0", "0.1.0", at(-100), "ab" * 20, True, "", None, 1, None, ()),
                Release("v0.2.0", "0.2.0", at(-1), "ab" * 20, True, "", "0.1.0", 1, at(-50), ()),
                Release("v0.2.1", "0.2.1", at(14), "ab" * 20, True, "", "0.2.0", 1, at(13),
                        ("on branch hotfix/0.2.1",))]
    history = (ChannelChange(at(0), "dev", "0.2.0", "publish", None, False, None),
               ChannelChange(at(10), "stable", "0.2.0", "promote", 20, False, None),
               ChannelChange(at(12), "stable", "0.1.0", "rollback", 100, False, "0.2.0"),
               ChannelChange(at(12), "dev", "0.1.0", "rollback", 100, False, "0.2.0"),
               ChannelChange(at(14.5), "dev", "0.2.1", "publish", None, False, None),
               ChannelChange(at(15), "stable", "0.2.1", "promote", 100, False, None))
    rollback = Rollback(at(12), "0.2.0", "0.1.0", "crash", "ana", 3.0, ("dev", "stable"))
    server = ServerRecords("s", history, (rollback,), frozenset({"0.1.0", "0.2.1"}), frozenset({"0.2.0"}), None,
                           ("dev", "beta", "stable"))
    body = metrics.measure(releases, {}, server, None, now=at(100))
    (event,) = body["rollbacks"]
    assert (event["rollback_time_s"], event["measured_on"], event["rollback_times"], event["duration_s"]) == (
        2 * HOUR, "stable", {"dev": 12 * HOUR, "stable": 2 * HOUR}, 3.0)
    hotfix = body["releases"][2]
    assert (hotfix["hotfix_time_s"], hotfix["hotfix_from"], hotfix["hotfix_to"]) == (3 * HOUR, "rollback", "stable")
    kpis = {k["id"]: (k["value"], k["status"]) for k in body["kpis"]}
    assert kpis["rollback_time"] == (2 * HOUR, "fail") and kpis["hotfix_time"] == (3 * HOUR, "pass")


def test_release_metrics_titles_the_page_with_the_config_name_else_the_product(git_repo, tmp_path, capsys):
    from releng import signing
    from releng._scripts.distribution import publish_release
    from releng._scripts.validation import release_metrics
    from testkit import make_release, write_key

    git_repo.commit("feat: first light")
    git_repo.tag("v0.3.0")
    key_file = tmp_path / "release.pem"
    write_key(key_file)
    root, config = tmp_path / "server", tmp_path / "servers.json"
    config.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(root),
                                               "base_url": "https://local.example"}],
                                  "channels": ["dev", "beta", "stable"], "manifest": {"expires_days": 7}}))
    doc = make_release(tmp_path / "rel", signing.load_private_key_file(key_file), "0.3.0", size=1000, changes=False)
    assert publish_release.main(["--servers", str(config), "--signing-key", str(key_file), "-q", "--artifacts",
                                 str(doc), "--channel", "dev"]) == 0
    page = tmp_path / "dashboard.html"
    args = ["--repo", str(git_repo.path), "--server-root", str(root), "--html", str(page), "-q"]
    assert release_metrics.main(args) == 0
    assert "<h1>Release metrics · gain</h1>" in page.read_text()  # the product its releases name
    (git_repo.path / "releng.toml").write_text('[project]\nname = "nebula-synth"\n')
    assert release_metrics.main(args) == 0
    text = page.read_text()
    assert "<h1>Release metrics · nebula-synth</h1>" in text and git_repo.path.name not in text
    assert "AudioLab" not in text
