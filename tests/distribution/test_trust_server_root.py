"""`manifest.root` (issue 15): the server tools trust what the clients' root trusts. With it set, SHA256SUMS.sig must
meet the root's release threshold (a trusted key is not enough) and the channel signing key must be one of the
root's channel keys; otherwise exit 2 before anything is written. Every manifest that offers a release names the
verified SHA256SUMS by its sha256 (`release_statement_sha256`). Keys other than the session key come from fixed
seeds (no outcome depends on random bytes)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from releng import signing, times, trust
from releng._scripts.distribution import promote_release, publish_release
from releng.server import manifest
from testkit import make_release, snapshot
from trustkit import seed_key


def root_document(release: signing.SigningKey, channel: signing.SigningKey) -> bytes:
    """Root version 1: root key seed 1, the given release and channel keys, threshold 1 each, a year ahead."""
    roles = {"root": trust.role_entry([seed_key(1).public_raw], 1),
             "release": trust.role_entry([release.public_raw], 1),
             "channel": trust.role_entry([channel.public_raw], 1)}
    expires = times.utc_now().replace(microsecond=0, tzinfo=UTC) + timedelta(days=365)
    return trust.sign_root(trust.build_root(1, expires, roles), [seed_key(1)])


def write_config(folder: Path, server_root: Path, root: str | None) -> Path:
    cfg: dict = {"servers": [{"name": "local", "transport": "local", "root": str(server_root),
                              "base_url": "https://local.example"}],
                 "manifest": {"expires_days": 7}}
    if root is not None:
        cfg["manifest"]["root"] = root
    path = folder / "update_server_config.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory, key, key_file) -> Path:
    """A server root with 1.3.0 published to dev by the session key (no manifest.root yet)."""
    base = tmp_path_factory.mktemp("published")
    config = write_config(base, base / "server", None)
    doc = make_release(base / "1.3.0", key, "1.3.0", size=4000, seed=3)
    assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                 "--signing-key", str(key_file), "-q"]) == 0
    return base / "server"


@pytest.fixture
def site(published, tmp_path) -> Path:
    shutil.copytree(published, tmp_path / "server", symlinks=True)
    return tmp_path / "server"


def promote(config: Path, key_file: Path) -> int:
    return promote_release.main(["--servers", str(config), "1.3.0", "--to", "beta", "--signing-key", str(key_file)])


def statement_sha256(site: Path) -> str:
    return hashlib.sha256((site / "releases/1.3.0/SHA256SUMS").read_bytes()).hexdigest()


def test_publish_names_the_release_statement(site, key):
    dev = manifest.verify_envelope((site / "channels/dev.json").read_bytes(), {key.key_id: key.public_raw})
    assert dev["release_statement_sha256"] == statement_sha256(site)


def test_promote_with_the_root_signs_a_manifest_naming_the_statement(site, tmp_path, key, key_file):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/root.json").write_bytes(root_document(release=key, channel=key))
    config = write_config(tmp_path, site, "keys/root.json")  # relative to the config file's folder
    assert promote(config, key_file) == 0
    beta = manifest.verify_envelope((site / "channels/beta.json").read_bytes(), {key.key_id: key.public_raw})
    assert beta["release_statement_sha256"] == statement_sha256(site)


def test_a_release_signed_by_a_non_release_key_is_refused(site, tmp_path, key, key_file, capsys):
    (tmp_path / "root.json").write_bytes(root_document(release=seed_key(10), channel=key))
    config = write_config(tmp_path, site, "root.json")
    before = snapshot(site)
    assert promote(config, key_file) == 2
    assert snapshot(site) == before
    assert "release signatures" in capsys.readouterr().err


def test_a_channel_key_not_in_the_root_is_refused_before_any_write(site, tmp_path, key, key_file, capsys):
    (tmp_path / "root.json").write_bytes(root_document(release=key, channel=seed_key(20)))
    config = write_config(tmp_path, site, "root.json")
    before = snapshot(site)
    assert promote(config, key_file) == 2
    assert snapshot(site) == before
    assert "nothing signed by a key clients won't trust" in capsys.readouterr().err


def test_publish_with_a_channel_key_not_in_the_root_uploads_nothing(site, tmp_path, key, key_file):
    (tmp_path / "root.json").write_bytes(root_document(release=key, channel=seed_key(20)))
    config = write_config(tmp_path, site, "root.json")
    doc = make_release(tmp_path / "1.4.0", key, "1.4.0", size=4000, seed=4)
    before = snapshot(site)
    assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                 "--signing-key", str(key_file), "-q"]) == 2
    assert snapshot(site) == before


def test_a_missing_or_expired_root_is_refused(site, tmp_path, key, key_file):
    config = write_config(tmp_path, site, "absent.root.json")
    before = snapshot(site)
    assert promote(config, key_file) == 2
    roles = {"root": trust.role_entry([seed_key(1).public_raw], 1), "release": trust.role_entry([key.public_raw], 1),
             "channel": trust.role_entry([key.public_raw], 1)}
    expired = trust.sign_root(trust.build_root(1, datetime(2020, 1, 1, tzinfo=UTC), roles), [seed_key(1)])
    (tmp_path / "absent.root.json").write_bytes(expired)
    assert promote(config, key_file) == 2
    assert snapshot(site) == before


def test_manifest_root_must_be_a_string(site, tmp_path, key_file):
    config = write_config(tmp_path, site, None)
    cfg = json.loads(config.read_text())
    cfg["manifest"]["root"] = 1
    config.write_text(json.dumps(cfg))
    assert promote(config, key_file) == 2


def test_publish_of_a_release_signed_by_a_non_release_key_uploads_nothing(site, tmp_path, key, key_file, capsys):
    (tmp_path / "root.json").write_bytes(root_document(release=seed_key(10), channel=key))
    config = write_config(tmp_path, site, "root.json")
    doc = make_release(tmp_path / "1.4.0", key, "1.4.0", size=4000, seed=4)
    before = snapshot(site)
    assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                 "--signing-key", str(key_file), "-q"]) == 2
    assert snapshot(site) == before
    assert "release signatures" in capsys.readouterr().err
