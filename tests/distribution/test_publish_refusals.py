"""publish-release refuses before the first byte is written (issue "the update chain under attack", hole 4): a
release renamed into releases/ is permanent, so every check a refusal can come from runs before the upload."""

from __future__ import annotations

import json
from pathlib import Path

from releng import signing
from releng._scripts.distribution import publish_release
from testkit import make_release, snapshot, write_key


def config_for(path: Path, root: Path) -> Path:
    path.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(root)}],
                                "manifest": {"expires_days": 7, "base_url": "https://updates.example"}}))
    return path


def publish(config: Path, doc: Path, key_file: Path) -> int:
    return publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                 "--signing-key", str(key_file), "-q"])


def test_a_key_the_servers_manifests_are_not_signed_with_uploads_nothing(tmp_path, key, key_file, capsys):
    root, config = tmp_path / "server", config_for(tmp_path / "c.json", tmp_path / "server")
    assert publish(config, make_release(tmp_path / "1.0.0", key, "1.0.0", size=2000), key_file) == 0
    stranger_file = tmp_path / "stranger.pem"
    write_key(stranger_file)
    stranger = signing.load_private_key_file(stranger_file)
    before = snapshot(root)
    # 1.1.0 built and signed by a key that signed none of the server's manifests: refused, nothing uploaded.
    assert publish(config, make_release(tmp_path / "stranger-1.1.0", stranger, "1.1.0", size=2000, seed=5),
                   stranger_file) == 2
    err = capsys.readouterr().err
    assert "no signature by a trusted key" in err and "nothing was uploaded" in err
    assert snapshot(root) == before
    assert not (root / "releases" / "1.1.0").exists() and not list((root / "releases" / ".incoming").iterdir())
    # The right key's 1.1.0 is then published as usual, not refused as "already published with different bytes".
    assert publish(config, make_release(tmp_path / "1.1.0", key, "1.1.0", size=2000, seed=6), key_file) == 0
    assert (root / "releases" / "1.1.0").is_dir()


def test_a_garbled_current_manifest_uploads_nothing(tmp_path, key, key_file, capsys):
    root, config = tmp_path / "server", config_for(tmp_path / "c.json", tmp_path / "server")
    assert publish(config, make_release(tmp_path / "1.0.0", key, "1.0.0", size=2000), key_file) == 0
    (root / "channels" / "dev.json").write_text("[" * 100)
    before = snapshot(root)
    assert publish(config, make_release(tmp_path / "1.1.0", key, "1.1.0", size=2000, seed=6), key_file) == 2
    assert "malformed DSSE envelope" in capsys.readouterr().err
    assert snapshot(root) == before
