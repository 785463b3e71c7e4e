"""Shared fixtures for rollback-release and watch-health: real update roots, built by the real scripts.

- `rollback_key_file` / `rollback_key`: the release key (a PEM file; module-wide).
- `update_root`: a fresh copy (per test) of a local update-server root where 1.1.0, 1.2.0 and 1.3.0 were each
  published to dev and promoted to beta and stable (so dev, beta and stable offer 1.3.0, releases/latest -> 1.3.0,
  channels/history.jsonl holds every change). The copy is built once per session by publish-release and
  promote-release.
- `local_spec(root, name="local")` / `sftp_spec(root, name="primary")`: `servers[]` entries for the config.
- `server_config(*specs, **sections)`: writes an update_server_config.json (manifest base_url https://updates.example,
  expires_days 7) with optional extra sections (cdn, github, notify) and returns its path.
- `sftp_update_root`: `(root, spec)` a fresh copy of the update root under the session's loopback sshd.
- `http_root(root)`: serves a folder over a real local HTTP server (ThreadingHTTPServer); returns its base URL.
- `payload_of(root, channel)`: the verified manifest payload of a channel.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from releng import signing
from releng._scripts.distribution import promote_release, publish_release
from releng.server import manifest
from testkit import make_release, session_key_fixtures

VERSIONS = ("1.1.0", "1.2.0", "1.3.0")
FILES = ("SHA256SUMS", "SHA256SUMS.sig", "artifacts.json", "RELEASE_NOTES.md")  # in every release: latest/<file>


rollback_key_file, rollback_key = session_key_fixtures("rollback_key_file", "rollback_key")


def _local_spec(root: Path, name: str = "local") -> dict[str, Any]:
    return {"name": name, "transport": "local", "root": str(root), "base_url": f"https://{name}.example"}


def _sftp_spec(sshd: Any, root: Path, name: str = "primary") -> dict[str, Any]:
    return {"name": name, "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts), "root": str(root),
            "base_url": f"https://{name}.example"}


def write_server_config(path: Path, *specs: dict[str, Any], **sections: Any) -> Path:
    cfg = {"servers": list(specs), "channels": ["dev", "beta", "stable"],
           "manifest": {"expires_days": 7, "base_url": "https://updates.example"}, **sections}
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="session")
def _built_update_root(tmp_path_factory: pytest.TempPathFactory, rollback_key: signing.SigningKey,
                       rollback_key_file: Path) -> Path:
    base = tmp_path_factory.mktemp("rollback-root")
    root = base / "server"
    config = write_server_config(base / "c.json", _local_spec(root))
    key = ["--signing-key", str(rollback_key_file), "-q"]
    for i, v in enumerate(VERSIONS):
        doc = make_release(base / v, rollback_key, v, size=3000, seed=i)
        assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                     "--changes", str(doc.parent / "changes.json"), *key]) == 0
        for channel in ("beta", "stable"):
            assert promote_release.main(["--servers", str(config), v, "--to", channel, *key]) == 0
    return root


@pytest.fixture
def update_root(_built_update_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "server"
    shutil.copytree(_built_update_root, root, symlinks=True)
    return root


@pytest.fixture
def sftp_update_root(sshd: Any, _built_update_root: Path) -> tuple[Path, dict[str, Any]]:
    root = sshd.fresh_root("rollback")
    shutil.copytree(_built_update_root, root, symlinks=True, dirs_exist_ok=True)
    return root, _sftp_spec(sshd, root)


@pytest.fixture
def local_spec() -> Callable[..., dict[str, Any]]:
    return _local_spec


@pytest.fixture
def sftp_spec(sshd: Any) -> Callable[..., dict[str, Any]]:
    return functools.partial(_sftp_spec, sshd)


@pytest.fixture
def server_config(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(*specs: dict[str, Any], **sections: Any) -> Path:
        return write_server_config(tmp_path / f"config-{next(counter)}.json", *specs, **sections)

    return make


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_root() -> Iterator[Callable[[Path], str]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(root: Path) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def payload_of(rollback_key: signing.SigningKey) -> Callable[[Path, str], dict[str, Any]]:
    def read(root: Path, channel: str) -> dict[str, Any]:
        return manifest.verify_envelope((root / "channels" / f"{channel}.json").read_bytes(),
                                        {rollback_key.key_id: rollback_key.public_raw})

    return read
