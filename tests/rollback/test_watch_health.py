"""watch-health: the crash-rate decision at each bound, the feed from files and a real local HTTP server, and the
rollback it runs against real server roots (docs/security-properties.md #33: minimum sample, once per version,
figures kept).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from releng import documents
from releng._scripts.rollback import watch_health
from releng.errors import BadInput
from releng.rollback import health
from testkit import snapshot, write_key

RULE = health.Policy(Fraction(1, 100), min_sessions=500, min_clients=100)


# --- pure: threshold, bounds, feed shape ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1%", Fraction(1, 100)), ("0.5%", Fraction(1, 200)), ("0.01", Fraction(1, 100)), (" 2.5 % ", Fraction(1, 40)),
    ("0.7%", Fraction(7, 1000)), ("99.9%", Fraction(999, 1000)), ("1e-3", Fraction(1, 1000)),
])
def test_threshold_accepts_percentages_and_fractions(text, expected):
    assert health.parse_threshold(text) == expected


@pytest.mark.parametrize("text", ["", "%", "abc", "0", "0%", "100%", "150%", "1", "1.5", "-1%", "nan", "inf", "1/0",
                                  "1%%"])
def test_threshold_refuses_nonsense(text):
    with pytest.raises(BadInput, match="--threshold"):
        health.parse_threshold(text)


def sample(sessions: int, crashes: int, clients: int | None, version: str = "1.3.0") -> health.Sample:
    return health.Sample(version, sessions, crashes, clients)


@pytest.mark.parametrize(("figures", "verdict"), [
    ((499, 100, 400), health.FEW_SESSIONS),   # sessions just below the minimum, however bad the rate
    ((500, 6, 400), health.ROLLBACK),         # sessions exactly at the minimum: enough
    ((1000, 30, 99), health.FEW_CLIENTS),     # distinct clients just below
    ((1000, 30, 100), health.ROLLBACK),       # ... and exactly at the minimum
    ((1000, 30, None), health.FEW_CLIENTS),   # a feed that does not count clients never passes a client minimum
    ((1000, 10, 400), health.HEALTHY),        # rate exactly at the threshold is not above it
    ((1000, 11, 400), health.ROLLBACK),       # one crash more is
    ((100000, 1000, 400), health.HEALTHY),
    ((100000, 1001, 400), health.ROLLBACK),
    ((0, 0, 0), health.FEW_SESSIONS),
])
def test_each_bound_just_below_and_just_above(figures, verdict):
    assert health.judge(sample(*figures), RULE) == verdict


def test_rates_compare_exactly_not_as_floats():
    rule = health.Policy(health.parse_threshold("0.7%"), 1, 0)
    assert 7 / 1000 != 0.7 / 100  # the float trap the exact comparison avoids
    assert health.judge(sample(1000, 7, 5), rule) == health.HEALTHY
    assert health.judge(sample(1000, 8, 5), rule) == health.ROLLBACK
    assert health.judge(sample(1000, 30, None), health.Policy(Fraction(1, 100), 500, 0)) == health.ROLLBACK


def test_decide_acts_only_on_an_offered_version_never_rolled_back():
    bad = sample(1000, 50, 400)
    assert health.decide(bad, RULE, channels=["stable"]).verdict == health.ROLLBACK
    assert health.decide(bad, RULE, channels=[]).verdict == health.NOT_OFFERED
    assert health.decide(bad, RULE, channels=["stable"], rolled_back=True).verdict == health.ROLLED_BACK
    good = sample(1000, 1, 400)
    assert health.decide(good, RULE, channels=["stable"], rolled_back=True).verdict == health.HEALTHY


def test_decide_all_asks_the_servers_only_about_condemned_versions():
    feed = {"1.10.0": sample(1000, 50, 400, "1.10.0"), "1.9.0": sample(1000, 50, 400, "1.9.0"),
            "1.2.0": sample(1000, 1, 400, "1.2.0"), "2.0.0": sample(10, 9, 1, "2.0.0")}
    asked = []

    def rolled_back(v: str) -> bool:
        asked.append(v)
        return v == "1.9.0"

    out = health.decide_all(feed, RULE, {"1.10.0": ["beta"], "1.9.0": ["stable"], "1.2.0": ["stable"]}, rolled_back)
    assert [(d.sample.version, d.verdict) for d in out] == [
        ("1.2.0", health.HEALTHY), ("1.9.0", health.ROLLED_BACK), ("1.10.0", health.ROLLBACK),
        ("2.0.0", health.FEW_SESSIONS)]
    assert sorted(asked) == ["1.10.0", "1.9.0"]


def test_figures_and_the_readable_line():
    d = health.decide(sample(812, 31, 240), RULE, channels=["beta", "stable"])
    assert health.figures(d, RULE) == {"sessions": 812, "crashes": 31, "clients": 240,
                                       "crash_rate": round(31 / 812, 8), "threshold": 0.01,
                                       "min_sessions": 500, "min_clients": 100}
    text = health.line(d)
    for part in ("1.3.0", "812", "240", "31", "3.818%", "rollback (beta, stable)"):
        assert part in text
    assert "?" in health.line(health.decide(sample(812, 31, None), RULE))


def test_a_well_formed_feed():
    data = json.dumps({"versions": {"1.2.0": {"sessions": 10, "crashes": 0, "clients": 3},
                                    "1.3.0-rc.1": {"sessions": 5, "crashes": 5}}, "generated_at": "x"}).encode()
    assert health.parse_feed(data, "feed.json") == {"1.2.0": sample(10, 0, 3, "1.2.0"),
                                                    "1.3.0-rc.1": sample(5, 5, None, "1.3.0-rc.1")}


@pytest.mark.parametrize(("data", "message"), [
    (b"", "malformed JSON"),
    (b"{not json", "malformed JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[]", '"versions" object'),
    (b'{"versions": []}', '"versions" object'),
    (b'{"version": {}}', '"versions" object'),
    (b'{"versions": {"latest": {"sessions": 1, "crashes": 0}}}', "not a SemVer"),
    (b'{"versions": {"1.2.0": [1, 0]}}', "must be an object"),
    (b'{"versions": {"1.2.0": {"sessions": -1, "crashes": 0}}}', "sessions must be a whole number"),
    (b'{"versions": {"1.2.0": {"sessions": 1.5, "crashes": 0}}}', "sessions must be a whole number"),
    (b'{"versions": {"1.2.0": {"sessions": true, "crashes": 0}}}', "sessions must be a whole number"),
    (b'{"versions": {"1.2.0": {"sessions": "900", "crashes": 0}}}', "sessions must be a whole number"),
    (b'{"versions": {"1.2.0": {"sessions": 900}}}', "crashes must be a whole number"),
    (b'{"versions": {"1.2.0": {"sessions": 900, "crashes": 1, "clients": -2}}}', "clients must be"),
    (b'{"versions": {"1.2.0": {"sessions": 9, "crashes": 10}}}', "more crashes than sessions"),
])
def test_a_malformed_feed_is_refused_naming_the_feed(data, message):
    with pytest.raises(BadInput, match=message) as e:
        health.parse_feed(data, "telemetry.json")
    assert e.value.where == "telemetry.json"



# --- against real server roots: publish, promote, then watch -----------------------------------------------------

CRASHING = {"sessions": 1000, "crashes": 11, "clients": 100}  # 1.1%: just above 1%, every minimum just met


@pytest.fixture
def config(update_root, server_config, local_spec) -> Path:
    """One local server: update_root (tests/rollback/conftest.py), where every channel offers 1.3.0."""
    return server_config(local_spec(update_root))


def rollback_log(root: Path) -> list[dict]:
    path = root / "rollback_log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def feed_file(folder: Path, versions: dict, name: str = "feed.json") -> Path:
    path = folder / name
    path.write_text(json.dumps({"versions": versions}))
    return path


def watch(config: Path, key_file: Path, feed: Path | str, *extra: str) -> int:
    return watch_health.main(["--servers", str(config), "--feed", str(feed), "--once", "--signing-key",
                              str(key_file), *extra])


def test_a_crashing_release_is_halted_rolled_back_and_the_figures_recorded(update_root, config, tmp_path, payload_of,
                                                                            rollback_key_file, capsys,
                                                                            validate_document):
    feed = feed_file(tmp_path, {"1.2.0": {"sessions": 5000, "crashes": 10, "clients": 900}, "1.3.0": CRASHING})
    assert watch(config, rollback_key_file, feed, "--json") == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["acted"] == ["1.3.0"]
    assert [(v["version"], v["verdict"]) for v in result["versions"]] == [("1.2.0", "healthy"), ("1.3.0", "rollback")]
    assert "1.3.0" in err and "rollback" in err and "1.1%" in err
    stable = payload_of(update_root, "stable")
    assert (stable["version"], stable.get("rollback_of")) == ("1.2.0", "1.3.0")
    assert os.readlink(update_root / "releases" / "latest") == "1.2.0"
    assert not (update_root / "releases" / "1.3.0").exists()
    assert [p.name.startswith("1.3.0-") for p in (update_root / "quarantine").iterdir()] == [True]
    (line,) = rollback_log(update_root)
    assert line["from"] == "1.3.0" and line["to"] == "1.2.0" and line["trigger"] == "watch-health"
    assert line["figures"] == {"sessions": 1000, "crashes": 11, "clients": 100, "crash_rate": 0.011,
                               "threshold": 0.01, "min_sessions": 500, "min_clients": 100}
    history = [json.loads(x) for x in (update_root / "channels" / "history.jsonl").read_text().splitlines()]
    assert [(h["action"], h["channel"]) for h in history][-6:] == [  # halted first, then rolled back
        ("halt", "dev"), ("halt", "beta"), ("halt", "stable"), ("rollback", "dev"), ("rollback", "beta"),
        ("rollback", "stable")]
    (body,) = result["rollbacks"]
    validate_document(json.loads(documents.dumps("rollback", body)))


def test_acts_once_per_version_across_runs(update_root, config, tmp_path, rollback_key_file, capsys):
    feed = feed_file(tmp_path, {"1.3.0": CRASHING})
    assert watch(config, rollback_key_file, feed) == 0
    after_first = snapshot(update_root)
    capsys.readouterr()
    assert watch(config, rollback_key_file, feed) == 1
    assert "already rolled back" in capsys.readouterr().err
    assert snapshot(update_root) == after_first
    assert len(rollback_log(update_root)) == 1


@pytest.mark.parametrize("figures", [
    {"sessions": 499, "crashes": 100, "clients": 400},   # one session short
    {"sessions": 1000, "crashes": 50, "clients": 99},    # one client short
    {"sessions": 1000, "crashes": 50},                   # clients not counted
    {"sessions": 1000, "crashes": 10, "clients": 400},   # exactly 1%: not above
])
def test_just_below_a_bound_nothing_happens(update_root, config, tmp_path, rollback_key_file, figures, capsys):
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": figures})) == 1
    assert snapshot(update_root) == before
    assert "1.3.0" in capsys.readouterr().err


@pytest.mark.parametrize(("figures", "flags"), [
    ({"sessions": 500, "crashes": 6, "clients": 100}, []),
    ({"sessions": 200, "crashes": 2, "clients": 3}, ["--min-sessions", "200", "--min-clients", "3",
                                                      "--threshold", "0.5%"]),
    ({"sessions": 1000, "crashes": 6}, ["--min-clients", "0", "--threshold", "0.005"]),
])
def test_just_above_every_bound_it_acts(update_root, config, tmp_path, rollback_key_file, figures, flags):
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": figures}), *flags) == 0
    assert rollback_log(update_root)[0]["figures"]["sessions"] == figures["sessions"]


def test_a_version_the_servers_do_not_offer_is_ignored(update_root, config, tmp_path, rollback_key_file, capsys):
    before = snapshot(update_root)
    feed = feed_file(tmp_path, {"9.9.9": CRASHING, "1.2.0": CRASHING, "1.3.0": {"sessions": 900, "crashes": 0,
                                                                                  "clients": 300}})
    assert watch(config, rollback_key_file, feed) == 1
    err = capsys.readouterr().err
    assert "9.9.9" in err and "not offered" in err  # 1.2.0 is in releases/ but no channel offers it any more
    assert err.count("not offered") == 2
    assert snapshot(update_root) == before


def test_dry_run_says_what_it_would_do_and_changes_nothing(update_root, config, tmp_path, rollback_key_file, capsys):
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING}), "--dry-run", "--json") == 0
    out, err = capsys.readouterr()
    assert "would" in err
    assert json.loads(out)["rollbacks"][0]["status"] == "dry-run"
    assert snapshot(update_root) == before


def test_nothing_to_fall_back_to_still_halts_the_rollout(update_root, config, tmp_path, payload_of,
                                                         rollback_key_file, capsys):
    for older in ("1.1.0", "1.2.0"):  # 1.3.0 becomes the only release
        shutil.rmtree(update_root / "releases" / older)
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING})) == 2
    assert "rollback of 1.3.0 failed" in capsys.readouterr().err
    for channel in ("dev", "beta", "stable"):
        assert payload_of(update_root, channel)["rollout"]["halted"] is True
    assert (update_root / "releases" / "1.3.0").is_dir()
    assert rollback_log(update_root) == []


def test_a_local_root_and_an_sftp_mirror_are_both_rolled_back(update_root, sftp_update_root, server_config,
                                                               local_spec, tmp_path, payload_of, rollback_key_file):
    remote, spec = sftp_update_root
    config = server_config(spec, local_spec(update_root))
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING})) == 0
    for root in (remote, update_root):
        assert payload_of(root, "stable")["version"] == "1.2.0"
        assert [line["from"] for line in rollback_log(root)] == ["1.3.0"]
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING})) == 1


# --- bad input: exit 2, nothing changed -------------------------------------------------------------------------


@pytest.mark.parametrize(("feed_text", "message"), [
    ("{broken", "malformed JSON"),
    ('{"versions": {"1.3.0": {"sessions": 10, "crashes": 11}}}', "more crashes than sessions"),
    ('{"versions": {"v1.3.0": {"sessions": 10, "crashes": 1}}}', "not a SemVer"),
    ("[" * 30000, "nested too deeply"),  # issue 12: a RecursionError was exit 3
])
def test_a_malformed_feed_exits_2_naming_it(update_root, config, tmp_path, rollback_key_file, feed_text, message,
                                            capsys):
    feed = tmp_path / "telemetry.json"
    feed.write_text(feed_text)
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, feed) == 2
    err = capsys.readouterr().err
    assert message in err and str(feed) in err and err.count("\n") == 1
    assert snapshot(update_root) == before


@pytest.mark.parametrize("extra", [
    ["--threshold", "150%"], ["--threshold", "1"], ["--min-sessions", "0"], ["--min-clients", "-1"],
    ["--interval", "0"], ["--interval", "inf"], ["--interval", "nan"], ["--interval", "-1"],
])
def test_bad_options_exit_2_and_change_nothing(update_root, config, tmp_path, rollback_key_file, extra, capsys):
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING}), *extra) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert snapshot(update_root) == before


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_feed_that_is_a_fifo_or_a_device_exits_2_without_waiting(update_root, config, tmp_path, rollback_key_file,
                                                                   capsys, special):
    """Issue 12: a FIFO nobody writes would stall the watcher (and the automatic rollback); /dev/zero never ends."""
    import os
    import threading

    feed = tmp_path / "feed"
    if special == "fifo":
        os.mkfifo(feed)
    else:
        feed.symlink_to(special)
    before = snapshot(update_root)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(watch(config, rollback_key_file, feed)), daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive() and codes == [2]
    kind = "a FIFO" if special == "fifo" else "a character device"
    assert f"cannot read health feed: {kind}, not a regular file" in capsys.readouterr().err
    assert snapshot(update_root) == before


def test_missing_feed_config_or_key_exit_2(update_root, config, tmp_path, rollback_key_file, capsys):
    assert watch(config, rollback_key_file, tmp_path / "absent.json") == 2
    with pytest.raises(SystemExit) as missing:  # argparse: --servers is required
        watch_health.main(["--feed", str(feed_file(tmp_path, {})), "--once"])
    assert missing.value.code == 2
    assert "--servers" in capsys.readouterr().err
    assert watch(config, tmp_path / "absent.pem", feed_file(tmp_path, {"1.3.0": CRASHING})) == 2
    assert rollback_log(update_root) == []


# --- the feed over a real local HTTP server ---------------------------------------------------------------------


class Feed(BaseHTTPRequestHandler):
    """/feed serves `self.server.body` with `self.server.status`; /endless never stops; /slow answers late."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        srv.hits += 1  # type: ignore[attr-defined]
        if self.path == "/endless":
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b" " * 65536)
            except OSError:
                return
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/feed")
            self.end_headers()
            return
        body = srv.body  # type: ignore[attr-defined]
        self.send_response(srv.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def http_feed():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    srv.body, srv.status, srv.hits = b'{"versions": {}}', 200, 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    yield srv
    srv.shutdown()
    srv.server_close()


def set_feed(srv, versions: dict, status: int = 200) -> None:
    srv.body, srv.status = json.dumps({"versions": versions}).encode(), status


def test_the_feed_over_http_drives_a_rollback(update_root, config, tmp_path, payload_of, rollback_key_file, http_feed):
    set_feed(http_feed, {"1.3.0": CRASHING})
    assert watch(config, rollback_key_file, f"{http_feed.url}/feed") == 0
    assert payload_of(update_root, "stable")["rollback_of"] == "1.3.0"


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/feed", 500, "HTTP 500"),
    ("/feed", 404, "HTTP 404"),
    ("/moved", 200, "HTTP 302"),
    ("/endless", 200, "larger than"),
])
def test_a_failing_or_endless_http_feed_exits_2(update_root, config, tmp_path, rollback_key_file, http_feed, path,
                                                status, message, capsys):
    set_feed(http_feed, {"1.3.0": CRASHING}, status)
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, f"{http_feed.url}{path}") == 2
    err = capsys.readouterr().err
    assert message in err and f"{http_feed.url}{path}" in err
    assert snapshot(update_root) == before


def test_a_silent_feed_times_out(http_feed):
    with pytest.raises(Exception, match="no complete answer within 0.3 s") as e:
        health.read_feed(f"{http_feed.url}/slow", timeout=0.3)
    assert e.type.__name__ == "ExternalError"


def test_an_unreachable_feed_and_other_schemes(tmp_path):
    with pytest.raises(Exception, match="cannot fetch"):
        health.read_feed("http://127.0.0.1:9/feed", timeout=2)  # the discard port: nothing listens
    with pytest.raises(BadInput, match="file or an http"):
        health.read_feed("ftp://example.com/feed.json")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(BadInput, match="larger than 100 bytes"):
        health.read_feed(str(big), cap=100)


def test_polling_survives_a_bad_feed_acts_once_and_stops_on_ctrl_c(update_root, config, tmp_path, payload_of,
                                                                     rollback_key_file, http_feed):
    """The console command, polling: a healthy feed, then HTTP 500 (a warning), then a crash spike acted on once."""
    set_feed(http_feed, {"1.3.0": {"sessions": 900, "crashes": 1, "clients": 300}})
    err_path = tmp_path / "stderr.txt"
    exe = Path(sys.executable).with_name("watch-health")
    key_file = rollback_key_file
    with open(err_path, "w") as err:
        proc = subprocess.Popen([str(exe), "--servers", str(config), "--feed", f"{http_feed.url}/feed",
                                 "--signing-key", str(key_file), "--interval", "0.05"],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        def wait_for(condition) -> None:
            deadline = time.monotonic() + 60
            while not condition():
                assert proc.poll() is None, err_path.read_text()
                assert time.monotonic() < deadline, err_path.read_text()
                time.sleep(0.02)

        wait_for(lambda: "healthy" in err_path.read_text())
        set_feed(http_feed, {}, status=500)
        wait_for(lambda: "warning: the health feed answered HTTP 500" in err_path.read_text())
        set_feed(http_feed, {"1.3.0": CRASHING})
        wait_for(lambda: rollback_log(update_root))
        hits = http_feed.hits
        wait_for(lambda: http_feed.hits >= hits + 3 and "already rolled back" in err_path.read_text())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(rollback_log(update_root)) == 1
    assert payload_of(update_root, "stable")["rollback_of"] == "1.3.0"


def test_an_unreachable_mirror_leaves_a_partial_rollback_for_a_human(update_root, server_config, local_spec,
                                                                     sftp_spec, tmp_path, payload_of,
                                                                     rollback_key_file, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = {**sftp_spec(tmp_path / "nowhere", name="mirror"), "port": closed}
    config = server_config(local_spec(update_root), down)
    feed = feed_file(tmp_path, {"1.3.0": CRASHING})
    assert watch(config, rollback_key_file, feed) == 2
    err = capsys.readouterr().err
    assert "partial" in err and "mirror" in err and "rollback-release" in err
    assert payload_of(update_root, "stable")["rollback_of"] == "1.3.0"  # the reachable server is done
    (line,) = rollback_log(update_root)
    assert line["status"] == "partial"
    assert watch(config, rollback_key_file, feed) == 1  # acted once: finishing it is rollback-release's job
    assert "already rolled back" in capsys.readouterr().err


def test_a_dry_run_that_cannot_reach_a_mirror_exits_2_and_changes_nothing(update_root, server_config, local_spec,
                                                                           sftp_spec, tmp_path, rollback_key_file,
                                                                           capsys):
    """As rollback-release --dry-run: a plan that could not look at every server is not a plan to trust."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = {**sftp_spec(tmp_path / "nowhere", name="mirror"), "port": closed}
    config = server_config(local_spec(update_root), down)
    before = snapshot(update_root)
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING}), "--dry-run") == 2
    assert snapshot(update_root) == before and "mirror" in capsys.readouterr().err


def test_no_reachable_server_or_an_untrusted_manifest_exits_2(update_root, config, server_config, sftp_spec,
                                                              tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    feed = feed_file(tmp_path, {"1.3.0": CRASHING})
    down = server_config({**sftp_spec(tmp_path / "nowhere", name="mirror"), "port": closed})
    assert watch(down, tmp_path / "unused.pem", feed) == 2  # the key is checked first
    other = tmp_path / "other.pem"
    write_key(other)
    capsys.readouterr()
    assert watch(down, other, feed) == 2
    assert "no server can be reached" in capsys.readouterr().err
    before = snapshot(update_root)
    assert watch(config, other, feed) == 2  # manifests signed by a key we do not hold: never trusted, never acted on
    assert snapshot(update_root) == before


def test_the_script_by_path_reads_the_feed_from_stdin(update_root, config, rollback_key_file, script):
    done = script("rollback", "watch_health", "--servers", str(config), "--feed", "-", "--once", "--json",
                  "--signing-key", str(rollback_key_file), input=json.dumps({"versions": {"1.3.0": CRASHING}}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["acted"] == ["1.3.0"]
    assert rollback_log(update_root)[0]["figures"]["crash_rate"] == 0.011


# --- one SSH connection per server and check (releng.server.pool), and a mirror that drops mid-check ----------


class Relay:
    """A TCP relay in front of the session's sshd, as a network between watch-health and a mirror: it counts the
    connections made through it, `cut()` drops the open ones, and with `down` set it hangs up on new ones."""

    def __init__(self, sshd) -> None:
        self.target = (sshd.host, sshd.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.connections, self.down, self.stopped = 0, False, threading.Event()
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.connections += 1
                self.open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.cut()
        self.listener.close()


@pytest.fixture
def mirror(sshd, sftp_update_root, sftp_spec, tmp_path):
    """(root, spec, relay): the SFTP update root, reached through a Relay (its own known_hosts line)."""
    root, _ = sftp_update_root
    relay = Relay(sshd)
    known = tmp_path / "relay_known_hosts"
    known.write_text(sshd.known_hosts.read_text().replace(f"]:{sshd.port} ", f"]:{relay.port} "))
    yield root, {**sftp_spec(root, name="mirror"), "port": relay.port, "known_hosts": str(known)}, relay
    relay.stop()


class Tap:
    """stderr that runs `action` once when watch-health writes `text`: a fault injected at an exact step."""

    def __init__(self, stream, text: str, action) -> None:
        self.stream, self.text, self.action, self.seen = stream, text, action, []

    def write(self, data: str) -> int:
        self.seen.append(data)
        if self.action is not None and self.text in data:
            self.action()
            self.action = None
        return self.stream.write(data)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def test_one_check_uses_one_connection_per_server(mirror, update_root, server_config, local_spec, tmp_path,
                                                  payload_of, rollback_key_file):
    """offered, was_rolled_back, halt and rollback used to connect once each: now they share one connection."""
    remote, spec, relay = mirror
    config = server_config(spec, local_spec(update_root))
    feed = feed_file(tmp_path, {"1.3.0": CRASHING})
    assert watch(config, rollback_key_file, feed) == 0
    assert relay.connections == 1
    for root in (remote, update_root):
        assert payload_of(root, "stable")["rollback_of"] == "1.3.0"
    assert watch(config, rollback_key_file, feed) == 1  # the next check connects afresh (once)
    assert relay.connections == 2


HALTED = "1.3.0: halt the rollout on"  # watch-health's line between the halt and the rollback


def test_a_connection_dropped_between_steps_is_replaced(mirror, update_root, server_config, local_spec, tmp_path,
                                                        payload_of, rollback_key_file, monkeypatch):
    remote, spec, relay = mirror
    config = server_config(spec, local_spec(update_root))
    monkeypatch.setattr(sys, "stderr", Tap(sys.stderr, HALTED, relay.cut))
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING})) == 0
    assert relay.connections == 2  # the dead connection was noticed and replaced: the rollback ran on a fresh one
    for root in (remote, update_root):
        assert payload_of(root, "stable")["rollback_of"] == "1.3.0"
        assert [line["status"] for line in rollback_log(root)] == ["complete"]


def test_a_mirror_that_goes_down_mid_check_is_reported_and_the_rollback_resumes(mirror, update_root, server_config,
                                                                                local_spec, tmp_path, payload_of,
                                                                                rollback_key_file, monkeypatch):
    from releng._scripts.rollback import rollback_release

    remote, spec, relay = mirror
    config = server_config(spec, local_spec(update_root))
    feed = feed_file(tmp_path, {"1.3.0": CRASHING})

    def go_down() -> None:
        relay.down = True
        relay.cut()

    tap = Tap(sys.stderr, HALTED, go_down)
    monkeypatch.setattr(sys, "stderr", tap)
    assert watch(config, rollback_key_file, feed) == 2
    err = "".join(tap.seen)
    assert "rollback of 1.3.0 is partial (failed: mirror)" in err and "rollback-release" in err
    assert payload_of(update_root, "stable")["rollback_of"] == "1.3.0"
    stable = payload_of(remote, "stable")  # halted before it went down, not rolled back
    assert stable["version"] == "1.3.0" and stable["rollout"]["halted"] is True
    (line,) = rollback_log(update_root)
    assert line["status"] == "partial" and line["servers"]["mirror"]["error"].startswith("cannot connect")

    relay.down = False
    tap.seen.clear()
    assert watch(config, rollback_key_file, feed) == 1  # a later check reconnects, and acts once only
    assert relay.connections == 2 and "already rolled back" in "".join(tap.seen)
    assert rollback_release.main(["--servers", str(config), "1.3.0", "--reason", "finish", "--signing-key",
                                  str(rollback_key_file), "-q"]) == 0
    for root in (remote, update_root):
        assert payload_of(root, "stable")["rollback_of"] == "1.3.0"
        assert [line["status"] for line in rollback_log(root)] == ["complete"]


def test_a_missing_local_root_is_an_unreachable_server_never_created(update_root, server_config, local_spec, tmp_path,
                                                                     rollback_key_file, capsys):
    missing = tmp_path / "not-mounted"
    config = server_config(local_spec(update_root), local_spec(missing, name="spare"))
    assert watch(config, rollback_key_file, feed_file(tmp_path, {"1.3.0": CRASHING})) == 2
    assert "partial (failed: spare)" in capsys.readouterr().err
    assert not missing.exists()
