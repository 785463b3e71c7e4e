"""release-metrics on real git repositories with tags at chosen dates and real server logs in a local folder.

Every expected number below is worked out by hand from the timeline in `released` (T0 = the repo fixture's clock).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from releng._scripts.validation import release_metrics
from releng.validation import metric_sources, metrics
from testkit import make_release, write_key

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY, HOUR = 86400, 3600
INJECTION = '<script>alert("tag")</script><img src=x onerror=alert(2)>'


def iso(ts: int) -> str:
    return metrics.iso(ts) or ""


def tag_at(repo, name: str, ts: int, message: str | None = None, ref: str = "HEAD") -> None:
    """An annotated tag dated `ts` (or a lightweight one when message is None: it takes the commit's date)."""
    if message is None:
        repo.git("tag", name, ref)
    else:
        repo.git("tag", "-a", name, "-m", message, ref, env={"GIT_COMMITTER_DATE": f"{ts} +0000"})


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def history_record(ts: int, channel: str, version: str, action: str, number: int, percent: float | None = None,
                   halted: bool = False, **extra) -> dict:
    """A line as publish-release / promote-release append it to channels/history.jsonl."""
    record = {"at": iso(ts), "who": "rm@ci", "action": action, "channel": channel, "version": version,
              "manifest_number": number, "sha256": "ab" * 32, **extra}
    if percent is not None:
        record["rollout"] = {"percent": percent, "halted": halted}
    return record


@pytest.fixture
def released(git_repo, tmp_path):
    """Four releases, a rolled-back 1.1.0, a hotfix 1.1.1 from hotfix/1.1.1, a prerelease, fixes after each.

    1.0.0 lightweight at T0;       fixes after it: c3 (T0+3d)
    1.1.0 tag T0+12d, first commit after 1.0.0 at T0+2d -> 10 d; on stable T0+12d+3h, rolled back at T0+13d (21 h)
    1.1.1 from hotfix/1.1.1, tag T0+13d+2h, on stable T0+13d+3h -> hotfix time 3 h from the rollback; its fix
          (T0+13d+1h) is 1.1.0's bug
    1.2.0 tag T0+50d, first commit not in 1.1.1 at T0+14d -> 36 d; 3 fixes after it (window open at T0+60d)
    """
    r = git_repo
    r.commit("feat: first light", date=T0)
    tag_at(r, "v1.0.0", T0)
    r.commit("feat: second", date=T0 + 2 * DAY)
    r.commit("fix: crash in the meter", date=T0 + 3 * DAY)
    r.commit("feat: third", date=T0 + 10 * DAY)
    tag_at(r, "v1.1.0", T0 + 12 * DAY, "release 1.1.0")
    r.git("checkout", "-q", "-b", "hotfix/1.1.1", "v1.1.0")
    r.commit("fix: restore the gain range", date=T0 + 13 * DAY + HOUR)
    tag_at(r, "v1.1.1", T0 + 13 * DAY + 2 * HOUR, "hotfix 1.1.1")
    r.git("checkout", "-q", "main")
    r.commit("fix: typo in the about box", date=T0 + 14 * DAY)
    r.commit("feat: big new thing", date=T0 + 20 * DAY)
    r.commit("fix: in the range of 1.2.0", date=T0 + 40 * DAY)
    tag_at(r, "v1.2.0", T0 + 50 * DAY, INJECTION)
    for i, day in enumerate((51, 52, 53)):
        r.commit(f"fix: after 1.2.0 number {i}", date=T0 + day * DAY)
    r.commit("docs: not a bug", date=T0 + 53 * DAY + HOUR)
    tag_at(r, "v1.3.0-rc.1", T0 + 54 * DAY, "rc")

    root = tmp_path / "server"
    for v in ("1.0.0", "1.1.1", "1.2.0"):
        (root / "releases" / v).mkdir(parents=True)
    os.symlink("1.1.1", root / "releases" / "latest")
    (root / "quarantine" / "1.1.0-20231127T221320Z").mkdir(parents=True)
    write_jsonl(root / "channels" / "history.jsonl", [
        history_record(T0 + HOUR, "dev", "1.0.0", "publish", 1),
        history_record(T0 + 2 * HOUR, "beta", "1.0.0", "promote", 1, 100),
        history_record(T0 + 3 * HOUR, "stable", "1.0.0", "promote", 1, 100),
        history_record(T0 + 12 * DAY + HOUR, "dev", "1.1.0", "publish", 2),
        history_record(T0 + 12 * DAY + 2 * HOUR, "beta", "1.1.0", "promote", 2, 100),
        history_record(T0 + 12 * DAY + 3 * HOUR, "stable", "1.1.0", "promote", 2, 10),
        history_record(T0 + 13 * DAY - 600, "stable", "1.1.0", "halt", 3, 10, halted=True),
        history_record(T0 + 13 * DAY, "stable", "1.0.0", "rollback", 4, 100, rollback_of="1.1.0"),
        history_record(T0 + 13 * DAY + 3 * HOUR, "stable", "1.1.1", "publish", 5, future_field=True),
        history_record(T0 + 50 * DAY + HOUR, "dev", "1.2.0", "publish", 3),
        history_record(T0 + 51 * DAY, "beta", "1.2.0", "promote", 3, 100),
        history_record(T0 + 55 * DAY, "stable", "1.2.0", "promote", 6, 50),
    ])
    write_jsonl(root / "rollback_log.jsonl", [
        {"who": "watch-health", "at": iso(T0 + 13 * DAY), "reason": "crash rate 4.2% > 1% <b>bold</b>",
         "from": "1.1.0", "to": "1.0.0", "duration_s": 42, "channels": ["stable"],
         "servers": [{"name": "local", "ok": True}], "unknown": {"nested": 1}},
    ])
    adoption = tmp_path / "adoption.json"
    adoption.write_text(json.dumps({"at": iso(T0 + 57 * DAY), "versions": {
        "1.2.0": {"sessions": 600, "crashes": 1}, "1.1.1": {"sessions": 300}, "1.0.0": {"sessions": 100}}}))
    return r, root, adoption


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = release_metrics.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def full_args(released, *extra: str) -> list[str]:
    repo, root, adoption = released
    return ["--repo", str(repo.path), "--server-root", str(root), "--adoption", str(adoption),
            "--as-of", iso(T0 + 60 * DAY), *extra]


def test_every_kpi_from_tags_history_rollback_log_and_adoption(released, capsys, validate_document):
    code, out, _ = run(capsys, *full_args(released, "--json"))
    assert code == 0
    doc = json.loads(out)
    validate_document(doc)
    rows = {r["version"]: r for r in doc["releases"]}
    assert list(rows) == ["1.0.0", "1.1.0", "1.1.1", "1.2.0"]  # the prerelease is not a release
    assert [rows[v]["time_to_release_s"] for v in rows] == [None, 10 * DAY, 2 * HOUR - HOUR, 36 * DAY]
    assert rows["1.0.0"]["annotated"] is False and rows["1.1.0"]["annotated"] is True
    assert (rows["1.0.0"]["title"], rows["1.1.0"]["title"]) == ("feat: first light", "release 1.1.0")
    assert rows["1.0.0"]["tagged_at"] == iso(T0) and rows["1.2.0"]["tagged_at"] == iso(T0 + 50 * DAY)
    assert rows["1.1.1"]["hotfix"] is True and rows["1.1.0"]["hotfix"] is False
    assert rows["1.1.1"]["hotfix_signals"] == [
        "on branch hotfix/1.1.1", "tag message says hotfix", "after the rollback of 1.1.0"]
    # from the rollback (T0+13d) to 1.1.1's first manifest on stable (T0+13d+3h), not to its tag (issue 13)
    assert (rows["1.1.1"]["hotfix_time_s"], rows["1.1.1"]["hotfix_from"], rows["1.1.1"]["hotfix_to"]) == (
        3 * HOUR, "rollback", "stable")
    assert {v: r["post_release_bugs"] for v, r in rows.items()} == {"1.0.0": 1, "1.1.0": 1, "1.1.1": 1, "1.2.0": 3}
    assert [f["subject"] for f in rows["1.1.0"]["fixes"]] == ["fix: restore the gain range"]
    assert [f["subject"] for f in rows["1.1.1"]["fixes"]] == ["fix: typo in the about box"]
    assert [r["bug_window_open"] for r in rows.values()] == [False, False, False, True]
    assert {v: r["state"] for v, r in rows.items()} == {
        "1.0.0": "superseded", "1.1.0": "rolled-back", "1.1.1": "live", "1.2.0": "rolling-out"}
    assert rows["1.1.0"]["channels"]["stable"] == {"first_at": iso(T0 + 12 * DAY + 3 * HOUR), "state": "rolled-back",
                                                   "percent": 10, "halted": True}
    assert rows["1.1.1"]["latest"] is True and rows["1.2.0"]["title"] == INJECTION
    assert [r["adoption_percent"] for r in rows.values()] == [10, 0, 30, 60]
    assert doc["rollbacks"] == [{
        "at": iso(T0 + 13 * DAY), "from": "1.1.0", "to": "1.0.0", "reason": "crash rate 4.2% > 1% <b>bold</b>",
        "who": "watch-health", "channels": ["stable"], "duration_s": 42, "rollback_time_s": 21 * HOUR,
        "measured_from": "first-offer", "measured_on": "stable", "rollback_times": {"stable": 21 * HOUR},
        "exposure_s": DAY - HOUR}]  # out on stable from T0+12d+3h to T0+13d: 21 h, not the command's 42 s
    kpis = {k["id"]: (k["value"], k["status"], k["met"], k["measured"]) for k in doc["kpis"]}
    assert kpis == {
        "time_to_release": (23 * DAY, "pass", 1, 2),  # median of 10 d and 36 d
        "hotfix_time": (3 * HOUR, "pass", 1, 1),
        "rollback_time": (21 * HOUR, "fail", 0, 1),
        "post_release_bugs": (1.5, "pass", 3, 4),
        "rollback_rate": (25, "fail", 0, 1),
        "adoption_7d": (60, "pass", 1, 1),
    }
    assert doc["summary"] == {"releases": 4, "hotfixes": 1, "rollbacks": 1, "newest": "1.2.0", "message": None,
                              "passed": 4, "failed": 2}


def test_the_terminal_table_shows_rows_and_verdicts(released, capsys):
    code, out, err = run(capsys, *full_args(released))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["release", "tagged", "kind", "to", "release", "bugs", "state", "adoption"]
    assert lines[2].split() == ["1.1.0", "2023-11-26", "release", "10.0", "d", "1", "rolled-back", "0.0%"]
    assert lines[3].split() == ["1.1.1", "2023-11-28", "hotfix", "3.0", "h", "1", "live", "30.0%"]
    assert lines[4].split()[5:7] == ["3+", "rolling-out"]  # + : the bug window is still open
    kpi = {line[:18].strip(): line[18:].split() for line in lines[7:]}
    assert kpi["Rollback rate"] == ["<", "5%", "25.0%", "rate", "FAIL", "0/1"]
    assert kpi["Time to release"] == ["<", "4", "weeks", "23.0", "d", "median", "PASS", "1/2"]


def test_since_days_keeps_recent_releases_but_ranges_still_start_at_older_tags(released, capsys):
    code, out, _ = run(capsys, *full_args(released, "--since-days", "20", "--json"))
    doc = json.loads(out)
    assert code == 0 and [r["version"] for r in doc["releases"]] == ["1.2.0"]
    assert doc["releases"][0]["time_to_release_s"] == 36 * DAY and doc["rollbacks"] == []
    assert {k["id"]: k["status"] for k in doc["kpis"]}["rollback_rate"] == "pass"  # 0 of 1


def test_bug_window_changes_which_fixes_count(released, capsys):
    _, out, _ = run(capsys, *full_args(released, "--bug-window", "2", "--json"))
    rows = {r["version"]: r["post_release_bugs"] for r in json.loads(out)["releases"]}
    # 1.0.0 (T0..T0+2d): none; 1.1.0: the hotfix fix (1 h after); 1.1.1: the typo (T0+14d, 22 h after); 1.2.0: 2
    assert rows == {"1.0.0": 0, "1.1.0": 1, "1.1.1": 1, "1.2.0": 2}


def test_without_server_or_adoption_those_kpis_have_no_data(released, capsys, validate_document):
    repo, _, _ = released
    code, out, _ = run(capsys, "--repo", str(repo.path), "--as-of", iso(T0 + 60 * DAY), "--json")
    doc = json.loads(out)
    validate_document(doc)
    status = {k["id"]: k["status"] for k in doc["kpis"]}
    assert code == 0
    assert status == {"time_to_release": "pass", "hotfix_time": "pass", "rollback_time": "no-data",
                      "post_release_bugs": "pass", "rollback_rate": "no-data", "adoption_7d": "no-data"}
    hotfix = doc["releases"][2]
    # git alone still knows 1.1.1 came from hotfix/1.1.1; without the rollback log its time runs from its first fix
    # commit after 1.1.0 (T0+13d+1h), and without the channel history to its tag (T0+13d+2h)
    assert (hotfix["hotfix_time_s"], hotfix["hotfix_from"], hotfix["hotfix_to"]) == (HOUR, "first-fix", "tag")
    assert all(r["state"] is None for r in doc["releases"])


def test_a_repository_without_releases_says_so_and_exits_1(git_repo, tmp_path, capsys, validate_document):
    git_repo.commit("feat: nothing released yet", date=T0)
    tag_at(git_repo, "v0.1.0-rc.1", T0, "only a prerelease")
    html = tmp_path / "empty.html"
    code, out, _ = run(capsys, "--repo", str(git_repo.path), "--server-root", str(tmp_path), "--json",
                       "--html", str(html), "--as-of", iso(T0))
    doc = json.loads(out)
    validate_document(doc)
    assert code == 1
    assert doc["summary"]["message"] == "no releases yet: no v<SemVer> release tag, nothing to measure"
    assert doc["releases"] == [] and {k["status"] for k in doc["kpis"]} == {"no-data"}
    assert "no releases yet" in html.read_text()


def test_json_and_out_write_the_same_bytes(released, tmp_path, capsys):
    out_file = tmp_path / "build" / "metrics.json"
    code, out, err = run(capsys, *full_args(released, "--json", "--out", str(out_file)))
    assert code == 0 and out == out_file.read_text()
    assert "Rollback rate" in err  # the table moves to stderr when stdout carries the document


def test_html_escapes_text_from_git_and_logs(released, tmp_path, capsys):
    html = tmp_path / "dash.html"
    code, _, _ = run(capsys, *full_args(released, "-q", "--html", str(html)))
    page = html.read_text()
    assert code == 0
    assert "<script" not in page and "<img" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&quot;tag&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "Content-Security-Policy" in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_update_server_config_reads_its_first_enabled_server(released, tmp_path, capsys):
    _, root, _ = released
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"servers": [
        {"name": "off", "enabled": False, "transport": "local", "root": str(tmp_path / "nowhere")},
        {"name": "local", "transport": "local", "root": str(root)}], "channels": ["dev", "beta", "stable"]}))
    repo = released[0]
    code, out, _ = run(capsys, "--repo", str(repo.path), "--servers", str(cfg), "--as-of", iso(T0 + 60 * DAY),
                       "--json")
    doc = json.loads(out)
    assert code == 0 and doc["channels"] == ["dev", "beta", "stable"] and doc["sources"]["server"].startswith("local")
    assert {k["id"]: k["value"] for k in doc["kpis"]}["rollback_rate"] == 25


def test_a_tag_prefix_from_the_repository_config(git_repo, capsys):
    git_repo.commit("feat: one", date=T0, files={"releng.toml": '[versioning]\ntag_prefix = "gain-v"\n'})
    tag_at(git_repo, "gain-v2.0.0", T0, "first")
    git_repo.commit("fix: two", date=T0 + DAY)
    tag_at(git_repo, "gain-v2.0.1", T0 + 3 * DAY, "second")
    tag_at(git_repo, "v9.9.9", T0 + 3 * DAY, "another prefix: ignored")
    git_repo.git("branch", "hotfix/2.0.2", "gain-v2.0.1")  # the next hotfix's branch: 2.0.1 is not one
    code, out, _ = run(capsys, "--repo", str(git_repo.path), "--as-of", iso(T0 + 30 * DAY), "--json")
    rows = json.loads(out)["releases"]
    assert code == 0 and [(r["tag"], r["time_to_release_s"], r["hotfix"]) for r in rows] == [
        ("gain-v2.0.0", None, False), ("gain-v2.0.1", 2 * DAY, False)]  # a patch alone is not a hotfix
    assert rows[0]["post_release_bugs"] == 1


def test_config_is_the_releng_config_given_elsewhere(git_repo, tmp_path, capsys):
    """--config names the releng config, as for every command (the update servers are --servers)."""
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('[versioning]\ntag_prefix = "gain-v"\n')
    git_repo.commit("feat: one", date=T0)
    tag_at(git_repo, "gain-v2.0.0", T0, "first")
    tag_at(git_repo, "v9.9.9", T0, "another prefix: ignored")
    code, out, _ = run(capsys, "--repo", str(git_repo.path), "--config", str(cfg), "--as-of", iso(T0 + 30 * DAY),
                       "--json")
    doc = json.loads(out)
    assert code == 0 and doc["tag_prefix"] == "gain-v" and [r["tag"] for r in doc["releases"]] == ["gain-v2.0.0"]


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda root, tmp: None, ["--adoption", "{tmp}/missing.json"], "no such adoption file ({tmp}/missing.json)"),
    (lambda root, tmp: (tmp / "a.json").write_text("{nope"), ["--adoption", "{tmp}/a.json"],
     "corrupt adoption file"),
    (lambda root, tmp: (tmp / "a.json").write_text('{"versions": {"1.0.0": {"sessions": -1}}}'),
     ["--adoption", "{tmp}/a.json"], "'1.0.0' needs a count"),
    (lambda root, tmp: (root / "channels" / "history.jsonl").open("a").write("{torn\n"), [],
     "corrupt log: not JSON"),
    (lambda root, tmp: (root / "rollback_log.jsonl").write_text('{"from": "1.1.0"}\n'), [],
     "not an RFC 3339 time: None ({root}: rollback_log.jsonl line 1)"),
    (lambda root, tmp: (root / "rollback_log.jsonl").write_text('{"at": "2024-01-01T00:00:00Z", "from": "1.1.0",'
                                                               ' "duration_s": "fast"}\n'), [],
     "duration_s must be a number of seconds"),
    (lambda root, tmp: (root / "rollback_log.jsonl").write_text("[1, 2]\n"), [], "a line must be a JSON object"),
])
def test_a_missing_or_corrupt_input_exits_2_naming_it(released, tmp_path, capsys, setup, args, message):
    repo, root, _ = released
    setup(root, tmp_path)
    html = tmp_path / "never.html"
    code, out, err = run(capsys, "--repo", str(repo.path), "--server-root", str(root), "--html", str(html),
                         *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message.format(tmp=tmp_path, root=root) in err
    assert len(err.splitlines()) == 1 and not html.exists()


def test_history_line_number_is_named(released, capsys):
    repo, root, _ = released
    path = root / "channels" / "history.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"at": "2023-11-15T00:00:00Z", "channel": "beta"}'
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "--repo", str(repo.path), "--server-root", str(root))
    assert code == 2
    assert err == f"error: corrupt log: 'version' must be a non-empty string, found None ({root}: " \
                  "channels/history.jsonl line 3)\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--server-root", "{tmp}/absent"], "no such update server root ({tmp}/absent)"),
    (["--server-root", "{tmp}", "--servers", "{tmp}/c.json"],
     "--server-root and --servers name the server twice: give one"),
    (["--servers", "{tmp}/c.json"], "no such update server config ({tmp}/c.json)"),
    (["--bug-window", "0"], "the bug window must be a whole number of days >= 1, found 0 (--bug-window)"),
    (["--as-of", "yesterday"], "not an RFC 3339 time: 'yesterday' (--as-of)"),
])
def test_bad_usage_exits_2(git_repo, tmp_path, capsys, args, message):
    git_repo.commit("feat: one", date=T0)
    code, out, err = run(capsys, "--repo", str(git_repo.path), *[a.format(tmp=tmp_path) for a in args])
    assert (code, out) == (2, "")
    assert err == f"error: {message.format(tmp=tmp_path)}\n"


def test_not_a_repository_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "--repo", str(tmp_path))
    assert code == 2 and err == f"error: not a git repository ({tmp_path})\n"


def test_quarantine_names_resolve_to_versions_with_prereleases(tmp_path):
    root = tmp_path / "root"
    (root / "quarantine" / "2.0.0-rc.1-20240101T000000Z").mkdir(parents=True)
    (root / "quarantine" / "1.0.0-20240101T000000Z").mkdir()
    (root / "quarantine" / "not-a-version").mkdir()
    from releng.server.local import LocalTransport

    records = metric_sources.read_server(LocalTransport("t", root))
    assert records.quarantined == {"2.0.0-rc.1", "1.0.0"} and records.history == () and records.latest is None
    assert records.channels == ("dev", "beta", "stable")


def test_a_channel_only_the_history_knows_goes_before_stable(tmp_path):
    from releng.server.local import LocalTransport

    write_jsonl(tmp_path / "channels" / "history.jsonl", [history_record(T0, "nightly", "1.0.0", "publish", 1),
                                                          history_record(T0, "stable", "1.0.0", "publish", 1)])
    records = metric_sources.read_server(LocalTransport("t", tmp_path), ("beta", "stable"))
    assert records.channels == ("beta", "nightly", "stable")


def test_both_entry_forms_run(released, script, command):
    repo, root, _ = released
    by_path = script("validation", "release_metrics", "--repo", str(repo.path), "--server-root", str(root),
                     "--as-of", iso(T0 + 60 * DAY), "--json")
    by_name = command("release-metrics", "--repo", str(repo.path), "--server-root", str(root),
                      "--as-of", iso(T0 + 60 * DAY), "--json")
    assert by_path.returncode == by_name.returncode == 0 and by_path.stdout == by_name.stdout
    assert command("release-metrics", "--help").stdout.startswith("usage: release-metrics")


def test_records_written_by_publish_promote_and_rollback_release(git_repo, tmp_path, capsys, validate_document):
    """The logs as the real scripts write them: publish to dev, promote to beta and stable, roll the newest back."""

    from releng import signing
    from releng._scripts.distribution import promote_release, publish_release
    from releng._scripts.rollback import rollback_release

    key_file = tmp_path / "release.pem"
    write_key(key_file)
    key = signing.load_private_key_file(key_file)
    root = tmp_path / "server"
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(root),
                                               "base_url": "https://local.example"}],
                                  "channels": ["dev", "beta", "stable"], "manifest": {"expires_days": 7}}))
    quiet = ["--servers", str(config), "--signing-key", str(key_file), "-q"]
    for i, version in enumerate(("1.0.0", "1.1.0", "1.2.0")):
        git_repo.commit(f"feat: feature {i}")
        git_repo.tag(f"v{version}")
        folder = tmp_path / version
        make_release(folder, key, version, size=2000, seed=i, changes=False)
        assert publish_release.main([*quiet, "--artifacts", str(folder / "artifacts.json"), "--channel", "dev"]) == 0
        assert promote_release.main([*quiet, version, "--to", "beta"]) == 0
        if version != "1.2.0":
            assert promote_release.main([*quiet, version, "--to", "stable"]) == 0
    assert promote_release.main([*quiet, "1.2.0", "--to", "stable", "--rollout", "10"]) == 0
    assert rollback_release.main([*quiet, "1.2.0", "--reason", "crashes on load"]) == 0
    log = [json.loads(line) for line in (root / "rollback_log.jsonl").read_text().splitlines()]

    code, out, _ = run(capsys, "--repo", str(git_repo.path), "--servers", str(config), "--json")
    doc = json.loads(out)
    validate_document(doc)
    rows = {r["version"]: r for r in doc["releases"]}
    assert code == 0
    assert {v: r["state"] for v, r in rows.items()} == {"1.0.0": "superseded", "1.1.0": "live",
                                                        "1.2.0": "rolled-back"}
    assert rows["1.2.0"]["channels"]["stable"]["state"] == "rolled-back"
    assert rows["1.2.0"]["channels"]["stable"]["percent"] == 10
    assert rows["1.1.0"]["latest"] is True and rows["1.0.0"]["channels"]["dev"]["state"] == "superseded"
    (event,) = doc["rollbacks"]
    assert (event["from"], event["to"], event["reason"], event["duration_s"]) == (
        "1.2.0", "1.1.0", "crashes on load", log[0]["duration_s"])
    # how long 1.2.0 was out: from its first manifest on each channel to the one that rolled it back there, the
    # figure of the furthest channel (stable) being the KPI's
    assert (event["measured_from"], event["measured_on"], sorted(event["rollback_times"])) == (
        "first-offer", "stable", ["beta", "dev", "stable"])
    assert event["rollback_time_s"] == event["rollback_times"]["stable"]
    assert {k["id"]: k["value"] for k in doc["kpis"]}["rollback_rate"] == 33.33


def test_releases_all_older_than_since_days_is_nothing_to_measure(released, capsys):
    code, out, _ = run(capsys, *full_args(released, "--since-days", "5"))
    assert code == 1
    assert out.splitlines()[0] == "no release tagged in the last 5 days, nothing to measure"


def test_an_sftp_server_read_with_a_read_only_key(released, sshd, tmp_path, capsys):
    """Over the loopback sshd, with a key that may only read: metrics never write to a server."""
    import shutil

    repo, root, _ = released
    remote = sshd.fresh_root("metrics")
    shutil.copytree(root, remote, symlinks=True, dirs_exist_ok=True)
    cfg = tmp_path / "sftp.json"
    cfg.write_text(json.dumps({"servers": [{
        "name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
        "key_file": str(sshd.readonly_client_key), "known_hosts": str(sshd.known_hosts), "root": str(remote),
        "base_url": "https://primary.example"}]}))
    code, out, _ = run(capsys, "--repo", str(repo.path), "--servers", str(cfg), "--as-of", iso(T0 + 60 * DAY),
                       "--json")
    doc = json.loads(out)
    local = json.loads(run(capsys, *full_args(released, "--json"))[1])
    assert code == 0 and doc["sources"]["server"] == "primary"
    assert doc["releases"] == [{**r, "adoption_percent": None} for r in local["releases"]]
    assert doc["rollbacks"] == local["rollbacks"]


def test_only_a_rollback_since_the_previous_release_makes_a_patch_a_hotfix():
    """1.1.1 follows the rollback of 1.1.0; 1.1.2, weeks later, is an ordinary patch release."""
    from releng.validation.metric_sources import Rollback, ServerRecords

    def rel(version: str, day: float, previous: str | None) -> metric_sources.Release:
        return metric_sources.Release(f"v{version}", version, int(T0 + day * DAY), "ab" * 20, True, "", previous,
                                       1, int(T0 + (day - 1) * DAY), ())

    releases = [rel("1.1.0", 10, None), rel("1.1.1", 11, "1.1.0"), rel("1.1.2", 40, "1.1.1")]
    server = ServerRecords("s", (), (Rollback(int(T0 + 10.5 * DAY), "1.1.0", None, "", "", None, ()),),
                           frozenset(), frozenset(), None, ("stable",))
    body = metrics.measure(releases, {}, server, None, now=int(T0 + 60 * DAY))
    assert [(r["hotfix"], r["hotfix_time_s"], r["hotfix_from"]) for r in body["releases"]] == [
        (False, None, None), (True, DAY // 2, "rollback"), (False, None, None)]
    assert body["rollbacks"][0]["rollback_time_s"] is None  # no channel history of 1.1.0: not measured
    assert [(k["status"], k["detail"]) for k in body["kpis"] if k["id"] == "rollback_time"] == [
        ("no-data", "rollbacks without a channel history of the version")]
