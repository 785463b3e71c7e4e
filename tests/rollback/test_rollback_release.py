"""rollback-release against real servers: local folders, the session's loopback sshd, a real HTTP server over the
same root, and local HTTP/SMTP stand-ins for Cloudflare, GitHub and a Slack webhook.

docs/security-properties.md #31 (readers keep working), #32 (idempotent rollback), #34 (history), and bad input
(exit 2, nothing changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import signing, times
from releng._scripts.distribution import promote_release
from releng._scripts.rollback import rollback_release
from releng.errors import BadInput
from releng.rollback import notify, procedure
from releng.server import channel_store, layout, manifest
from testkit import CF_TOKEN, CF_ZONE, GH_REPO, GH_TOKEN, FakeService, snapshot


def run(config: Path, key_file: Path, *argv: str) -> int:
    return rollback_release.main(["--servers", str(config), "--signing-key", str(key_file), *argv])


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def log_lines(root: Path) -> list[dict]:
    path = root / "rollback_log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def history(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "channels" / "history.jsonl").read_text().splitlines()]


def quarantine(root: Path, version: str) -> list[Path]:
    return sorted((root / "quarantine").glob(f"{version}-*")) if (root / "quarantine").exists() else []


# --- the happy path -------------------------------------------------------------------------------------------


def test_rollback_quarantines_relinks_resigns_logs_and_prints_the_follow_up(
        update_root, server_config, local_spec, rollback_key_file, payload_of, validate_document, tmp_path, capsys,
        monkeypatch):
    monkeypatch.setenv("RELENG_ACTOR", "alice")
    config = server_config(local_spec(update_root))
    before = {c: payload_of(update_root, c)["manifest_number"] for c in ("dev", "beta", "stable")}
    original = tree_digest(update_root / "releases" / "1.3.0")
    out = tmp_path / "rollback.json"
    assert run(config, rollback_key_file, "1.3.0", "--reason", "crashes on load in Ableton", "--out", str(out)) == 0
    for channel in ("dev", "beta", "stable"):
        p = payload_of(update_root, channel)
        assert (p["version"], p["rollback_of"], p["rollout"]) == ("1.2.0", "1.3.0", {"percent": 100, "halted": False})
        assert p["manifest_number"] == before[channel] + 1
        assert p["artifacts"]["linux-x86_64"]["url"] == (
            "https://updates.example/releases/1.2.0/gain-1.2.0-linux-x86_64.tar.gz")
        assert "release 1.2.0" in p["notes"]
    assert os.readlink(update_root / "releases" / "latest") == "1.2.0"
    assert not (update_root / "releases" / "1.3.0").exists()
    [q] = quarantine(update_root, "1.3.0")
    assert tree_digest(q) == original  # kept byte for byte
    # Item 34: every manifest change is in the history, with who, number and digest.
    last = history(update_root)[-3:]
    assert {(h["action"], h["channel"], h["version"], h["rollback_of"], h["who"]) for h in last} == {
        ("rollback", c, "1.2.0", "1.3.0", "alice") for c in ("dev", "beta", "stable")}
    stable = [h for h in last if h["channel"] == "stable"][0]
    assert stable["sha256"] == hashlib.sha256((update_root / "channels" / "stable.json").read_bytes()).hexdigest()
    # One shape for every line, whatever the action (publish, promote, rollout, rollback): releng.server.channel_store.
    lines = history(update_root)
    assert {"publish", "rollback"} <= {h["action"] for h in lines}
    assert {tuple(sorted(h)) for h in lines} == {tuple(sorted(channel_store.HISTORY_FIELDS))}
    [line] = log_lines(update_root)
    assert (line["from"], line["to"], line["who"], line["reason"], line["trigger"], line["status"]) == (
        "1.3.0", "1.2.0", "alice", "crashes on load in Ableton", "manual", "complete")
    assert line["channels"] == ["beta", "dev", "stable"] and line["servers"]["local"]["status"] == "done"
    assert line["duration_s"] >= 0
    doc = json.loads(out.read_text())
    validate_document(doc)
    assert doc["status"] == "complete" and doc["latest"] == "1.2.0" and doc["servers"][0]["quarantine"] == (
        str(q.relative_to(update_root)))
    err = capsys.readouterr().err
    assert "git checkout -b hotfix/1.2.1 v1.2.0" in err and "rollback/rollback_checklist.md" in err
    # The next rollback of 1.3.0 is refused: it is in quarantine and nothing offers it.
    before_rerun = snapshot(update_root)
    assert run(config, rollback_key_file, "1.3.0", "--reason", "again") == 2
    assert snapshot(update_root) == before_rerun
    assert "already rolled back" in capsys.readouterr().err


def test_a_client_that_installed_the_bad_version_accepts_the_rollback_manifest(
        update_root, server_config, local_spec, rollback_key, rollback_key_file, payload_of):
    config = server_config(local_spec(update_root))
    seen = payload_of(update_root, "stable")
    assert run(config, rollback_key_file, "1.3.0", "--reason", "bad", "-q") == 0
    new = payload_of(update_root, "stable")
    # DESIGN trust model: a higher number, and rollback_of names the installed version: the accepted case of
    # docs/security-properties.md #23.
    assert new["manifest_number"] > seen["manifest_number"] and new["rollback_of"] == seen["version"]
    manifest.check_expiry_policy(new, times.parse_time(new["issued_at"]))


def test_dry_run_prints_every_step_and_changes_nothing(update_root, server_config, local_spec, rollback_key_file,
                                                       capsys):
    config = server_config(local_spec(update_root))
    before = snapshot(update_root)
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--dry-run", "--json") == 0
    assert snapshot(update_root) == before
    captured = capsys.readouterr()
    for channel in ("dev", "beta", "stable"):
        assert f"would write channels/{channel}.json: offer 1.2.0" in captured.err
    assert "would point releases/latest at 1.2.0 on local" in captured.err
    assert "would move releases/1.3.0 to quarantine/1.3.0-" in captured.err
    assert json.loads(captured.out)["status"] == "dry-run"


def test_one_channel_only_keeps_the_release_until_no_channel_offers_it(
        update_root, server_config, local_spec, rollback_key_file, payload_of):
    config = server_config(local_spec(update_root))
    stable_before = (update_root / "channels" / "stable.json").read_bytes()
    assert run(config, rollback_key_file, "1.3.0", "--reason", "beta testers crash", "--channel", "beta", "-q") == 0
    assert payload_of(update_root, "beta")["version"] == "1.2.0"
    assert (update_root / "channels" / "stable.json").read_bytes() == stable_before
    assert os.readlink(update_root / "releases" / "latest") == "1.3.0"
    assert (update_root / "releases" / "1.3.0").is_dir() and not quarantine(update_root, "1.3.0")
    # Beta again: refused (it no longer offers 1.3.0).
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--channel", "beta", "-q") == 2
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--channel", "dev", "-q") == 0
    assert (update_root / "releases" / "1.3.0").is_dir()  # stable and latest still offer it
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--channel", "stable", "-q") == 0
    assert os.readlink(update_root / "releases" / "latest") == "1.2.0"
    assert not (update_root / "releases" / "1.3.0").exists() and len(quarantine(update_root, "1.3.0")) == 1
    assert len(log_lines(update_root)) == 3


def test_rolling_back_the_fallback_too_goes_one_further(update_root, server_config, local_spec, rollback_key_file,
                                                        payload_of):
    config = server_config(local_spec(update_root))
    assert run(config, rollback_key_file, "1.3.0", "--reason", "bad", "-q") == 0
    assert run(config, rollback_key_file, "1.2.0", "--reason", "also bad", "-q") == 0
    p = payload_of(update_root, "stable")
    assert (p["version"], p["rollback_of"]) == ("1.1.0", "1.2.0")
    assert os.readlink(update_root / "releases" / "latest") == "1.1.0"
    # 1.1.0 is the only release left: nothing to fall back to.
    before = snapshot(update_root)
    assert run(config, rollback_key_file, "1.1.0", "--reason", "r", "-q") == 2
    assert snapshot(update_root) == before


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["9.9.9", "--reason", "r"],  # not published
    ["1.3", "--reason", "r"],  # malformed
    ["../1.3.0", "--reason", "r"],
    ["--reason", "r", "--", "-1.3.0"],
    ["1.3.0;id", "--reason", "r"],
    ["1.3.0", "--reason", " "],
    ["1.3.0", "--reason", "r", "--channel", "nightly"],
    ["1.3.0", "--reason", "r", "--channel", "../stable"],
    ["1.2.0", "--reason", "r", "--channel", "stable"],  # stable does not offer 1.2.0
])
def test_bad_input_exits_2_and_changes_nothing(update_root, server_config, local_spec, rollback_key_file, argv,
                                               capsys):
    config = server_config(local_spec(update_root))
    before = snapshot(update_root)
    assert rollback_release.main(["--servers", str(config), "--signing-key", str(rollback_key_file), *argv]) == 2
    assert snapshot(update_root) == before
    assert capsys.readouterr().err.startswith("error: ")


def test_the_only_release_has_nothing_to_fall_back_to(tmp_path, server_config, local_spec, rollback_key_file,
                                                      _built_update_root):
    root = tmp_path / "only"
    (root / "releases").mkdir(parents=True)
    shutil.copytree(_built_update_root / "releases" / "1.1.0", root / "releases" / "1.1.0")
    shutil.copytree(_built_update_root / "channels", root / "channels")
    config = server_config(local_spec(root))
    before = snapshot(root)
    # The channels offer 1.3.0, which is not here; 1.1.0 is offered nowhere: roll back 1.1.0 -> nothing older.
    assert run(config, rollback_key_file, "1.1.0", "--reason", "r") == 2
    assert snapshot(root) == before


# --- #32: a rerun after a failure at any step finishes the job (docs/security-properties.md) -------------------


@pytest.fixture
def services(fake_cloudflare, fake_github, fake_webhook, monkeypatch) -> dict[str, FakeService]:
    """Cloudflare's purge endpoint, GitHub's releases API (v1.3.0 and v1.2.0 released) and a Slack-style webhook, by
    the step of the rollback that calls each; the tokens and the webhook URL in the environment the config names."""
    fake_github.add_release("v1.3.0", body="Notes")
    fake_github.add_release("v1.2.0")
    monkeypatch.setenv("RELENG_CDN_TOKEN", CF_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    monkeypatch.setenv("HOOK", fake_webhook.url)
    return {"cdn": fake_cloudflare, "github": fake_github, "hook": fake_webhook}


def service_sections(fake_cloudflare, fake_github) -> dict:
    return {"cdn": {"provider": "cloudflare", "zone_id": CF_ZONE, "api_base": fake_cloudflare.api,
                    "base_url": "https://cdn.example"},
            "github": {"repository": GH_REPO, "api_base": fake_github.base},
            "notify": {"webhook_env": "HOOK"}}


@pytest.mark.parametrize("step", ["cdn", "github", "hook"])
def test_a_failed_service_is_retried_by_a_rerun_without_duplicates(
        step, services, fake_cloudflare, fake_github, fake_webhook, update_root, server_config, local_spec,
        rollback_key_file, payload_of, capfd):
    config = server_config(local_spec(update_root), **service_sections(fake_cloudflare, fake_github))
    # Every attempt of this run fails (the clients retry, told Retry-After: 0).
    services[step].fail(502 if step == "github" else 500, times=3 if step == "hook" else 5, retry_after="0")
    assert run(config, rollback_key_file, "1.3.0", "--reason", "bad build") == 2
    err = capfd.readouterr().err
    assert "rerun the same command" in err
    numbers = {c: payload_of(update_root, c)["manifest_number"] for c in ("dev", "beta", "stable")}
    [line] = log_lines(update_root)
    assert line["status"] == "partial" and line["steps"]["notify" if step == "hook" else step]["status"] == "failed"
    assert run(config, rollback_key_file, "1.3.0", "--reason", "bad build", "--json") == 0
    out = capfd.readouterr()
    [again] = log_lines(update_root)  # the same line, rewritten
    assert (again["id"], again["status"], again["at"]) == (line["id"], "complete", line["at"])
    assert {c: payload_of(update_root, c)["manifest_number"] for c in numbers} == numbers  # nothing re-signed
    marks = [c for c in fake_github.calls if c.method == "PATCH" and c.status == 200]
    assert len(fake_webhook.messages) == 1 and len(marks) == 1  # told once, marked once
    purged = fake_cloudflare.urls
    assert "https://cdn.example/channels/stable.json" in purged
    assert "https://cdn.example/releases/latest/SHA256SUMS" in purged
    assert not any("/releases/1.3.0/" in url or "/releases/1.2.0/" in url for url in purged)
    [marked] = [r for r in fake_github.releases if r["tag_name"] == "v1.3.0"]
    assert marked["name"] == "v1.3.0 (rolled back)" and marked["prerelease"] is True
    assert marked["body"].startswith("**Rolled back** to 1.2.0: bad build")
    assert "1.3.0 was rolled back to 1.2.0" in fake_webhook.messages[0]["text"]
    assert "hotfix/1.2.1" in fake_webhook.messages[0]["text"]
    doc = json.loads(out.out)
    skipped = {"cdn": "done-earlier", "github": "done-earlier", "hook": "done-earlier"}
    skipped[step] = "done"
    assert [doc["steps"][s]["status"] for s in ("cdn", "github", "notify")] == list(skipped.values())
    # Item 14: the tokens and the webhook URL (a secret too) are never printed.
    for secret in (CF_TOKEN, GH_TOKEN, "T000/B000/secret"):
        assert secret not in err + out.out + out.err


def test_mail_goes_out_by_smtp(update_root, server_config, local_spec, rollback_key_file, monkeypatch):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.mails: list[tuple[list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.mails.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        config = server_config(local_spec(update_root), notify={"smtp": {
            "host": "127.0.0.1", "port": port, "from": "releng@audiolab.example",
            "to": ["oncall@audiolab.example", "qa@audiolab.example"]}})
        assert run(config, rollback_key_file, "1.3.0", "--reason", "crash in AU validation", "-q") == 0
    finally:
        smtp.stop()
    [(rcpt, content)] = inbox.mails
    assert rcpt == ["oncall@audiolab.example", "qa@audiolab.example"]
    text = content.decode()
    assert "Subject: Rolled back 1.3.0" in text and "crash in AU validation" in text
    assert "git checkout -b hotfix/1.2.1 v1.2.0" in text


def test_a_missing_webhook_secret_is_refused_before_anything_changes(update_root, server_config, local_spec,
                                                                     rollback_key_file, monkeypatch):
    monkeypatch.delenv("HOOK", raising=False)
    config = server_config(local_spec(update_root), notify={"webhook_env": "HOOK"})
    before = snapshot(update_root)
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r") == 2
    assert snapshot(update_root) == before


def test_an_unreachable_mirror_is_named_and_a_rerun_completes_it(
        sftp_update_root, update_root, server_config, local_spec, rollback_key_file, payload_of, validate_document,
        tmp_path, capsys):
    remote, spec = sftp_update_root
    down = {**spec, "port": 1}  # nothing listens there: connection refused
    mirror = tmp_path / "mirror"
    shutil.copytree(update_root, mirror, symlinks=True)
    config = server_config(local_spec(update_root), down, local_spec(mirror, "mirror"))
    out = tmp_path / "first.json"
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--out", str(out)) == 2
    assert "error: primary: cannot connect" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    validate_document(doc)
    assert doc["status"] == "partial" and doc["failed"] == ["primary"]
    assert [s["status"] for s in doc["servers"]] == ["done", "failed", "done"]
    for root in (update_root, mirror):
        assert payload_of(root, "stable")["version"] == "1.2.0" and quarantine(root, "1.3.0")
    assert payload_of(remote, "stable")["version"] == "1.3.0" and (remote / "releases" / "1.3.0").is_dir()
    # The server is back: the rerun completes it with the very same manifest bytes.
    config = server_config(local_spec(update_root), spec, local_spec(mirror, "mirror"))
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--out", str(out)) == 0
    doc = json.loads(out.read_text())
    validate_document(doc)
    assert doc["status"] == "complete" and doc["servers"][0]["changes"] == [] and doc["servers"][1]["changes"]
    for channel in ("dev", "beta", "stable"):
        assert (remote / "channels" / f"{channel}.json").read_bytes() == (
            update_root / "channels" / f"{channel}.json").read_bytes()
    assert os.readlink(remote / "releases" / "latest") == "1.2.0"
    assert not (remote / "releases" / "1.3.0").exists() and len(quarantine(remote, "1.3.0")) == 1
    for root in (update_root, mirror, remote):
        [line] = log_lines(root)
        assert line["status"] == "complete" and set(line["servers"]) == {"local", "primary", "mirror"}
        numbers = [h["manifest_number"] for h in history(root) if h["channel"] == "stable"]
        assert numbers == list(range(1, len(numbers) + 1))  # no skipped number
    assert [h["action"] for h in history(remote)[-3:]] == ["sync"] * 3
    assert not (remote / "channels" / ".lock").exists()
    # And now it is done everywhere: refused.
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r") == 2


def test_a_server_failing_half_way_is_finished_by_the_rerun(update_root, server_config, local_spec,
                                                             rollback_key_file, payload_of, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(update_root, mirror, symlinks=True)
    (mirror / "quarantine").write_text("in the way")  # the mirror fails at step 3, after its manifests and latest
    config = server_config(local_spec(update_root), local_spec(mirror, "mirror"))
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r") == 2
    assert "error: mirror: quarantine exists and is not a folder" in capsys.readouterr().err
    assert payload_of(mirror, "stable")["version"] == "1.2.0" and os.readlink(mirror / "releases" / "latest") == "1.2.0"
    assert (mirror / "releases" / "1.3.0").is_dir()  # still served: nothing points at it any more
    assert log_lines(mirror) == [] and log_lines(update_root)[0]["servers"]["mirror"]["status"] == "failed"
    (mirror / "quarantine").unlink()
    numbers = history(mirror)
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "-q") == 0
    assert history(mirror) == numbers  # nothing re-signed, nothing appended
    assert not (mirror / "releases" / "1.3.0").exists() and len(quarantine(mirror, "1.3.0")) == 1
    assert log_lines(mirror) == log_lines(update_root) and log_lines(mirror)[0]["status"] == "complete"


def test_a_missing_root_is_a_failed_server_never_created(update_root, server_config, local_spec, rollback_key_file,
                                                         tmp_path, capsys):
    config = server_config(local_spec(tmp_path / "gone", "gone"))
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r") == 2
    assert "no server can be reached: gone: cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "gone").exists()
    config = server_config(local_spec(update_root), local_spec(tmp_path / "gone", "gone"))
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r", "--dry-run") == 2  # says what it cannot reach
    assert log_lines(update_root) == []
    assert run(config, rollback_key_file, "1.3.0", "--reason", "r") == 2
    assert "error: gone: cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "gone").exists() and log_lines(update_root)[0]["status"] == "partial"


# --- #31: readers keep working (docs/security-properties.md) --------------------------------------------------


def _restore(root: Path) -> None:
    """Re-publish 1.3.0 from its newest quarantine copy (copied, so the quarantine stays), renamed in whole."""
    newest = max(quarantine(root, "1.3.0"), key=lambda p: p.stat().st_mtime_ns)
    tmp = root / "releases" / ".incoming" / "restore"
    shutil.copytree(newest, tmp)
    os.rename(tmp, root / "releases" / "1.3.0")


@pytest.mark.slow
def test_readers_never_fail_nor_see_the_quarantined_version_during_50_cycles(
        sftp_update_root, server_config, rollback_key, rollback_key_file, http_root):
    remote, spec = sftp_update_root
    config = server_config(spec)
    base = http_root(remote)
    original = tree_digest(remote / "releases" / "1.3.0")
    trusted = {rollback_key.key_id: rollback_key.public_raw}
    epoch = [0]  # odd while 1.3.0 is rolled back: from rollback-release's return to the next restore
    stop = threading.Event()
    failures: list[str] = []
    invalid: list[str] = []
    stale: list[tuple[int, str]] = []
    reads = [0]

    def fetch(rel: str) -> bytes:
        with urllib.request.urlopen(f"{base}/{rel}", timeout=5) as resp:
            return resp.read()

    def poll() -> None:
        while not stop.is_set():
            before = epoch[0]
            try:
                envelope, latest = fetch("channels/stable.json"), fetch("releases/latest/artifacts.json")
            except (urllib.error.URLError, OSError) as e:
                failures.append(repr(e))
                continue
            after = epoch[0]
            try:
                offered = manifest.verify_envelope(envelope, trusted)["version"]
                served = json.loads(latest)["version"]
            except (ValueError, manifest.ManifestError) as e:
                invalid.append(repr(e))
                continue
            reads[0] += 1
            if before == after and before % 2 == 1 and "1.3.0" in (offered, served):
                stale.append((before, f"{offered}/{served}"))
            time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    durations = []
    try:
        for i in range(50):
            assert run(config, rollback_key_file, "1.3.0", "--reason", f"cycle {i}", "-q") == 0
            epoch[0] += 1
            durations.append(log_lines(remote)[-1]["duration_s"])
            epoch[0] += 1
            _restore(remote)
            assert promote_release.main(["--servers", str(config), "1.3.0", "--to", "stable", "--hotfix",
                                         "--signing-key", str(rollback_key_file), "-q"]) == 0
    finally:
        stop.set()
        poller.join()
    assert failures == [] and invalid == [] and stale == []
    assert reads[0] > 100  # the poller really ran through the cycles
    copies = quarantine(remote, "1.3.0")
    assert len(copies) == 50 and all(tree_digest(q) == original for q in copies)
    numbers = [h["manifest_number"] for h in history(remote) if h["channel"] == "stable"]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(log_lines(remote)) == 50 and len({line["id"] for line in log_lines(remote)}) == 50
    print(f"rollback over sftp: median {sorted(durations)[25]:.3f} s, max {max(durations):.3f} s; "
          f"{reads[0]} polls")


# --- the API watch-health calls -------------------------------------------------------------------------------


def test_the_api_halts_rolls_back_once_and_records_the_figures(update_root, server_config, local_spec, rollback_key,
                                                               payload_of, validate_document):
    cfg = layout.load_config(server_config(local_spec(update_root)))
    assert procedure.was_rolled_back(cfg, "1.3.0") is False
    number = payload_of(update_root, "stable")["manifest_number"]
    assert procedure.halt(cfg, "1.3.0", rollback_key, dry_run=True) == ["dev", "beta", "stable"]
    assert payload_of(update_root, "stable")["manifest_number"] == number
    assert procedure.halt(cfg, "1.3.0", rollback_key, who="watch-health") == ["dev", "beta", "stable"]
    halted = payload_of(update_root, "stable")
    assert (halted["manifest_number"], halted["rollout"]["halted"], halted["version"]) == (number + 1, True, "1.3.0")
    assert history(update_root)[-1]["action"] == "halt" and history(update_root)[-1]["who"] == "watch-health"
    assert procedure.halt(cfg, "1.3.0", rollback_key) == []  # already halted: nothing re-signed
    assert payload_of(update_root, "stable")["manifest_number"] == number + 1
    figures = {"sessions": 812, "crashes": 31, "clients": 640, "crash_rate": 0.0382, "threshold": 0.01}
    steps: list[str] = []
    body = procedure.rollback(cfg, "1.3.0", "crash rate 3.8% > 1%", rollback_key, trigger="watch-health",
                             figures=figures, say=steps.append)
    assert body["status"] == "complete" and body["trigger"] == "watch-health" and body["figures"] == figures
    validate_document({"schema": "releng/rollback", "schema_version": 1, **body})
    assert payload_of(update_root, "stable")["manifest_number"] == number + 2  # no number skipped
    assert any(s.startswith("write channels/stable.json") for s in steps)
    [line] = log_lines(update_root)
    assert (line["trigger"], line["figures"]) == ("watch-health", figures)
    assert procedure.was_rolled_back(cfg, "1.3.0") is True
    assert procedure.was_rolled_back(cfg, "1.2.0") is False
    with pytest.raises(BadInput):
        procedure.rollback(cfg, "1.3.0", "again", rollback_key, trigger="watch-health")
    with pytest.raises(BadInput):
        procedure.rollback(cfg, "1.2.0", "r", rollback_key, trigger="cron")
    with pytest.raises(BadInput):
        procedure.was_rolled_back(cfg, "1.2")


def test_a_prerelease_is_never_the_fallback_of_stable(update_root, server_config, local_spec, rollback_key,
                                                      _built_update_root):
    shutil.copytree(update_root / "releases" / "1.2.0", update_root / "releases" / "1.2.1-rc.1")
    cfg = layout.load_config(server_config(local_spec(update_root)))
    body = procedure.rollback(cfg, "1.3.0", "r", rollback_key, dry_run=True)
    assert body["to"] == "1.2.0" and body["status"] == "dry-run"
    assert notify.hotfix_command("1.2.0") == "git checkout -b hotfix/1.2.1 v1.2.0"
    assert notify.hotfix_command("2.0.0-rc.1", "release-") == "git checkout -b hotfix/2.0.1 release-2.0.0-rc.1"


def test_the_console_command_runs(update_root, server_config, local_spec, rollback_key_file, command):
    config = server_config(local_spec(update_root))
    done = command("rollback-release", "--servers", str(config), "1.3.0", "--reason", "r", "--signing-key",
                   str(rollback_key_file), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "releng/rollback"
    assert "git checkout -b hotfix/1.2.1 v1.2.0" in done.stderr


# --- #34: a revert to any history entry is one command (docs/security-properties.md) --------------------------


def test_revert_to_any_history_entry_is_one_command(update_root, server_config, local_spec, rollback_key_file,
                                                    payload_of, capsys):
    config = server_config(local_spec(update_root))
    entries = {h["manifest_number"]: h for h in history(update_root) if h["channel"] == "stable"}
    assert [entries[n]["version"] for n in sorted(entries)] == ["1.1.0", "1.2.0", "1.3.0"]
    assert run(config, rollback_key_file, "--channel", "stable", "--revert-to", "1", "--reason", "1.1.0 was fine",
               "--dry-run") == 0
    assert payload_of(update_root, "stable")["manifest_number"] == 3
    assert run(config, rollback_key_file, "--channel", "stable", "--revert-to", "1", "--reason", "1.1.0 was fine",
               "--json") == 0
    body = json.loads(capsys.readouterr().out)
    p = payload_of(update_root, "stable")
    assert (p["version"], p["manifest_number"], p["rollback_of"]) == ("1.1.0", 4, "1.3.0")
    assert (body["version"], body["manifest_number"], body["reverted_to"]) == ("1.1.0", 4, 1)
    assert os.readlink(update_root / "releases" / "latest") == "1.1.0"
    last = history(update_root)[-1]
    assert (last["action"], last["manifest_number"], last["reason"]) == ("revert", 4, "revert to 1: 1.1.0 was fine")
    # Forward again to entry 3 (1.3.0): a plain newer offer, no rollback_of.
    assert run(config, rollback_key_file, "--channel", "stable", "--revert-to", "3", "--reason", "undo", "-q") == 0
    p = payload_of(update_root, "stable")
    assert (p["version"], p["manifest_number"], "rollback_of" in p) == ("1.3.0", 5, False)
    assert os.readlink(update_root / "releases" / "latest") == "1.3.0"
    # Refusals change nothing: no such entry, a quarantined version, a missing --channel, VERSION and --revert-to.
    assert run(config, rollback_key_file, "1.3.0", "--reason", "bad", "-q") == 0
    before = snapshot(update_root)
    for argv in (["--channel", "stable", "--revert-to", "99"], ["--channel", "stable", "--revert-to", "5"],
                 ["--revert-to", "1"], ["1.2.0", "--channel", "stable", "--revert-to", "1"], []):
        assert run(config, rollback_key_file, *argv, "--reason", "r") == 2
    assert snapshot(update_root) == before


def test_a_rotated_key_rolls_back_once_the_old_key_is_listed_as_trusted(
        update_root, server_config, local_spec, rollback_key, tmp_path, capsys):
    """Key rotation: manifests signed by the old key are refused until manifest.trusted_keys lists its public key;
    then the rollback is signed by the new key."""
    new = ed25519.Ed25519PrivateKey.generate()
    new_file = tmp_path / "new.pem"
    new_file.write_bytes(new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    manifest_cfg = {"expires_days": 7, "base_url": "https://updates.example"}
    before = snapshot(update_root)
    assert run(server_config(local_spec(update_root), manifest=manifest_cfg), new_file, "1.3.0",
               "--reason", "r") == 2
    assert snapshot(update_root) == before and "trusted" in capsys.readouterr().err
    trusting_old = {**manifest_cfg, "trusted_keys": [rollback_key.public_b64]}
    rotated = server_config(local_spec(update_root), manifest=trusting_old)
    assert run(rotated, new_file, "1.3.0", "--reason", "r") == 0
    envelope = json.loads((update_root / "channels" / "stable.json").read_bytes())
    [sig] = envelope["signatures"]
    assert sig["keyid"] == signing.load_private_key_file(new_file).key_id != rollback_key.key_id
