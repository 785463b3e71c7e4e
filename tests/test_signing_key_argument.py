"""`--signing-key "$(cat key.pem)"`: every command that takes a key file refuses a key given in its place with exit 2
and one line that never echoes the key (issue 12 #6), run as a user would: the script by path, in a subprocess.

The key is fixed (RFC 8032 section 7.1, test 1), so nothing here depends on random bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from testkit import copy_plugin

ROOT = Path(__file__).resolve().parent.parent
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PEM = ed25519.Ed25519PrivateKey.from_private_bytes(SEED).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture
def servers(tmp_path: Path) -> Path:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(tmp_path / "srv")}],
                                "channels": ["dev", "beta", "stable"], "manifest": {"expires_days": 7}}))
    return path


def commands(tmp_path: Path, servers: Path) -> dict[str, list[str]]:
    artifacts = tmp_path / "artifacts.json"
    artifacts.write_text(json.dumps({"schema": "releng/artifacts", "schema_version": 1, "name": "gain",
                                     "version": "1.2.0", "artifacts": []}))
    feed = tmp_path / "feed.json"
    feed.write_text('{"versions": {}}')
    plugin = copy_plugin(tmp_path / "plugin")
    return {
        "packaging/build_package.py": ["--source", str(plugin), "--print-public-key"],
        "distribution/publish_release.py": ["--servers", str(servers), "--artifacts", str(artifacts), "--channel",
                                            "dev"],
        "distribution/promote_release.py": ["--servers", str(servers), "1.2.0", "--to", "beta"],
        "rollback/rollback_release.py": ["--servers", str(servers), "1.2.0", "--reason", "r"],
        "rollback/watch_health.py": ["--servers", str(servers), "--feed", str(feed), "--once"],
    }


@pytest.mark.parametrize("script", ["packaging/build_package.py", "distribution/publish_release.py",
                                    "distribution/promote_release.py", "rollback/rollback_release.py",
                                    "rollback/watch_health.py"])
@pytest.mark.parametrize("form", ["separate", "equals"])
def test_a_key_given_as_the_key_file_is_refused_and_never_echoed(script, form, tmp_path, servers):
    argv = commands(tmp_path, servers)[script]
    key = ["--signing-key", PEM] if form == "separate" else [f"--signing-key={PEM}"]
    done = subprocess.run([sys.executable, str(ROOT / script), *argv, *key], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "looks like a key itself (not shown)" in done.stderr
    output = done.stdout + done.stderr
    for line in PEM.splitlines()[1:-1]:  # the key's base64 lines, and any part of them
        assert line not in output and line[:16] not in output and line[-16:] not in output
    assert not (tmp_path / "srv").exists()  # refused before any server was touched
