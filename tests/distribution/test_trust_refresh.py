"""The freeze window (issue 15): `promote-release --refresh` re-signs every channel manifest that expires within a
day, unchanged but for a higher number and a new window of manifest.expires_days (2 by default)."""

from __future__ import annotations

import json
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import signing, times
from releng._scripts.distribution import promote_release
from releng.server import layout, manifest


def test_refresh_re_signs_stale_manifests_only(tmp_path, capsys):
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([20]) * 32)
    key_file = tmp_path / "channel.pem"
    key_file.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    key = signing.SigningKey(private)
    site = tmp_path / "site"
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(site)}]}))
    assert layout.load_config(servers)["manifest"]["expires_days"] == 2
    issued = times.utc_now().replace(microsecond=0) - timedelta(days=1, hours=12)  # expires in 12 hours
    payload = manifest.build_manifest(
        product="audiolab-gain", channel="stable", version="1.3.0", manifest_number=4, issued_at=issued,
        expires_at=issued + timedelta(days=2), artifacts={"linux-x86_64": {
            "url": "../releases/1.3.0/audiolab-gain-1.3.0-linux-x86_64.tar.gz", "size": 1, "sha256": "ab" * 32}})
    (site / "channels").mkdir(parents=True)
    (site / "channels/stable.json").write_bytes(manifest.sign_envelope(payload, key, now=issued))
    args = ["--servers", str(servers), "--refresh", "--signing-key", str(key_file), "--json"]
    assert promote_release.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert {c["channel"]: c["action"] for c in report["channels"]} == {"dev": "absent", "beta": "absent",
                                                                       "stable": "refresh"}
    fresh = manifest.verify_envelope((site / "channels/stable.json").read_bytes(), {key.key_id: key.public_raw})
    assert fresh["manifest_number"] == 5
    assert {k: v for k, v in fresh.items() if k not in ("manifest_number", "issued_at", "expires_at")} == {
        k: v for k, v in payload.items() if k not in ("manifest_number", "issued_at", "expires_at")}
    window = times.parse_time(fresh["expires_at"]) - times.parse_time(fresh["issued_at"])
    assert window == timedelta(days=2)
    history = (site / "channels/history.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in history] == ["refresh"]
    assert promote_release.main(args) == 0  # a second run within the day changes nothing
    assert json.loads(capsys.readouterr().out)["channels"][2]["action"] == "fresh"
    assert len((site / "channels/history.jsonl").read_text().splitlines()) == 1
    assert promote_release.main([*args, "--force"]) == 0  # --force: re-signed however fresh
    assert json.loads(capsys.readouterr().out)["channels"][2] == {"action": "refresh", "channel": "stable",
                                                                  "manifest_number": 6}
