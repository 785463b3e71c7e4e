"""watch-health and rollback-release against services that misbehave (issue 12 #3 and #6): a health feed, a CDN, a
GitHub API, a webhook and a mail server that drip their answers a byte every 20 ms (faultkit.Dripping), and a CDN and
a GitHub whose errors echo the caller's token and Authorization header (faultkit.EchoingCloudflare/EchoingGitHub).

Each slow call fails with a one-line error within its deadline plus a generous second; the rollback itself still
completes on every server, marking the slow step failed and the rollback partial; no secret reaches any output,
document or log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from faultkit import Dripping, EchoingCloudflare, EchoingGitHub
from releng._scripts.rollback import rollback_release, watch_health
from releng.rollback import notify
from releng.server import cdn, github
from testkit import CF_TOKEN, CF_ZONE, GH_REPO, GH_TOKEN, snapshot

SLACK = 1.0  # seconds a test allows past a deadline: generous, never a tight timing


def quick(monkeypatch: pytest.MonkeyPatch, module: ModuleType, **fields: object) -> None:
    """Make `module.from_config` build its client with these settings (a second, not the production defaults)."""
    made: Callable[..., object] = module.from_config

    def build(cfg: dict, environ: dict | None = None) -> object:
        client = made(cfg, environ)
        return None if client is None else dataclasses.replace(client, **fields)  # type: ignore[type-var]

    monkeypatch.setattr(module, "from_config", build)


def rollback(config: Path, key_file: Path, *argv: str) -> int:
    return rollback_release.main(["--servers", str(config), "--signing-key", str(key_file), "1.3.0",
                                  "--reason", "crash on load", *argv])


def log_lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "rollback_log.jsonl").read_text().splitlines()]


def assert_rolled_back(root: Path, payload_of: Callable[[Path, str], dict]) -> None:
    """What matters to clients happened, whatever the services did: no channel offers 1.3.0 any more."""
    for channel in ("dev", "beta", "stable"):
        assert payload_of(root, channel)["rollback_of"] == "1.3.0"
    assert os.readlink(root / "releases" / "latest") == "1.2.0" and not (root / "releases" / "1.3.0").exists()


# --- watch-health's feed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["headers", "body", "eof-body"])
def test_a_dripping_feed_is_given_up_at_the_feed_timeout_and_nothing_changes(
        phase, update_root, server_config, local_spec, rollback_key_file, capsys):
    config = server_config(local_spec(update_root))
    before = snapshot(update_root)
    with Dripping(phase) as srv:
        start = time.monotonic()
        rc = watch_health.main(["--servers", str(config), "--feed", f"{srv.url}/feed", "--feed-timeout", "1",
                                "--once", "--signing-key", str(rollback_key_file)])
        elapsed = time.monotonic() - start
    assert rc == 2 and elapsed < 1 + SLACK
    err = capsys.readouterr().err
    assert err.startswith("error: cannot fetch the health feed: no complete answer within 1 s") and err.count("\n") == 1
    assert snapshot(update_root) == before


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "soon"])
def test_a_bad_feed_timeout_exits_2_before_anything(value, update_root, server_config, local_spec, rollback_key_file,
                                                    capsys):
    config = server_config(local_spec(update_root))
    before = snapshot(update_root)
    with pytest.raises(SystemExit) as e:
        watch_health.main(["--servers", str(config), "--feed", "http://127.0.0.1:9/feed", "--feed-timeout", value,
                           "--once", "--signing-key", str(rollback_key_file)])
    assert e.value.code == 2 and "--feed-timeout" in capsys.readouterr().err
    assert snapshot(update_root) == before


# --- the rollback's CDN, GitHub, webhook and mail steps -----------------------------------------------------------


def _cdn(srv: Dripping, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("RELENG_CDN_TOKEN", CF_TOKEN)
    quick(monkeypatch, cdn, timeout=1.0, attempts=2, backoff=0.1)
    return {"cdn": {"provider": "cloudflare", "zone_id": CF_ZONE, "api_base": f"{srv.url}/client/v4",
                    "base_url": "https://cdn.example"}}


def _github(srv: Dripping, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    quick(monkeypatch, github, timeout=1.0, attempts=2, backoff=0.1)
    return {"github": {"repository": GH_REPO, "api_base": srv.url}}


def _webhook(srv: Dripping, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("HOOK", f"{srv.url}/services/T000/B000/secret")
    quick(monkeypatch, notify, timeout=1.0, attempts=2, backoff=0.1)
    return {"notify": {"webhook_env": "HOOK"}}


def _mail(srv: Dripping, monkeypatch: pytest.MonkeyPatch) -> dict:
    quick(monkeypatch, notify, timeout=1.0)
    return {"notify": {"smtp": {"host": "127.0.0.1", "port": srv.port, "from": "releng@audiolab.example",
                                "to": ["oncall@audiolab.example"]}}}


@pytest.mark.parametrize(("step", "phase", "section", "budget"), [
    ("cdn", "headers", _cdn, 2.0), ("cdn", "body", _cdn, 2.0),
    ("github", "headers", _github, 2.0), ("github", "eof-body", _github, 2.0),
    ("notify", "body", _webhook, 2.0), ("notify", "smtp", _mail, 1.0), ("notify", "silent", _mail, 1.0),
])
def test_a_dripping_service_fails_its_step_only_and_the_rollback_still_completes(
        step, phase, section, budget, update_root, server_config, local_spec, rollback_key_file, payload_of,
        monkeypatch, capsys):
    with Dripping(phase) as srv:
        config = server_config(local_spec(update_root), **section(srv, monkeypatch))
        rc = rollback(config, rollback_key_file, "--json")
        done = time.monotonic()
        assert srv.first_hit is not None and done - srv.first_hit < budget + SLACK
    out, err = capsys.readouterr()
    assert rc == 2
    doc = json.loads(out)
    assert doc["status"] == "partial" and doc["failed"] == [step]
    assert doc["steps"][step]["status"] == "failed" and "no complete answer within 1 s" in doc["steps"][step]["error"]
    assert [s["status"] for s in doc["servers"]] == ["done"]
    assert_rolled_back(update_root, payload_of)
    [line] = log_lines(update_root)
    assert line["status"] == "partial" and line["steps"][step]["status"] == "failed"
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert lines == [f"error: {step}: {doc['steps'][step]['error']} (rerun the same command to retry)"]
    for secret in (CF_TOKEN, GH_TOKEN, "T000/B000/secret"):
        assert secret not in out + err


def test_errors_echoing_the_tokens_never_reach_an_output_the_document_or_the_log(
        update_root, server_config, local_spec, rollback_key_file, payload_of, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RELENG_CDN_TOKEN", CF_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    with EchoingCloudflare() as cf, EchoingGitHub() as gh:
        config = server_config(local_spec(update_root),
                               cdn={"provider": "cloudflare", "zone_id": CF_ZONE, "api_base": cf.api,
                                    "base_url": "https://cdn.example"},
                               github={"repository": GH_REPO, "api_base": gh.base})
        assert rollback(config, rollback_key_file, "--json", "--out", str(tmp_path / "rollback.json"), "-v") == 2
        assert cf.requests >= 1 and gh.requests >= 1  # both were asked, and both echoed the credentials
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["steps"]["cdn"]["status"] == doc["steps"]["github"]["status"] == "failed"
    assert "Bad credentials: got Authorization: [redacted]" in doc["steps"]["cdn"]["error"]
    assert "Bad credentials: got Authorization: [redacted]" in doc["steps"]["github"]["error"]
    assert_rolled_back(update_root, payload_of)
    stored = [(tmp_path / "rollback.json").read_text()] + [p.read_text(errors="replace")
                                                           for p in update_root.rglob("*") if p.is_file()]
    for secret in (CF_TOKEN, GH_TOKEN):
        for text in (out, err, *stored):
            assert secret not in text and secret[4:16] not in text
