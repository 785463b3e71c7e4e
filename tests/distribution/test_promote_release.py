"""promote-release against real servers (a local folder, the session's OpenSSH sshd) and a fake Cloudflare API.

docs/security-properties.md #12 (numbers only grow: a property test over random promote/rollout/halt sequences),
#13 (expiry window), #14 (the CDN token never printed), #34 (history) and #36 (purge after the swap, never versioned
URLs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from releng import times
from releng._scripts.distribution import promote_release, publish_release
from releng.server import manifest
from testkit import CF_TOKEN as TOKEN
from testkit import CF_ZONE as ZONE
from testkit import make_release, snapshot

VERSIONS = ("1.2.0", "1.3.0")


def write_config(path: Path, *servers: dict, cdn: dict | None = None) -> Path:
    cfg = {"servers": list(servers), "channels": ["dev", "beta", "stable"],
           "manifest": {"expires_days": 7, "base_url": "https://updates.example"}}
    if cdn:
        cfg["cdn"] = cdn
    path.write_text(json.dumps(cfg))
    return path


def local(root: Path, name: str = "local") -> dict:
    return {"name": name, "transport": "local", "root": str(root), "base_url": f"https://{name}.example"}


@pytest.fixture(scope="module")
def published(tmp_path_factory, key, key_file) -> Path:
    """A server root with 1.2.0 and 1.3.0 published, dev offering 1.3.0 (built once; tests copy it)."""
    base = tmp_path_factory.mktemp("published")
    root = base / "server"
    config = write_config(base / "c.json", local(root))
    for i, v in enumerate(VERSIONS):
        doc = make_release(base / v, key, v, size=4000, seed=i)
        assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                     "--changes", str(doc.parent / "changes.json"), "--signing-key",
                                     str(key_file), "-q"]) == 0
    return root


@pytest.fixture
def server(published, tmp_path) -> Path:
    root = tmp_path / "server"
    shutil.copytree(published, root, symlinks=True)
    return root


def promote(config: Path, key_file: Path, version: str, to: str, *extra: str) -> int:
    return promote_release.main(["--servers", str(config), version, "--to", to, "--signing-key", str(key_file),
                                 *extra])


def payload(root: Path, key, channel: str) -> dict:
    return manifest.verify_envelope((root / "channels" / f"{channel}.json").read_bytes(), {key.key_id: key.public_raw})


def history(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "channels" / "history.jsonl").read_text().splitlines()]


# --- the happy path -------------------------------------------------------------------------------------------


def test_dev_to_beta_to_stable_with_a_staged_rollout(server, tmp_path, key, key_file, capsys):
    config = write_config(tmp_path / "c.json", local(server))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    beta = payload(server, key, "beta")
    dev = payload(server, key, "dev")
    assert (beta["version"], beta["manifest_number"], beta["rollout"]) == ("1.3.0", 1, {"percent": 100,
                                                                                        "halted": False})
    assert beta["artifacts"] == dev["artifacts"] and beta["notes"] == dev["notes"] and "release 1.3.0" in beta["notes"]
    assert beta["artifacts"]["linux-x86_64"]["url"].startswith("https://updates.example/releases/1.3.0/")
    # Item 13: a fresh window of the configured length, within the 14-day maximum.
    window = times.parse_time(beta["expires_at"]) - times.parse_time(beta["issued_at"])
    assert window == timedelta(days=7)
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "10") == 0
    stable = payload(server, key, "stable")
    assert (stable["manifest_number"], stable["rollout"]) == (1, {"percent": 10, "halted": False})
    assert not (server / "releases" / "latest").exists()  # latest moves only at 100%
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "50") == 0
    assert payload(server, key, "stable")["rollout"] == {"percent": 50, "halted": False}
    assert promote(config, key_file, "1.3.0", "stable", "--halt") == 0
    assert payload(server, key, "stable")["rollout"] == {"percent": 50, "halted": True}
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "100") == 0
    final = payload(server, key, "stable")
    assert (final["manifest_number"], final["rollout"]) == (4, {"percent": 100, "halted": False})
    assert os.readlink(server / "releases" / "latest") == "1.3.0"
    # Item 34: every change is in the history log, with its digest.
    lines = [h for h in history(server) if h["channel"] == "stable"]
    assert [(h["action"], h["manifest_number"]) for h in lines] == [
        ("promote", 1), ("rollout", 2), ("halt", 3), ("rollout", 4)]
    assert lines[-1]["sha256"] == hashlib.sha256((server / "channels" / "stable.json").read_bytes()).hexdigest()
    assert capsys.readouterr().out == ""


def test_rerun_changes_nothing_and_json_reports(server, tmp_path, key, key_file, capsys):
    config = write_config(tmp_path / "c.json", local(server))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    before = snapshot(server)
    capsys.readouterr()
    assert promote(config, key_file, "1.3.0", "beta", "--json") == 0
    assert promote(config, key_file, "1.3.0", "beta", "--rollout", "100") == 0
    assert snapshot(server) == before
    body = json.loads(capsys.readouterr().out)
    assert body["action"] == "unchanged" and body["manifest_number"] == 1 and body["servers"][0]["changes"] == []
    assert promote(config, key_file, "1.3.0", "stable", "--out", str(tmp_path / "promote.json")) == 0
    assert capsys.readouterr().out == ""
    body = json.loads((tmp_path / "promote.json").read_text())
    assert (body["action"], body["latest"], body["rollout"]["percent"]) == ("promote", "1.3.0", 100)


def test_dry_run_prints_every_change_and_makes_none(server, tmp_path, key_file, capsys):
    config = write_config(tmp_path / "c.json", local(server))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    before = snapshot(server)
    capsys.readouterr()
    assert promote(config, key_file, "1.3.0", "stable", "--dry-run") == 0
    assert snapshot(server) == before
    err = capsys.readouterr().err
    assert "would write channels/stable.json (manifest_number 1)" in err
    assert "would point releases/latest at 1.3.0 on local" in err


def test_hotfix_skips_a_channel_and_lowering_needs_force(server, tmp_path, key, key_file):
    config = write_config(tmp_path / "c.json", local(server))
    before = snapshot(server)
    assert promote(config, key_file, "1.3.0", "stable") == 2  # not on beta
    assert snapshot(server) == before
    assert promote(config, key_file, "1.3.0", "stable", "--hotfix", "--rollout", "50") == 0
    assert payload(server, key, "stable")["rollout"]["percent"] == 50
    before = snapshot(server)
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "10") == 2
    assert snapshot(server) == before
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "10", "--force") == 0
    assert payload(server, key, "stable")["rollout"] == {"percent": 10, "halted": False}
    # An older version cannot be promoted over a newer one (that is a rollback).
    assert promote(config, key_file, "1.2.0", "stable", "--hotfix") == 2


@pytest.mark.parametrize("argv", [
    ["9.9.9", "--to", "beta"],  # not published
    ["1.2", "--to", "beta"],  # malformed
    ["../1.3.0", "--to", "beta"],
    ["1.3.0", "--to", "dev"],  # dev is where publish-release puts releases
    ["1.3.0", "--to", "nightly"],
    ["1.3.0", "--to", "../beta"],
    ["1.3.0", "--to", "beta", "--rollout", "0"],
    ["1.3.0", "--to", "beta", "--rollout", "101"],
    ["1.3.0", "--to", "beta", "--rollout", "ten"],
    ["1.3.0", "--to", "beta", "--rollout", "nan"],
    ["1.3.0", "--to", "beta", "--halt"],  # not on beta: nothing to halt
    ["1.3.0", "--to", "beta", "--halt", "--rollout", "10"],
    ["1.2.0", "--to", "beta"],  # dev offers 1.3.0, not 1.2.0
])
def test_bad_input_exits_2_and_changes_nothing(server, tmp_path, key_file, argv, capsys):
    config = write_config(tmp_path / "c.json", local(server))
    before = snapshot(server)
    assert promote_release.main(["--servers", str(config), "--signing-key", str(key_file), *argv]) == 2
    assert snapshot(server) == before
    assert capsys.readouterr().err.startswith("error: ")


def test_a_mirror_without_the_release_is_refused_before_anything_changes(server, tmp_path, key_file):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    config = write_config(tmp_path / "c.json", local(server), local(mirror, "mirror"))
    before = snapshot(server)
    assert promote(config, key_file, "1.3.0", "beta") == 2
    assert snapshot(server) == before and snapshot(mirror) == {}


def test_promote_over_sftp_and_a_local_mirror(sshd, server, tmp_path, key, key_file):
    remote = sshd.fresh_root("promote")
    shutil.copytree(server, remote, symlinks=True, dirs_exist_ok=True)
    spec = {"name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts), "root": str(remote),
            "base_url": "https://primary.example"}
    config = write_config(tmp_path / "c.json", spec, local(server))
    assert promote(config, key_file, "1.3.0", "stable", "--hotfix") == 0
    for root in (remote, server):
        assert payload(root, key, "stable")["version"] == "1.3.0"
        assert os.readlink(root / "releases" / "latest") == "1.3.0"
        assert history(root)[-1]["action"] == "promote"
    assert (remote / "channels" / "stable.json").read_bytes() == (server / "channels" / "stable.json").read_bytes()
    assert not (remote / "channels" / ".lock").exists()


# --- the CDN (docs/security-properties.md #14, #36) -----------------------------------------------------------


def test_promote_purges_only_mutable_urls_after_the_swap(server, tmp_path, key, key_file, fake_cloudflare, capfd,
                                                         monkeypatch):
    stable = server / "channels" / "stable.json"
    manifests_seen: list[bytes | None] = []  # stable.json on the server as each purge arrives
    fake_cloudflare.on_purge = lambda files: manifests_seen.append(stable.read_bytes() if stable.exists() else None)
    monkeypatch.setenv("RELENG_CDN_TOKEN", TOKEN)
    cdn_cfg = {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake_cloudflare.api,
               "token_env": "RELENG_CDN_TOKEN", "base_url": "https://cdn.example"}
    config = write_config(tmp_path / "c.json", local(server), cdn=cdn_cfg)
    assert promote(config, key_file, "1.3.0", "stable", "--hotfix", "--rollout", "10", "-v") == 0
    assert fake_cloudflare.urls == ["https://cdn.example/channels/stable.json"]
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "100", "--dry-run") == 0
    assert len(fake_cloudflare.urls) == 1
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "100", "--json") == 0
    purged = fake_cloudflare.urls
    names = sorted(os.listdir(server / "releases" / "1.3.0"))
    assert purged[1:] == ["https://cdn.example/channels/stable.json", "https://cdn.example/releases/latest",
                          "https://cdn.example/releases/latest/"] + [
        f"https://cdn.example/releases/latest/{n}" for n in names]
    assert "https://cdn.example/releases/latest/RELEASE_NOTES.md" in purged
    assert not any("/releases/1.3.0/" in url for url in purged)  # versioned URLs never
    # Item 36: the purge comes after the swap: the manifest on disk is already the new one.
    assert manifests_seen[-1] == stable.read_bytes()
    assert payload(server, key, "stable")["manifest_number"] == 2
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err  # docs/security-properties.md #14
    assert json.loads(out.out)["purged"] == purged[1:]


def test_a_missing_cdn_token_is_refused_before_anything_changes(server, tmp_path, key_file, monkeypatch):
    monkeypatch.delenv("RELENG_CDN_TOKEN", raising=False)
    config = write_config(tmp_path / "c.json", local(server), cdn={"provider": "cloudflare", "zone_id": ZONE})
    before = snapshot(server)
    assert promote(config, key_file, "1.3.0", "beta") == 2
    assert snapshot(server) == before


# --- #12: numbers only grow (docs/security-properties.md) -----------------------------------------------------

OPERATION = st.one_of(
    st.tuples(st.sampled_from(VERSIONS), st.sampled_from(["beta", "stable"]), st.sampled_from(["", "--hotfix"]),
              st.sampled_from(["", "1", "10", "50", "100"]), st.just("promote")),
    st.tuples(st.sampled_from(VERSIONS), st.sampled_from(["beta", "stable"]), st.just(""),
              st.sampled_from(["1", "10", "50", "100"]), st.just("rollout")),
    st.tuples(st.sampled_from(VERSIONS), st.sampled_from(["beta", "stable"]), st.just(""), st.just(""),
              st.just("halt")),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPERATION, min_size=1, max_size=6))
def test_manifest_numbers_strictly_grow_over_random_operations(published, key, key_file, ops, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "server"
        shutil.copytree(published, root, symlinks=True)
        config = write_config(Path(tmp) / "c.json", local(root))
        last = {c: payload(root, key, c)["manifest_number"] if (root / "channels" / f"{c}.json").exists() else 0
                for c in ("dev", "beta", "stable")}
        for version, channel, hotfix, percent, kind in ops:
            argv = [version, "--to", channel] + ([hotfix] if hotfix else []) + (
                ["--rollout", percent] if percent else []) + (["--halt"] if kind == "halt" else [])
            path = root / "channels" / f"{channel}.json"
            before = path.read_bytes() if path.exists() else None
            code = promote_release.main(["--servers", str(config), "--signing-key", str(key_file), "-q", *argv])
            assert code in (0, 2)
            after = path.read_bytes() if path.exists() else None
            if code == 2 or after == before:
                assert after == before
                continue
            assert after is not None
            body = payload(root, key, channel)  # a valid signature
            assert body["manifest_number"] > last[channel]
            manifest.check_expiry_policy(body, times.parse_time(body["issued_at"]))
            last[channel] = body["manifest_number"]
            assert history(root)[-1]["manifest_number"] == body["manifest_number"]
        for channel in ("beta", "stable"):
            numbers = [h["manifest_number"] for h in history(root) if h["channel"] == channel]
            assert numbers == sorted(set(numbers))
    capsys.readouterr()


def test_a_failed_purge_exits_2_after_the_change_and_a_rerun_purges(server, tmp_path, key, key_file, fake_cloudflare,
                                                                   monkeypatch, capsys):
    refusal = fake_cloudflare.fail(400, times=None)  # every purge refused until removed
    monkeypatch.setenv("RELENG_CDN_TOKEN", TOKEN)
    cdn_cfg = {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake_cloudflare.api}
    config = write_config(tmp_path / "c.json", local(server), cdn=cdn_cfg)
    assert promote(config, key_file, "1.3.0", "beta") == 2
    assert "rerun the same command" in capsys.readouterr().err
    assert payload(server, key, "beta")["manifest_number"] == 1  # the change itself is done
    fake_cloudflare.faults.remove(refusal)
    assert promote(config, key_file, "1.3.0", "beta") == 0
    assert fake_cloudflare.urls == ["https://updates.example/channels/beta.json"]
    assert payload(server, key, "beta")["manifest_number"] == 1


def test_a_rerun_repairs_a_lagging_mirror_with_the_same_bytes(server, tmp_path, key, key_file):
    mirror = tmp_path / "mirror"
    shutil.copytree(server, mirror, symlinks=True)
    config = write_config(tmp_path / "c.json", local(server), local(mirror, "mirror"))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    assert promote(config, key_file, "1.3.0", "stable", "--rollout", "100") == 0
    (mirror / "channels" / "stable.json").unlink()
    (mirror / "releases" / "latest").unlink()  # as if the mirror failed half-way
    assert promote(config, key_file, "1.3.0", "stable") == 0
    assert (mirror / "channels" / "stable.json").read_bytes() == (server / "channels" / "stable.json").read_bytes()
    assert os.readlink(mirror / "releases" / "latest") == "1.3.0"
    assert history(mirror)[-1]["action"] == "sync" and history(server)[-1]["action"] == "promote"


def test_a_manifest_close_to_expiry_is_re_signed_on_a_rerun(server, tmp_path, key, key_file):
    config = write_config(tmp_path / "c.json", local(server))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    body = payload(server, key, "beta")
    now = times.parse_time(body["issued_at"])
    body.update(issued_at=times.format_time(now - timedelta(days=6, hours=12)),
                expires_at=times.format_time(now + timedelta(hours=12)))
    (server / "channels" / "beta.json").write_bytes(manifest.sign_payload_bytes(manifest.payload_bytes(body), key))
    assert promote(config, key_file, "1.3.0", "beta") == 0
    fresh = payload(server, key, "beta")
    assert fresh["manifest_number"] == 2 and times.parse_time(fresh["expires_at"]) - now >= timedelta(days=7)
    assert history(server)[-1]["action"] == "refresh"
