"""check-update --root against the attacks of issue 15, one test each: exit code, state file and stored root
untouched, nothing downloaded. A real HTTP server on 127.0.0.1 serves a folder laid out like an update server
(`channels/`, `releases/<v>/`, `trust/`); keys come from fixed seeds, so no outcome depends on random bytes."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from releng import signing, trust
from releng._scripts.distribution import check_update
from releng.server import manifest
from trustkit import T0, root_payload, seed_key, signed

NOW = T0 + timedelta(hours=1)
DATA = b"gain plugin 1.3.0\n" * 100
NAME = "audiolab-gain-1.3.0-linux-x86_64.tar.gz"


STATE = {"channels": {"stable": {"envelope_sha256": "0" * 64, "manifest_number": 1}}, "state_version": 1}


class Server:
    """The folder `root` over HTTP (404 for what is not there)."""

    def __init__(self, root: Path) -> None:
        handler = partial(SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[method-assign]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


class Site:
    def __init__(self, tmp: Path, server: Server) -> None:
        self.root, self.url, self.tmp = tmp / "srv", server.url, tmp
        self.state, self.shipped, self.downloads = tmp / "state.json", tmp / "shipped.root.json", tmp / "dl"
        self.state.write_text(json.dumps(STATE))
        self.shipped.write_bytes(signed(root_payload(1, [1], [10], [20]), 1))
        self.release(sums_keys=[10])
        self.manifest([20])

    def write(self, path: str, data: bytes) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_bytes(data)

    def release(self, sums_keys: list[int], listed: bytes = DATA) -> None:
        self.write(f"releases/1.3.0/{NAME}", DATA)
        sums = f"{hashlib.sha256(listed).hexdigest()}  {NAME}\n".encode()
        self.write("releases/1.3.0/SHA256SUMS", sums)
        self.sums = sums
        self.write("releases/1.3.0/SHA256SUMS.sig",
                   trust.sign_statement(sums, [seed_key(n) for n in sums_keys]).encode())

    def manifest(self, keys: list[int], number: int = 2, expires: datetime = T0 + timedelta(days=2),
                 statement: str | None = "served") -> bytes:
        """The channel manifest, naming by default the SHA256SUMS the server holds (`statement`: another hash, or
        None for none)."""
        named = hashlib.sha256(self.sums).hexdigest() if statement == "served" else statement
        payload = manifest.build_manifest(
            product="audiolab-gain", channel="stable", version="1.3.0", manifest_number=number, issued_at=T0,
            expires_at=expires, artifacts={"linux-x86_64": {"url": f"../releases/1.3.0/{NAME}", "size": len(DATA),
                                                            "sha256": hashlib.sha256(DATA).hexdigest()}},
            release_statement_sha256=named)
        envelope = manifest.sign_envelope(payload, seed_key(keys[0]), now=T0)
        for n in keys[1:]:
            envelope = manifest.cosign(envelope, seed_key(n))
        self.write("channels/stable.json", envelope)
        return envelope

    def check(self, now: datetime = NOW) -> int:
        return check_update.main([
            "--manifest-url", f"{self.url}/channels/stable.json", "--root", str(self.shipped),
            "--product", "audiolab-gain", "--current-version", "1.2.0", "--client-id", "client-0001",
            "--platform", "linux-x86_64", "--state", str(self.state), "--download-dir", str(self.downloads),
            "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"), "--max-time", "20"])

    def snapshot(self) -> tuple[bytes, bytes | None, list[str]]:
        stored = self.tmp / "state.json.root.json"
        files = sorted(p.name for p in self.downloads.iterdir()) if self.downloads.exists() else []
        return self.state.read_bytes(), stored.read_bytes() if stored.exists() else None, files


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("site") / "srv")
    yield srv
    srv.httpd.shutdown()


@pytest.fixture
def site(tmp_path, server) -> Site:
    root = tmp_path / "srv"
    server.httpd.RequestHandlerClass.keywords["directory"] = str(root)  # type: ignore[attr-defined]
    return Site(tmp_path, server)


def refused(site: Site) -> None:
    before = site.snapshot()
    assert site.check() == 2
    assert site.snapshot() == before


def test_two_roles_accept_a_release_and_a_manifest_that_both_sign(site):
    assert site.check() == 0
    assert (site.downloads / NAME).read_bytes() == DATA
    assert json.loads(site.state.read_text())["channels"]["stable"]["manifest_number"] == 2


def test_a_manifest_signed_by_a_release_key_only_is_refused(site):
    site.manifest([10])
    refused(site)


def test_one_channel_key_when_the_threshold_is_two_is_refused(site, capsys):
    site.shipped.write_bytes(signed(root_payload(1, [1], [10], [20, 21], (1, 1, 2)), 1))
    site.manifest([20])
    refused(site)
    assert "1 of the 2 channel signatures" in capsys.readouterr().err
    site.manifest([20, 21])
    assert site.check() == 0


def test_an_artifact_hash_not_in_the_release_statement_is_refused(site):
    site.release(sums_keys=[10], listed=b"other bytes")
    site.manifest([20])  # naming the served SHA256SUMS: the listing, not the hash, refuses
    refused(site)


def test_a_manifest_naming_another_release_statement_is_refused(site, capsys):
    site.manifest([20], statement=hashlib.sha256(b"another SHA256SUMS").hexdigest())
    refused(site)
    assert "release_statement_sha256" in capsys.readouterr().err


def test_a_manifest_naming_no_release_statement_is_refused_with_a_root(site, capsys):
    site.manifest([20], statement=None)
    refused(site)
    assert "names no release statement" in capsys.readouterr().err


def test_a_release_statement_signed_by_a_channel_key_is_refused(site):
    site.release(sums_keys=[20])
    refused(site)


def test_root_2_signed_only_by_the_new_root_keys_is_refused(site):
    site.write("trust/2.root.json", signed(root_payload(2, [2], [10], [21]), 2))
    site.manifest([21])
    refused(site)


def test_root_3_without_root_2_is_never_reached(site):
    site.write("trust/3.root.json", signed(root_payload(3, [1], [10], [21]), 1))
    site.manifest([21])  # only v3 trusts key 21: the client stays at v1 and refuses
    refused(site)


def test_root_n_plus_2_served_as_n_plus_1_is_refused(site):
    site.write("trust/2.root.json", signed(root_payload(3, [1], [10], [20]), 1))
    refused(site)


def test_an_expired_newest_root_is_refused(site):
    site.write("trust/2.root.json", signed(root_payload(2, [1], [10], [20], expires=NOW), 1))
    refused(site)


def test_a_root_version_going_backwards_is_refused(site):
    site.write("trust/2.root.json", site.shipped.read_bytes())  # version 1 again, validly signed
    refused(site)
    site.shipped.write_bytes(signed(root_payload(3, [1], [10], [20]), 1))  # a client already at 3 ...
    (site.tmp / "state.json.root.json").write_bytes(site.shipped.read_bytes())
    site.shipped.write_bytes(signed(root_payload(1, [1], [10], [20]), 1))  # ... shipped with 1 stays at 3
    site.write("trust/4.root.json", signed(root_payload(2, [1], [10], [20]), 1))
    refused(site)


def test_a_fast_forward_by_a_stolen_channel_key_is_undone_by_a_rotation(site):
    site.manifest([20], number=10**12)  # the thief's manifest: the client records its huge number
    assert site.check() == 0
    site.manifest([21], number=5)  # the real channel, signed by the new key, still refused before the rotation
    refused(site)
    site.write("trust/2.root.json", signed(root_payload(2, [1], [10], [21]), 1))
    (site.downloads / NAME).unlink()
    assert site.check() == 0  # the client recovers without deleting its state
    state = json.loads(site.state.read_text())
    assert state["channels"]["stable"]["manifest_number"] == 5
    assert trust.verify_self((site.tmp / "state.json.root.json").read_bytes()).version == 2


def test_a_manifest_older_than_the_freeze_window_is_refused(site):
    site.manifest([20], expires=T0 + timedelta(days=2))
    before = site.snapshot()
    assert site.check(now=T0 + timedelta(days=2)) == 2
    assert site.snapshot() == before


def test_release_keys_rotated_make_old_releases_uninstallable(site):
    site.write("trust/2.root.json", signed(root_payload(2, [1], [11], [20]), 1))
    refused_state = site.snapshot()
    assert site.check() == 2  # SHA256SUMS.sig is by release key 10, no longer trusted
    assert site.snapshot()[0] == refused_state[0]


@pytest.mark.parametrize("role", [
    {"keys": [], "threshold": 0},
    {"keys": [trust.role_entry([seed_key(20).public_raw], 1)["keys"][0]] * 2, "threshold": 1},
    {"keys": [{**trust.role_entry([seed_key(20).public_raw], 1)["keys"][0], "keytype": "rsa"}], "threshold": 1},
])
def test_a_shipped_root_with_zero_duplicate_or_unknown_keys_is_refused(site, role):
    payload = root_payload(1, [1], [10], [20])
    payload["roles"]["channel"] = role
    body = trust.payload_bytes(payload)
    import base64
    sig = seed_key(1).sign(trust.pae(trust.ROOT_PAYLOAD_TYPE, body))
    site.shipped.write_text(json.dumps({"payload": base64.b64encode(body).decode(),
                                        "payloadType": trust.ROOT_PAYLOAD_TYPE,
                                        "signatures": [{"keyid": trust.full_key_id(seed_key(1).public_raw),
                                                        "sig": base64.b64encode(sig).decode()}]}))
    refused(site)


def test_public_key_stays_a_shortcut(site):
    result = check_update.main([
        "--manifest-url", f"{site.url}/channels/stable.json", "--public-key", seed_key(20).public_b64,
        "--product", "audiolab-gain", "--current-version", "1.2.0", "--client-id", "client-0001",
        "--platform", "linux-x86_64", "--state", str(site.state), "--download-dir", str(site.downloads),
        "--now", "2026-01-01T01:00:00Z"])
    assert result == 0
    assert signing.key_id(seed_key(20).public_raw) in (site.root / "channels/stable.json").read_text()


def public_key_check(site: Site) -> int:
    return check_update.main([
        "--manifest-url", f"{site.url}/channels/stable.json", "--public-key", seed_key(20).public_b64,
        "--product", "audiolab-gain", "--current-version", "1.2.0", "--client-id", "client-0001",
        "--platform", "linux-x86_64", "--state", str(site.state), "--download-dir", str(site.downloads),
        "--now", "2026-01-01T01:00:00Z"])


def test_public_key_accepts_an_older_manifest_without_a_release_statement(site):
    site.manifest([20], statement=None)
    assert public_key_check(site) == 0


def test_public_key_checks_a_named_release_statement(site):
    site.manifest([20], statement=hashlib.sha256(b"another SHA256SUMS").hexdigest())
    before = site.snapshot()
    assert public_key_check(site) == 2
    assert site.snapshot() == before
