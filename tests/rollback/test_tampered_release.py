"""Nothing is signed that was not verified: a server account without the key edits a release folder, then waits for
a promote, a rollback, a revert or watch-health to sign a manifest pointing clients at its own bytes (issue "the
update chain under attack", hole 1; docs/update-server.md). Each attack must exit 2 and change nothing, on every
server. The update roots are real (publish-release and promote-release built them: tests/rollback/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from releng._scripts.distribution import promote_release, publish_release
from releng._scripts.rollback import rollback_release, watch_health
from testkit import make_release, snapshot

PAYLOAD = b"#!/bin/sh\necho owned\n"
CRASHING = {"sessions": 5000, "crashes": 500, "clients": 900}


def artifacts_doc(root: Path, version: str) -> dict:
    return json.loads((root / "releases" / version / "artifacts.json").read_text())


def write_doc(root: Path, version: str, doc: dict) -> None:
    (root / "releases" / version / "artifacts.json").write_text(json.dumps(doc))


def point_at(root: Path, version: str, path: str, **fields: str) -> None:
    """The attack: artifacts.json names the attacker's file, with its own size and sha256."""
    doc = artifacts_doc(root, version)
    doc["artifacts"][0].update(path=path, size=len(PAYLOAD), sha256=hashlib.sha256(PAYLOAD).hexdigest(), **fields)
    write_doc(root, version, doc)


def traversal(root: Path, version: str) -> None:
    (root / "channels" / "payload.bin").write_bytes(PAYLOAD)
    point_at(root, version, "../../channels/payload.bin")


def unlisted_file(root: Path, version: str) -> None:
    """A safe name in the release folder, but one the signed SHA256SUMS does not list."""
    (root / "releases" / version / f"gain-{version}-linux-x86_64.zip").write_bytes(PAYLOAD)
    point_at(root, version, f"gain-{version}-linux-x86_64.zip", kind="zip")


def swapped_bytes(root: Path, version: str) -> None:
    """The listed name, the attacker's bytes and sums: SHA256SUMS no longer matches its signature."""
    doc = artifacts_doc(root, version)
    name = doc["artifacts"][0]["path"]
    (root / "releases" / version / name).write_bytes(PAYLOAD)
    sums = root / "releases" / version / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(PAYLOAD).hexdigest()}  {name}\n")
    point_at(root, version, name)


def garbled_signature(root: Path, version: str) -> None:
    (root / "releases" / version / "SHA256SUMS.sig").write_text("not a signature\n")


def other_product(root: Path, version: str) -> None:
    """Another product's name in the (unsigned) artifacts.json: the signed file names say gain."""
    doc = artifacts_doc(root, version)
    doc["name"] = "reverb"
    write_doc(root, version, doc)


def wrong_size(root: Path, version: str) -> None:
    """artifacts.json gives another size than the file on the server has (the signed sha256 binds the bytes)."""
    doc = artifacts_doc(root, version)
    doc["artifacts"][0]["size"] += 1
    write_doc(root, version, doc)


ATTACKS: dict[str, Callable[[Path, str], None]] = {
    "path traversal": traversal, "unlisted file": unlisted_file, "swapped bytes and sums": swapped_bytes,
    "garbled signature": garbled_signature, "other product": other_product, "wrong size": wrong_size,
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_rollback_refuses_a_tampered_fallback_and_changes_nothing(attack, update_root, server_config, local_spec,
                                                                  rollback_key_file, capsys):
    attack(update_root, "1.2.0")
    before = snapshot(update_root)
    config = server_config(local_spec(update_root))
    assert rollback_release.main(["--servers", str(config), "--signing-key", str(rollback_key_file), "1.3.0",
                                  "--reason", "crash"]) == 2
    assert snapshot(update_root) == before
    assert "releases/1.2.0" in capsys.readouterr().err


def test_a_tampered_mirror_stops_the_rollback_on_every_server(update_root, tmp_path, server_config, local_spec,
                                                             rollback_key_file):
    mirror = tmp_path / "mirror"
    shutil.copytree(update_root, mirror, symlinks=True)
    traversal(mirror, "1.2.0")
    before = {root: snapshot(root) for root in (update_root, mirror)}
    config = server_config(local_spec(update_root), local_spec(mirror, "mirror"))
    assert rollback_release.main(["--servers", str(config), "--signing-key", str(rollback_key_file), "1.3.0",
                                  "--reason", "crash"]) == 2
    assert {root: snapshot(root) for root in (update_root, mirror)} == before


def test_revert_refuses_a_tampered_release(update_root, server_config, local_spec, rollback_key_file):
    history = [json.loads(line) for line in (update_root / "channels" / "history.jsonl").read_text().splitlines()]
    entry = next(h for h in history if h["channel"] == "stable" and h["version"] == "1.2.0")
    traversal(update_root, "1.2.0")
    before = snapshot(update_root)
    config = server_config(local_spec(update_root))
    assert rollback_release.main(["--servers", str(config), "--signing-key", str(rollback_key_file), "--channel",
                                  "stable", "--revert-to", str(entry["manifest_number"]), "--reason", "back"]) == 2
    assert snapshot(update_root) == before


def test_watch_health_halts_but_never_rolls_back_onto_a_tampered_release(
        update_root, tmp_path, server_config, local_spec, rollback_key_file, payload_of):
    """The crashing release is still halted (re-signing its own verified manifest is safe, and stops the crashes
    spreading, as when there is nothing to fall back to); the tampered fallback is never offered, exit 2."""
    traversal(update_root, "1.2.0")
    releases = {k: v for k, v in snapshot(update_root).items() if k.startswith(("releases", "quarantine"))}
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"versions": {"1.3.0": CRASHING}}))
    config = server_config(local_spec(update_root))
    assert watch_health.main(["--servers", str(config), "--feed", str(feed), "--once", "--signing-key",
                              str(rollback_key_file)]) == 2
    assert {k: v for k, v in snapshot(update_root).items() if k.startswith(("releases", "quarantine"))} == releases
    for channel in ("dev", "beta", "stable"):
        payload = payload_of(update_root, channel)
        assert (payload["version"], payload["rollout"]["halted"]) == ("1.3.0", True)
        assert "payload" not in json.dumps(payload)
    assert not (update_root / "rollback_log.jsonl").exists()


@pytest.mark.parametrize("attack", [traversal, other_product, swapped_bytes], ids=["traversal", "product", "sums"])
def test_promote_refuses_a_tampered_release(attack, update_root, tmp_path, server_config, local_spec,
                                            rollback_key, rollback_key_file):
    config = server_config(local_spec(update_root))
    doc = make_release(tmp_path / "1.4.0", rollback_key, "1.4.0", size=3000, seed=9)
    key = ["--signing-key", str(rollback_key_file), "-q"]
    assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev", *key]) == 0
    attack(update_root, "1.4.0")
    before = snapshot(update_root)
    assert promote_release.main(["--servers", str(config), "1.4.0", "--to", "beta", *key]) == 2
    assert snapshot(update_root) == before
