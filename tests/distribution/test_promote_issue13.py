"""Issue 13, item 9 for promote-release on a local-folder server: a tag name is refused naming the version, and
every run says the percentage the channel now offers (halted or not, dry run too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from releng._scripts.distribution import promote_release, publish_release
from testkit import make_release, snapshot


@pytest.fixture
def config(tmp_path, key, key_file) -> Path:
    root = tmp_path / "server"
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(root),
                                             "base_url": "https://local.example"}],
                                "channels": ["dev", "beta", "stable"],
                                "manifest": {"expires_days": 7, "base_url": "https://updates.example"}}))
    doc = make_release(tmp_path / "0.4.2", key, "0.4.2", size=2000, seed=3)
    assert publish_release.main(["--servers", str(path), "--artifacts", str(doc), "--channel", "dev", "--changes",
                                 str(doc.parent / "changes.json"), "--signing-key", str(key_file), "-q"]) == 0
    return path


def promote(config: Path, key_file: Path, *argv: str) -> int:
    return promote_release.main(["--servers", str(config), "--signing-key", str(key_file), *argv])


def test_the_tag_name_is_refused_naming_the_version(config, key_file, capsys):
    root = config.parent / "server"
    before = snapshot(root)
    assert promote(config, key_file, "v0.4.2", "--to", "beta") == 2
    err = capsys.readouterr().err
    assert err == "error: give the version, not the tag name: 0.4.2 (not v0.4.2)\n"
    assert snapshot(root) == before


def test_each_run_prints_the_resulting_percentage(config, key_file, capsys):
    assert promote(config, key_file, "0.4.2", "--to", "beta", "--rollout", "25", "--dry-run") == 0
    assert "beta: would promote 0.4.2: offered to 25% of users (manifest 1)" in capsys.readouterr().err
    assert promote(config, key_file, "0.4.2", "--to", "beta", "--rollout", "25") == 0
    assert "beta: promote 0.4.2: offered to 25% of users (manifest 1)" in capsys.readouterr().err
    assert promote(config, key_file, "0.4.2", "--to", "beta", "--halt") == 0
    assert "beta: halt 0.4.2: offered to 25% of users, halted: no new installs (manifest 2)" in \
        capsys.readouterr().err
    assert promote(config, key_file, "0.4.2", "--to", "beta", "--rollout", "50") == 0
    assert "beta: rollout 0.4.2: offered to 50% of users (manifest 3)" in capsys.readouterr().err
