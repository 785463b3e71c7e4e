"""publish-release against a CDN and a GitHub that misbehave (issue 12 #3 and #6): one that drips its answers a byte
every 20 ms (faultkit.Dripping), and ones whose errors echo the token and the Authorization header
(faultkit.EchoingCloudflare/EchoingGitHub).

The release is published whatever the services do; the slow or refusing one is named in one line, recorded in
publish.json and exit 2 follows; the slow call ends within its deadline plus a generous second; no token reaches the
output, publish.json or the server.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import ModuleType

import pytest
from faultkit import Dripping, EchoingCloudflare, EchoingGitHub
from releng._scripts.distribution import publish_release
from releng.server import cdn, github, manifest
from testkit import CF_TOKEN, CF_ZONE, GH_REPO, GH_TOKEN, make_release

SLACK = 1.0  # seconds a test allows past a deadline: generous, never a tight timing


def quick(monkeypatch: pytest.MonkeyPatch, module: ModuleType, **fields: object) -> None:
    """Make `module.from_config` build its client with these settings (a second, not the production defaults)."""
    made = module.from_config

    def build(cfg: dict, environ: dict | None = None) -> object:
        client = made(cfg, environ)
        return None if client is None else dataclasses.replace(client, **fields)

    monkeypatch.setattr(module, "from_config", build)


def config(path: Path, root: Path, **sections: object) -> Path:
    path.write_text(json.dumps({
        "servers": [{"name": "local", "transport": "local", "root": str(root), "base_url": "http://localhost:8000"}],
        "channels": ["dev", "beta", "stable"], "manifest": {"expires_days": 7, "base_url": "https://updates.example"},
        **sections}))
    return path


def publish(cfg: Path, doc: Path, key_file: Path) -> int:
    return publish_release.main(["--servers", str(cfg), "--artifacts", str(doc), "--channel", "stable",
                                 "--changes", str(doc.parent / "changes.json"), "--signing-key", str(key_file)])


def assert_published(root: Path, key) -> None:
    """Clients see the release: the manifest is written and latest points at it, whatever the services did."""
    payload = manifest.verify_envelope((root / "channels" / "stable.json").read_bytes(), {key.key_id: key.public_raw})
    assert payload["version"] == "1.2.0" and (root / "releases" / "latest").readlink() == Path("1.2.0")


@pytest.mark.parametrize(("service", "phase"), [("cdn", "headers"), ("cdn", "body"), ("github", "eof-body")])
def test_a_dripping_service_is_given_up_within_its_budget_and_recorded(service, phase, tmp_path, key, key_file,
                                                                       monkeypatch, capsys, validate_document):
    doc = make_release(tmp_path / "dist", key)
    with Dripping(phase) as srv:
        if service == "cdn":
            monkeypatch.setenv("RELENG_CDN_TOKEN", CF_TOKEN)
            quick(monkeypatch, cdn, timeout=1.0, attempts=2, backoff=0.1)
            section = {"cdn": {"provider": "cloudflare", "zone_id": CF_ZONE, "api_base": f"{srv.url}/client/v4"}}
        else:
            monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
            quick(monkeypatch, github, timeout=1.0, attempts=2, backoff=0.1)
            section = {"github": {"repository": GH_REPO, "api_base": srv.url}}
        rc = publish(config(tmp_path / "c.json", tmp_path / "server", **section), doc, key_file)
        done = time.monotonic()
        assert srv.first_hit is not None and done - srv.first_hit < 2 + SLACK  # 1 s x 2 attempts, and a second
    assert rc == 2
    assert_published(tmp_path / "server", key)
    record = json.loads((doc.parent / "publish.json").read_text())
    validate_document(record)
    step = record["cdn_purge" if service == "cdn" else "github_release"]
    assert "no complete answer within 1 s" in step["error"] and record["servers"][0]["status"] == "published"
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "no complete answer within 1 s" in errors[0]


def test_errors_echoing_the_tokens_never_reach_the_output_publish_json_or_the_server(tmp_path, key, key_file,
                                                                                     monkeypatch, capfd):
    monkeypatch.setenv("RELENG_CDN_TOKEN", CF_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    doc = make_release(tmp_path / "dist", key)
    with EchoingCloudflare() as cf, EchoingGitHub() as gh:
        cfg = config(tmp_path / "c.json", tmp_path / "server",
                     cdn={"provider": "cloudflare", "zone_id": CF_ZONE, "api_base": cf.api},
                     github={"repository": GH_REPO, "api_base": gh.base})
        assert publish(cfg, doc, key_file) == 2
        assert cf.requests >= 1 and gh.requests >= 1  # both were asked, and both echoed the credentials
    out, err = capfd.readouterr()
    record = json.loads((doc.parent / "publish.json").read_text())
    for step in (record["cdn_purge"], record["github_release"]):
        assert "Bad credentials: got Authorization: [redacted]" in step["error"]
    assert_published(tmp_path / "server", key)
    stored = [p.read_text(errors="replace") for p in [*tmp_path.rglob("*")] if p.is_file()]
    for secret in (CF_TOKEN, GH_TOKEN):
        for text in (out, err, *stored):
            assert secret not in text and secret[4:16] not in text
