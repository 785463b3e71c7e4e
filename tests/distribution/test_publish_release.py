"""publish-release against real servers: a local folder and the session's OpenSSH sshd (no mocked SSH).

docs/security-properties.md #2-#5 and #7-#10 (#6 is in tests/releng/test_transport.py; #1, #6 and #7 as an HTTP
client sees them, with kill -9 and resume, are in test_update_server_http.py), plus #12 and #14 as they touch
publishing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from releng import artifacts, documents, files, signing
from releng._scripts.distribution import publish_release
from releng.distribution import publish as publishing
from releng.server import local, manifest, transport
from testkit import CF_TOKEN as CDN_TOKEN
from testkit import CF_ZONE as ZONE
from testkit import GH_REPO as REPO
from testkit import GH_TOKEN, make_release, snapshot, write_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "distribution" / "publish_release.py"
ARTIFACT = "gain-{v}-linux-x86_64.tar.gz"


def sftp_server(sshd, root: Path, name: str = "primary", **over) -> dict:
    spec = {"name": name, "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts), "root": str(root),
            "base_url": f"https://{name}.example"}
    spec.update(over)
    return spec


def write_config(path: Path, *servers: dict) -> Path:
    path.write_text(json.dumps({"servers": list(servers), "channels": ["dev", "beta", "stable"],
                                "manifest": {"expires_days": 7, "base_url": "https://updates.example"}}))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish(config: Path, doc: Path, key_file: Path, *extra: str, channel: str = "dev") -> int:
    args = ["--servers", str(config), "--artifacts", str(doc), "--channel", channel, "--signing-key", str(key_file)]
    if (doc.parent / "changes.json").exists():
        args += ["--changes", str(doc.parent / "changes.json")]
    return publish_release.main([*args, *extra])


def record(doc: Path) -> dict:
    return json.loads((doc.parent / "publish.json").read_text())


def channel_payload(root: Path, key, channel: str = "dev") -> dict:
    return manifest.verify_envelope((root / "channels" / f"{channel}.json").read_bytes(), {key.key_id: key.public_raw})


def assert_published(root: Path, doc: Path) -> None:
    """releases/<v>/ holds exactly the input folder's files, byte for byte, plus the notes."""
    body = documents.read(doc, "artifacts")
    folder = root / "releases" / body["version"]
    names = {a["path"] for a in body["artifacts"]} | {"SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"}
    assert set(os.listdir(folder)) - {"RELEASE_NOTES.md"} == names
    for name in names:
        assert (folder / name).read_bytes() == (doc.parent / name).read_bytes(), name


def assert_manifests_point_at_present_releases(root: Path, key) -> None:
    """Item 10: no server serves a manifest that references a release it lacks."""
    for path in (root / "channels").glob("*.json"):
        payload = channel_payload(root, key, path.stem)
        for art in payload["artifacts"].values():
            rel = art["url"].split("/releases/", 1)[1]
            assert (root / "releases" / rel).stat().st_size == art["size"]


# --- the happy path -------------------------------------------------------------------------------------------


def test_publish_to_a_local_folder(tmp_path, key, key_file, validate_document, capsys):
    root = tmp_path / "server"
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(root),
                                                "base_url": "http://localhost:8000"})
    assert publish(config, doc, key_file) == 0
    assert_published(root, doc)
    notes = (root / "releases" / "1.2.0" / "RELEASE_NOTES.md").read_text()
    assert "## [1.2.0] - 2026-11-27" in notes and "release 1.2.0" in notes
    payload = channel_payload(root, key)
    assert payload["version"] == "1.2.0" and payload["manifest_number"] == 1 and payload["channel"] == "dev"
    assert payload["artifacts"]["linux-x86_64"]["url"] == \
        "https://updates.example/releases/1.2.0/gain-1.2.0-linux-x86_64.tar.gz"
    assert "release 1.2.0" in payload["notes"]
    rec = record(doc)
    validate_document(rec)
    assert rec["servers"][0]["status"] == "published" and rec["servers"][0]["manifest_number"] == 1
    assert rec["servers"][0]["bytes_sent"] > 200_000
    history = [json.loads(line) for line in (root / "channels" / "history.jsonl").read_text().splitlines()]
    assert [h["manifest_number"] for h in history] == [1]
    assert history[0]["sha256"] == hashlib.sha256((root / "channels" / "dev.json").read_bytes()).hexdigest()
    assert not os.listdir(root / "releases" / ".incoming") and not os.listdir(root / "releases" / ".locks")
    assert not (root / "releases" / "latest").exists()  # dev does not move latest
    assert capsys.readouterr().out == ""


def test_publish_over_sftp_then_republish_is_a_no_op(sshd, tmp_path, key, key_file, validate_document):
    root = sshd.fresh_root("happy")
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    assert publish(config, doc, key_file, "--verify") == 0
    assert_published(root, doc)
    assert channel_payload(root, key)["manifest_number"] == 1
    validate_document(record(doc))
    before = snapshot(root)
    time.sleep(0.02)
    assert publish(config, doc, key_file, "--verify") == 0  # #3: identical bytes: nothing modified
    assert snapshot(root) == before
    rec = record(doc)
    assert rec["servers"][0]["status"] == "unchanged" and rec["servers"][0]["bytes_sent"] == 0
    assert rec["servers"][0]["manifest_number"] == 1
    assert rec["servers"][0]["release_url"] == "https://primary.example/releases/1.2.0/"


def test_newer_versions_raise_the_manifest_number_and_log_history(tmp_path, key, key_file):
    root = tmp_path / "server"
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(root)})
    for i, v in enumerate(["1.0.0", "1.1.0", "1.1.1"]):
        assert publish(config, make_release(tmp_path / v, key, v, seed=i), key_file, channel="stable") == 0
    assert channel_payload(root, key, "stable")["manifest_number"] == 3
    assert os.readlink(root / "releases" / "latest") == "1.1.1"
    lines = [json.loads(x) for x in (root / "channels" / "history.jsonl").read_text().splitlines()]
    assert [(h["version"], h["manifest_number"]) for h in lines] == [("1.0.0", 1), ("1.1.0", 2), ("1.1.1", 3)]
    assert all(h["who"] and h["at"].endswith("Z") and h["action"] == "publish" for h in lines)
    # An older version published later does not move the channel back.
    assert publish(config, make_release(tmp_path / "old", key, "1.0.1", seed=9), key_file, channel="stable") == 0
    assert channel_payload(root, key, "stable")["version"] == "1.1.1"


# --- refusals and faults ----------------------------------------------------------------------------------------


def test_different_bytes_under_a_published_version_are_refused(sshd, tmp_path, key, key_file, capsys):
    root = sshd.fresh_root("conflict")
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    assert publish(config, make_release(tmp_path / "a", key, seed=1), key_file) == 0
    before = snapshot(root)
    capsys.readouterr()
    assert publish(config, make_release(tmp_path / "b", key, seed=2), key_file) == 2
    assert "already published with different bytes" in capsys.readouterr().err
    assert snapshot(root) == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("version", "1.0.0/../../etc", "SemVer"),
    ("version", "../1.0.0", "SemVer"),
    ("version", "1.0.0;rm -rf ~", "SemVer"),
    ("version", "1.0.0\0", "SemVer"),
    ("version", "-1.0.0", "SemVer"),
    ("path", "../gain.tar.gz", "unsafe artifact name"),
    ("path", "sub/gain.tar.gz", "unsafe artifact name"),
    ("path", "gain$(reboot).tar.gz", "unsafe artifact name"),
    ("path", "-rf", "unsafe artifact name"),
    ("path", ".hidden", "unsafe artifact name"),
    ("path", "a..b", "unsafe artifact name"),
])
def test_bad_names_are_refused_before_connecting(tmp_path, key, key_file, capsys, field, value, message):
    """Item 8: the server is a port nothing listens on, so any attempt to connect would say so instead."""
    doc = make_release(tmp_path / "dist", key)
    body = json.loads(doc.read_text())
    if field == "version":
        body["version"] = value
    else:
        body["artifacts"][0]["path"] = value
    doc.write_text(json.dumps(body))
    config = write_config(tmp_path / "c.json", {
        "name": "down", "transport": "sftp", "host": "127.0.0.1", "port": closed_port(), "user": "x",
        "known_hosts": str(tmp_path / "none"), "root": "/srv/u", "base_url": "https://x"})
    assert publish(config, doc, key_file) == 2
    err = capsys.readouterr().err
    assert message in err and "connect" not in err


@pytest.mark.parametrize("which", ["unknown", "changed"])
def test_unknown_or_changed_host_key_is_refused(sshd, tmp_path, key, key_file, capsys, which):
    """Item 9: exit 2, and nothing was written on the server."""
    root = sshd.fresh_root("hostkey")
    known = sshd.empty_known_hosts if which == "unknown" else sshd.wrong_known_hosts
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root, known_hosts=str(known)))
    assert publish(config, make_release(tmp_path / "dist", key), key_file) == 2
    err = capsys.readouterr().err
    assert "host key" in err and ("not in known_hosts" if which == "unknown" else "differs") in err
    assert os.listdir(root) == []


def test_wrong_client_key_and_permission_denied(sshd, tmp_path, key, key_file, capsys):
    root = sshd.fresh_root("auth")
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root, key_file=str(sshd.wrong_client_key)))
    assert publish(config, doc, key_file) == 2
    assert "authentication failed" in capsys.readouterr().err
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root, key_file=str(sshd.readonly_client_key)))
    assert publish(config, doc, key_file) == 2
    assert "Permission denied" in capsys.readouterr().err
    assert os.listdir(root) == []


def test_a_mirror_that_is_down_is_named_and_a_rerun_completes_it(sshd, tmp_path, key, key_file, capsys):
    """Item 10: the other mirror completes (release, then manifest); the rerun brings the same manifest to both."""
    first, second = sshd.fresh_root("mirror1"), sshd.fresh_root("mirror2")
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, first, "one"),
                          sftp_server(sshd, second, "two", port=closed_port()))
    assert publish(config, doc, key_file) == 2
    assert "error: two: cannot connect" in capsys.readouterr().err
    rec = record(doc)
    assert [(s["name"], s["status"]) for s in rec["servers"]] == [("one", "published"), ("two", "failed")]
    assert_published(first, doc)
    assert_manifests_point_at_present_releases(first, key)
    assert os.listdir(second) == []
    before = snapshot(first)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, first, "one"), sftp_server(sshd, second, "two"))
    assert publish(config, doc, key_file) == 0
    assert snapshot(first) == before
    assert_published(second, doc)
    assert (second / "channels" / "dev.json").read_bytes() == (first / "channels" / "dev.json").read_bytes()
    assert [(s["status"], s["manifest_number"]) for s in record(doc)["servers"]] == [("unchanged", 1),
                                                                                    ("published", 1)]


def test_a_corrupt_partial_upload_is_not_resumed(sshd, tmp_path, key, key_file):
    """Item 4: a partial file that is not a prefix of the input is uploaded again from byte 0."""
    root = sshd.fresh_root("corrupt")
    doc = make_release(tmp_path / "dist", key, size=1_000_000, changes=False)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    files = publishing.local_files(documents.read(doc, "artifacts"), doc.parent, doc, None)
    incoming = root / "releases" / ".incoming" / f"1.2.0.{publishing.make_upload_id(files)}"
    incoming.mkdir(parents=True)
    good = (doc.parent / files[0].name).read_bytes()
    (incoming / files[0].name).write_bytes(bytes(b ^ 1 for b in good[:400_000]))
    assert publish(config, doc, key_file, "--dry-run") == 0
    assert len((incoming / files[0].name).read_bytes()) == 400_000  # dry run: nothing written
    assert publish(config, doc, key_file) == 0
    assert_published(root, doc)
    assert record(doc)["servers"][0]["bytes_sent"] == sum(f.size for f in files)
    assert not incoming.exists()


class ShortWrites(local.LocalTransport):
    """A disk that loses the last byte of one file after the upload: a fault only a check after upload can see."""

    def __init__(self, root: Path, victim: str, flip: bool = False) -> None:
        super().__init__("faulty", root)
        self.victim, self.flip = victim, flip

    def put_file(self, local: Path, rel: str) -> transport.Upload:
        up = super().put_file(local, rel)
        if rel.endswith(self.victim):
            path = self.root / rel
            data = path.read_bytes()
            path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if self.flip else data[:-1])
        return up


@pytest.mark.parametrize("flip", [False, True])
def test_sizes_and_with_verify_hashes_are_checked_before_the_rename(tmp_path, key, flip):
    """Item 5: a file that is short on the server (or, with verify, has other bytes) is never renamed into releases/."""
    from releng.server import layout

    doc = make_release(tmp_path / "dist", key, changes=False)
    files = publishing.local_files(documents.read(doc, "artifacts"), doc.parent, doc, None)
    root = tmp_path / "server"
    root.mkdir()
    t = ShortWrites(root, files[0].name, flip=flip)
    message = "does not hash" if flip else "bytes on the server"
    with pytest.raises(transport.TransportError, match=message):
        layout.publish_release(t, "1.2.0", files, "abc", verify=True)
    assert not (root / "releases" / "1.2.0").exists()
    if not flip:
        assert layout.publish_release(local.LocalTransport("ok", root), "1.2.0", files, "abc").status \
            == "published"
        assert_published(root, doc)


def test_two_concurrent_publishes_of_one_version(sshd, tmp_path, key, key_file):
    """Item 2: exactly one exits 0, the other non-zero, and the folder is byte-identical to one input."""
    root = sshd.fresh_root("race")
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    docs = [make_release(tmp_path / f"in{i}", key, size=4_000_000, seed=10 + i, changes=False) for i in range(2)]
    for attempt in range(3):
        procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--servers", str(config), "--artifacts", str(d),
                                   "--channel", "dev", "--signing-key", str(key_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in docs]
        codes = [p.wait(60) for p in procs]
        errs = [p.stderr.read() for p in procs]
        assert sorted(codes) == [0, 2], errs
        winner = docs[codes.index(0)]
        assert_published(root, winner)
        assert "already published with different bytes" in errs[codes.index(2)]
        assert channel_payload(root, key)["artifacts"]["linux-x86_64"]["sha256"] == \
            documents.read(winner, "artifacts")["artifacts"][0]["sha256"]
        if attempt < 2:  # again, on a fresh root
            root = sshd.fresh_root("race")
            config = write_config(tmp_path / "c.json", sftp_server(sshd, root))


def test_two_concurrent_publishes_of_the_same_input(sshd, tmp_path, key, key_file):
    """Both share one .incoming folder: both exit 0 (one publishes, one finds it unchanged), the bytes are right."""
    root = sshd.fresh_root("same")
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    doc = make_release(tmp_path / "in", key, size=8_000_000, changes=False)
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--servers", str(config), "--artifacts", str(doc),
                               "--channel", "dev", "--signing-key", str(key_file), "--out", str(tmp_path / f"r{i}")],
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert_published(root, doc)
    statuses = sorted(json.loads((tmp_path / f"r{i}").read_text())["servers"][0]["status"] for i in range(2))
    assert statuses == ["published", "unchanged"]
    assert channel_payload(root, key)["manifest_number"] == 1


def test_manifest_rewrites_never_show_a_truncated_or_unverifiable_file(tmp_path, key):
    """Item 7: 1000 rewrites by one rename each; a poller always reads a whole, verifying envelope."""
    from datetime import UTC, datetime, timedelta

    from releng.server import transport

    t = local.LocalTransport("local", tmp_path)
    transport.mkdirs(t, "channels")
    now = datetime.now(UTC).replace(microsecond=0)
    trusted = {key.key_id: key.public_raw}
    envelopes = [manifest.sign_envelope(manifest.build_manifest(product="audiolab-gain",
        channel="dev", version="1.0.0", manifest_number=n, issued_at=now, expires_at=now + timedelta(days=1),
        notes="x" * (n % 7 * 1000), artifacts={}), key, now=now) for n in range(1, 1001)]
    transport.write_atomic(t, "channels/dev.json", envelopes[0])
    failures, reads, done = [], [0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                manifest.verify_envelope((tmp_path / "channels" / "dev.json").read_bytes(), trusted)
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure counts
                failures.append(e)

    poller = threading.Thread(target=poll)
    poller.start()
    for env in envelopes[1:]:
        transport.write_atomic(t, "channels/dev.json", env)
    done.set()
    poller.join()
    assert failures == [] and reads[0] > 0


def test_signing_key_from_the_environment_is_never_printed(tmp_path, key_file, capfd, monkeypatch):
    """Item 14: the key comes from the variable the config names; its text appears in no output or document."""
    secret = key_file.read_text()
    monkeypatch.setenv("RELENG_SIGNING_KEY", secret)
    key = signing.load_private_key_file(key_file)
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(tmp_path / "s")})
    args = ["--servers", str(config), "--artifacts", str(doc), "--channel", "dev", "--json", "-v"]
    assert publish_release.main(args) == 0
    out = capfd.readouterr()
    body = secret.splitlines()[1]
    raw = key._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    for text in (out.out, out.err, *(p.read_text(errors="replace") for p in (tmp_path / "s").rglob("*")
                                     if p.is_file())):
        assert body not in text and base64.b64encode(raw).decode() not in text
    monkeypatch.delenv("RELENG_SIGNING_KEY")
    assert publish_release.main(args) == 2
    assert "no signing key" in capfd.readouterr().err


def test_an_unsigned_or_tampered_release_is_refused(tmp_path, key, key_file, capsys):
    doc = make_release(tmp_path / "dist", key)
    (doc.parent / "SHA256SUMS.sig").write_text(signing.signature_line(b"\0" * 64))
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(tmp_path / "s")})
    assert publish(config, doc, key_file) == 1
    assert "does not verify" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("server", "message"), [
    ({"name": "x", "transport": "ftp", "root": "/srv"}, "transport must be"),
    ({"name": "x", "transport": "sftp", "root": "srv", "host": "h", "user": "u", "known_hosts": "k",
      "base_url": "u"}, "absolute"),
    ({"name": "x", "transport": "sftp", "root": "/srv"}, "needs 'host'"),
    ({"name": "x/y", "transport": "local", "root": "/srv"}, "unsafe server name"),
    ({"name": "x", "transport": "local", "root": "/srv/../etc"}, "without '..'"),
])
def test_bad_configs_are_refused(tmp_path, key, key_file, capsys, server, message):
    doc = make_release(tmp_path / "dist", key)
    assert publish(write_config(tmp_path / "c.json", server), doc, key_file) == 2
    assert message in capsys.readouterr().err


def test_the_shipped_config_is_valid_and_help_works(command):
    from releng.server import layout

    cfg = layout.load_config(publish_release.DEFAULT_CONFIG)
    assert [s["name"] for s in cfg["servers"] if s.get("enabled", True)] == ["local"]
    assert cfg["channels"] == ["dev", "beta", "stable"]
    proc = command("publish-release", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: publish-release")


# --- CDN purge after the manifest swap (#35, #36): testkit.FakeCloudflare --------------------------------------


def cdn_config(path: Path, root: Path, api: str) -> Path:
    write_config(path, {"name": "local", "transport": "local", "root": str(root), "base_url": "http://localhost:8000"})
    cfg = json.loads(path.read_text())
    cfg["cdn"] = {"provider": "cloudflare", "zone_id": ZONE, "api_base": api, "token_env": "TEST_CDN_TOKEN"}
    path.write_text(json.dumps(cfg))
    return path


def test_stable_publish_purges_the_manifest_and_latest_never_versioned_urls(tmp_path, key, key_file, fake_cloudflare,
                                                                            capfd, monkeypatch):
    monkeypatch.setenv("TEST_CDN_TOKEN", CDN_TOKEN)
    root = tmp_path / "server"
    doc = make_release(tmp_path / "dist", key)
    config = cdn_config(tmp_path / "c.json", root, fake_cloudflare.api)
    assert publish(config, doc, key_file, channel="stable") == 0
    [urls] = fake_cloudflare.batches
    base = "https://updates.example"
    # releases/latest itself: a bucket's pointer object (issue 16), beside the folder's URLs
    assert urls[:3] == [f"{base}/channels/stable.json", f"{base}/releases/latest", f"{base}/releases/latest/"]
    assert set(urls[3:]) == {f"{base}/releases/latest/{n}" for n in os.listdir(root / "releases" / "1.2.0")}
    assert not any("/releases/1.2.0" in u for u in urls)
    assert CDN_TOKEN not in "".join(capfd.readouterr())


def test_dev_publish_purges_only_the_channel_manifest(tmp_path, key, key_file, fake_cloudflare, monkeypatch):
    monkeypatch.setenv("TEST_CDN_TOKEN", CDN_TOKEN)
    doc = make_release(tmp_path / "dist", key)
    config = cdn_config(tmp_path / "c.json", tmp_path / "server", fake_cloudflare.api)
    assert publish(config, doc, key_file) == 0
    assert fake_cloudflare.batches == [["https://updates.example/channels/dev.json"]]


def test_a_failed_purge_exits_2_after_the_publish_and_a_rerun_purges_again(tmp_path, key, key_file, fake_cloudflare,
                                                                           capfd, monkeypatch, validate_document):
    monkeypatch.setenv("TEST_CDN_TOKEN", "wrong-" + CDN_TOKEN)
    root = tmp_path / "server"
    doc = make_release(tmp_path / "dist", key)
    config = cdn_config(tmp_path / "c.json", root, fake_cloudflare.api)
    assert publish(config, doc, key_file, channel="stable") == 2
    err = capfd.readouterr().err
    assert "purge refused" in err and CDN_TOKEN not in err
    assert_published(root, doc)
    assert channel_payload(root, key, "stable")["version"] == "1.2.0"
    assert fake_cloudflare.batches == []
    rec = record(doc)  # the failure is in the publish document, not only on stderr
    validate_document(rec)
    assert rec["cdn_purge"]["purged"] is False and "purge refused" in rec["cdn_purge"]["error"]
    assert rec["cdn_purge"]["urls"][0] == "https://updates.example/channels/stable.json"
    assert rec["servers"][0]["status"] == "published" and rec["servers"][0]["error"] is None
    assert CDN_TOKEN not in (doc.parent / "publish.json").read_text()
    monkeypatch.setenv("TEST_CDN_TOKEN", CDN_TOKEN)
    assert publish(config, doc, key_file, channel="stable") == 0
    [batch] = fake_cloudflare.batches
    assert "https://updates.example/channels/stable.json" in batch
    assert CDN_TOKEN not in "".join(capfd.readouterr())
    rec = record(doc)
    validate_document(rec)
    assert rec["cdn_purge"] == {"urls": batch, "purged": True, "error": None}


# --- GitHub release (#37): testkit.FakeGitHub -------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "prerelease"), [("beta", True), ("stable", False)])
def test_publish_creates_the_github_release_then_a_rerun_changes_nothing(tmp_path, key, key_file, fake_github,
                                                                         capfd, monkeypatch, channel, prerelease):
    monkeypatch.setenv("TEST_GH_TOKEN", GH_TOKEN)
    doc = make_release(tmp_path / "dist", key)
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(tmp_path / "s"),
                                                "base_url": "http://localhost:8000"})
    cfg = json.loads(config.read_text())
    cfg["github"] = {"repository": REPO, "api_base": fake_github.base, "token_env": "TEST_GH_TOKEN"}
    config.write_text(json.dumps(cfg))
    for _ in range(2):
        assert publish(config, doc, key_file, channel=channel) == 0
        [rel] = fake_github.releases
        assert (rel["tag_name"], rel["name"], rel["draft"], rel["prerelease"]) == \
            ("v1.2.0", "gain 1.2.0", False, prerelease)
        assert "release 1.2.0" in rel["body"]
        assert {a["name"]: a["digest"] for a in rel["assets"]} == {
            n: "sha256:" + hashlib.sha256((doc.parent / n).read_bytes()).hexdigest()
            for n in (ARTIFACT.format(v="1.2.0"), "SHA256SUMS", "SHA256SUMS.sig")}
        assert record(doc)["github_release"] == {"tag": "v1.2.0", "synced": True, "error": None}
    assert GH_TOKEN not in "".join(capfd.readouterr())


def github_config(config: Path, base: str) -> Path:
    cfg = json.loads(config.read_text())
    cfg["github"] = {"repository": REPO, "api_base": base, "token_env": "TEST_GH_TOKEN"}
    config.write_text(json.dumps(cfg))
    return config


def test_a_failed_github_sync_is_recorded_in_the_publish_document(tmp_path, key, key_file, fake_github, capfd,
                                                                  monkeypatch, validate_document):
    monkeypatch.setenv("TEST_GH_TOKEN", "wrong-" + GH_TOKEN)
    doc = make_release(tmp_path / "dist", key)
    config = github_config(write_config(tmp_path / "c.json", {"name": "local", "transport": "local",
                                                              "root": str(tmp_path / "s")}), fake_github.base)
    assert publish(config, doc, key_file, channel="beta") == 2
    assert "GitHub release" in capfd.readouterr().err
    rec = record(doc)
    validate_document(rec)
    assert rec["github_release"]["tag"] == "v1.2.0" and rec["github_release"]["synced"] is False
    assert rec["github_release"]["error"] and rec["cdn_purge"] is None
    assert rec["servers"][0]["status"] == "published"
    assert GH_TOKEN not in (doc.parent / "publish.json").read_text()


# --- --dry-run: every remote change listed, nothing changed -------------------------------------------------------


def full_snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under (and including) a root: kind, content digest or link target, mode and mtime in ns."""
    out = {}
    for folder, dirs, names in os.walk(root):
        for p in [Path(folder)] + [Path(folder) / n for n in dirs + names]:
            st = p.lstat()
            content = os.readlink(p) if p.is_symlink() else \
                hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            out[str(p.relative_to(root.parent))] = (content, st.st_mode, st.st_mtime_ns, st.st_size)
    return out


def test_dry_run_lists_every_remote_change_and_changes_nothing(sshd, tmp_path, key, key_file, fake_cloudflare,
                                                               fake_github, capfd, monkeypatch):
    monkeypatch.setenv("TEST_CDN_TOKEN", CDN_TOKEN)
    monkeypatch.setenv("TEST_GH_TOKEN", GH_TOKEN)
    root = sshd.fresh_root("dry")
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    assert publish(config, make_release(tmp_path / "old", key, "1.1.0", seed=3), key_file, channel="stable") == 0
    doc = make_release(tmp_path / "dist", key)
    (tmp_path / "notes").mkdir()
    notes, _ = publishing.release_notes(str(doc.parent / "changes.json"), "1.2.0", tmp_path / "notes")
    files = publishing.local_files(documents.read(doc, "artifacts"), doc.parent, doc, notes)
    upload_id = publishing.make_upload_id(files)
    incoming = f"releases/.incoming/1.2.0.{upload_id}"
    (root / incoming).mkdir(parents=True)
    name = files[0].name
    (root / incoming / name).write_bytes((doc.parent / name).read_bytes()[:50_000])  # an interrupted upload
    cfg = json.loads(config.read_text())
    cfg["cdn"] = {"provider": "cloudflare", "zone_id": ZONE, "api_base": fake_cloudflare.api,
                  "token_env": "TEST_CDN_TOKEN"}
    config.write_text(json.dumps(cfg))
    github_config(config, fake_github.base)
    before = full_snapshot(root)
    capfd.readouterr()
    time.sleep(0.02)
    assert publish(config, doc, key_file, "--dry-run", "-q", channel="stable") == 0
    out, err = capfd.readouterr()
    assert full_snapshot(root) == before  # byte-identical, same mtimes, not even a lock taken
    assert (fake_cloudflare.requests, fake_github.requests) == (0, 0)
    assert not (doc.parent / "publish.json").exists()
    lines = err.splitlines()
    assert out == ""
    on = " on primary"
    assert f"would upload {incoming}/{name} (200000 bytes, resuming after 50000 bytes already there){on}" in lines
    for n in ("SHA256SUMS", "SHA256SUMS.sig", "artifacts.json", "RELEASE_NOTES.md"):
        size = (doc.parent / n).stat().st_size if n != "RELEASE_NOTES.md" else None
        assert any(line.startswith(f"would upload {incoming}/{n} (") and (size is None or f"({size} bytes)" in line)
                   for line in lines), n
    assert not any(line.startswith(f"would mkdir {incoming}") for line in lines)  # it is there already
    assert f"would rename {incoming} -> releases/1.2.0{on}" in lines
    assert f"would mkdir releases/.locks/1.2.0 (lock){on}" in lines
    assert any(line.startswith("would write channels/.stable.json.<tmp> (") and "1.2.0, manifest_number 2)" in line
               and line.endswith(f"rename it over channels/stable.json{on}") for line in lines)
    assert f"would append a line to channels/history.jsonl (temp file renamed over it){on}" in lines
    assert f"would symlink releases/.latest.<tmp> -> 1.2.0 and rename it over releases/latest{on}" in lines
    [purge] = [line for line in lines if line.startswith("would purge ")]
    assert "https://updates.example/channels/stable.json" in purge and "/releases/1.2.0" not in purge
    assert f"https://updates.example/releases/latest/{name}" in purge
    assert any(line.startswith(f"would upload asset {name} (200000 bytes)") for line in lines)
    assert any("draft=false (publish v1.2.0)" in line for line in lines)
    # The real run does what the dry run said: manifest 2, latest switched, the URLs purged.
    assert publish(config, doc, key_file, channel="stable") == 0
    assert channel_payload(root, key, "stable")["manifest_number"] == 2
    assert os.readlink(root / "releases" / "latest") == "1.2.0"
    assert set(fake_cloudflare.batches[-1]) == set(purge.split(": ", 1)[1].split(" on the CDN")[0].split())
    # Now published: a dry run of the same input has nothing to do; of other bytes, it would be refused.
    capfd.readouterr()
    before = full_snapshot(root)
    assert publish(config, doc, key_file, "--dry-run", channel="stable") == 0
    err = capfd.readouterr().err
    assert "primary: nothing: releases/1.2.0/ already holds these bytes" in err
    assert "primary: nothing: channels/stable.json is already manifest 2" in err
    other = make_release(tmp_path / "other", key, seed=5)
    assert publish(config, other, key_file, "--dry-run", channel="stable") == 2  # as the real run would
    assert "would refuse: releases/1.2.0/gain-1.2.0-linux-x86_64.tar.gz is already published with different bytes" \
        in capfd.readouterr().err
    assert full_snapshot(root) == before


def test_dry_run_does_not_create_a_missing_local_root(tmp_path, key, key_file, capsys):
    root = tmp_path / "nothing-here"
    doc = make_release(tmp_path / "dist", key, changes=False)
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(root)})
    assert publish(config, doc, key_file, "--dry-run") == 0
    err = capsys.readouterr().err
    assert f"would mkdir {root} (the server root) on local" in err
    assert "would mkdir releases on local" in err and "would rename releases/.incoming/1.2.0." in err
    assert "manifest_number 1)" in err
    assert not root.exists()


# --- progress on a terminal ------------------------------------------------------------------------------------


def test_progress_line_text_throttle_and_erase():
    import io

    from releng import progress

    now = [0.0]
    stream = io.StringIO()
    bar = progress.Progress(2 << 20, stream, clock=lambda: now[0], interval=0.5, width=200)
    hook = bar.hook("primary")
    hook("releases/.incoming/x/a.bin", 0, 1 << 20)
    now[0] = 2.0
    hook("releases/.incoming/x/a.bin", 512 << 10, 1 << 20)
    assert stream.getvalue().endswith("\rprimary: a.bin 50% | 512 KiB of 2 MiB 25% 256 KiB/s ETA 0:06\x1b[K")
    shown = stream.getvalue()
    now[0] = 2.1
    hook("releases/.incoming/x/a.bin", 600 << 10, 1 << 20)  # within the interval: not redrawn
    assert stream.getvalue() == shown
    hook("releases/.incoming/x/a.bin", 1 << 20, 1 << 20)  # a file's completion is always drawn
    assert stream.getvalue().endswith("a.bin 100% | 1 MiB of 2 MiB 50% 488 KiB/s ETA 0:02\x1b[K")
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")
    # A resumed upload: the bytes already there count as done, not as sent.
    stream, now[0] = io.StringIO(), 0.0
    bar = progress.Progress(1 << 20, stream, clock=lambda: now[0], interval=0, width=200)
    bar.update("m", "b.bin", 768 << 10, 1 << 20)
    now[0] = 1.0
    bar.update("m", "b.bin", 1 << 20, 1 << 20)
    assert stream.getvalue().endswith("m: b.bin 100% | 1 MiB of 1 MiB 100% 256 KiB/s ETA 0:00\x1b[K")


def test_sftp_put_reports_progress_from_the_resume_offset(sshd, tmp_path):
    from releng.server.sftp import SftpTransport

    root = sshd.fresh_root("progress")
    data = random.Random(3).randbytes(1_000_000)
    (tmp_path / "f.bin").write_bytes(data)
    (root / "f.bin").write_bytes(data[:300_000])
    t = SftpTransport("p", host=sshd.host, port=sshd.port, user=sshd.user, root=str(root),
                      known_hosts=str(sshd.known_hosts), key_file=str(sshd.client_key), base_url="https://u")
    calls = []
    t.progress = lambda rel, done, size: calls.append((rel, done, size))
    try:
        t.put_file(tmp_path / "f.bin", "f.bin")
    finally:
        t.close()
    assert calls[0] == ("f.bin", 300_000, 1_000_000) and calls[-1] == ("f.bin", 1_000_000, 1_000_000)
    dones = [c[1] for c in calls]
    assert dones == sorted(dones) and len(calls) == 1 + -(-700_000 // transport.CHUNK)
    assert (root / "f.bin").read_bytes() == data


def run_on_pty(cmd: list[str], *, tty: bool) -> tuple[int, str]:
    """Run `cmd` with stderr on a real pseudo-terminal (or a pipe); what it wrote there."""
    import pty
    import select

    # A person at a terminal: no CI variable (a CI job's log keeps every redraw, so releng.progress draws none there).
    env = {**{k: v for k, v in os.environ.items() if k != "CI"}, "COLUMNS": "200"}
    if not tty:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        return proc.returncode, proc.stderr.decode()
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            block = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not block:
            break
        chunks.append(block)
    os.close(master)
    return proc.wait(60), b"".join(chunks).decode()


@pytest.mark.parametrize(("tty", "flags", "shown"), [
    (True, [], True),
    (True, ["--quiet"], False),
    (True, ["--json"], False),
    (False, [], False),
])
def test_upload_progress_only_on_a_terminal(sshd, tmp_path, key, key_file, tty, flags, shown):
    root = sshd.fresh_root("pty")
    doc = make_release(tmp_path / "dist", key, size=3_000_000, changes=False)
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    code, text = run_on_pty([sys.executable, str(SCRIPT), "--servers", str(config), "--artifacts", str(doc),
                             "--channel", "dev", "--signing-key", str(key_file), *flags], tty=tty)
    assert code == 0, text
    assert_published(root, doc)
    progress_like = ["\r", "\x1b[", "ETA", "%", "/s "]
    if shown:
        name = ARTIFACT.format(v="1.2.0")
        assert f"\rprimary: {name} 100% | " in text and " ETA " in text and "\x1b[K" in text
        assert "of 2.86 MiB" in text and "primary: SHA256SUMS 100%" in text
        assert "\r\x1b[K" in text  # erased before the summary line
        assert "primary: published 1.2.0" in text.replace("\r\n", "\n").split("\r\x1b[K")[-1]
    else:
        assert not [s for s in progress_like if s in text.replace("\r\n", "\n")], text


# --- key rotation: manifest.trusted_keys ---------------------------------------------------------------------------


def test_key_rotation_needs_the_old_key_listed_as_trusted(tmp_path, key, key_file, capsys):
    """The servers' manifest is signed by the old key: a publisher with the new key refuses to trust it (exit 2,
    nothing changed) until the old public key is in manifest.trusted_keys; then the new manifest is signed by the
    new key, and a release whose SHA256SUMS the old key signed can still be published."""
    root = tmp_path / "server"
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(root)})
    assert publish(config, make_release(tmp_path / "1.0.0", key, "1.0.0", seed=1), key_file, channel="stable") == 0
    new_file = tmp_path / "new.pem"
    write_key(new_file)
    new = signing.load_private_key_file(new_file)
    doc = make_release(tmp_path / "1.1.0", new, "1.1.0", seed=2)
    capsys.readouterr()
    assert publish(config, doc, new_file, channel="stable") == 2
    assert "nothing was uploaded" in capsys.readouterr().err  # refused before the first byte: 1.1.0 stays publishable
    assert not (root / "releases" / "1.1.0").exists()
    assert channel_payload(root, key, "stable")["version"] == "1.0.0"
    cfg = json.loads(config.read_text())
    cfg["manifest"]["trusted_keys"] = [key.public_b64, "not a key"]
    config.write_text(json.dumps(cfg))
    assert publish(config, doc, new_file, channel="stable") == 2
    assert "public key" in capsys.readouterr().err
    cfg["manifest"]["trusted_keys"] = [key.public_b64]
    config.write_text(json.dumps(cfg))
    assert publish(config, doc, new_file, channel="stable") == 0
    payload = channel_payload(root, new, "stable")
    assert (payload["version"], payload["manifest_number"]) == ("1.1.0", 2)
    with pytest.raises(manifest.ManifestError):
        channel_payload(root, key, "stable")  # signed by the new key only
    assert publish(config, make_release(tmp_path / "1.2.0", key, "1.2.0", seed=3), new_file, channel="stable") == 0
    assert channel_payload(root, new, "stable")["manifest_number"] == 3
    cfg["manifest"]["trusted_keys"] = []
    config.write_text(json.dumps(cfg))
    assert publish(config, make_release(tmp_path / "1.3.0", key, "1.3.0", seed=4), new_file, channel="stable") == 1
    assert "does not verify" in capsys.readouterr().err


# --- several platforms' builds in one run ---------------------------------------------------------------------------


def test_several_platforms_are_published_as_one_release(sshd, tmp_path, key, key_file, validate_document):
    """Repeated --artifacts: one releases/<v>/ with every platform's artifact, one SHA256SUMS over all of them signed
    by the release key (sha256sum -c and the signature check pass), a merged artifacts.json, one manifest entry per
    platform-arch; the same inputs again are a no-op, byte for byte."""
    root = sshd.fresh_root("multi")
    config = write_config(tmp_path / "c.json", sftp_server(sshd, root))
    builds = [make_release(tmp_path / p, key, seed=i, changes=(p == "linux"), platform=p, arch=a)
              for i, (p, a) in enumerate([("linux", "x86_64"), ("windows", "x86_64"), ("macos", "universal")])]
    args = ["--servers", str(config), "--channel", "beta", "--signing-key", str(key_file),
            "--changes", str(builds[0].parent / "changes.json")]
    for doc in builds:
        args += ["--artifacts", str(doc)]
    assert publish_release.main(args) == 0
    release = root / "releases" / "1.2.0"
    names = sorted(json.loads(d.read_text())["artifacts"][0]["path"] for d in builds)
    assert sorted(os.listdir(release)) == sorted([*names, "RELEASE_NOTES.md", "SHA256SUMS", "SHA256SUMS.sig",
                                                  "artifacts.json"])
    for d in builds:
        name = json.loads(d.read_text())["artifacts"][0]["path"]
        assert (release / name).read_bytes() == (d.parent / name).read_bytes()
    assert subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=release, capture_output=True
                          ).returncode == 0
    merged = documents.read(release / "artifacts.json", "artifacts")
    validate_document(merged)
    assert sorted(a["path"] for a in merged["artifacts"]) == names
    assert [m["platform"] for m in merged["extra"]["merged_from"]] == ["linux", "windows", "macos"]
    artifacts.verify_folder(release, key.public_raw, lambda path, size: files.sha256_file(path))
    payload = channel_payload(root, key, "beta")
    assert sorted(payload["artifacts"]) == ["linux-x86_64", "macos-universal", "windows-x86_64"]
    assert payload["artifacts"]["windows-x86_64"]["url"].endswith(f"/releases/1.2.0/{names[2]}")
    rec = record(builds[0])
    validate_document(rec)
    before = snapshot(root)
    assert publish_release.main(args) == 0  # deterministic signature: the merged files are byte-identical
    assert snapshot(root) == before
    assert record(builds[0])["servers"][0]["status"] == "unchanged"


def test_several_artifacts_documents_must_be_one_release(tmp_path, key, key_file, capsys):
    config = write_config(tmp_path / "c.json", {"name": "local", "transport": "local", "root": str(tmp_path / "s")})
    a = make_release(tmp_path / "a", key, changes=False)
    b = make_release(tmp_path / "b", key, "1.3.0", changes=False, platform="windows")
    c = make_release(tmp_path / "c", key, seed=9, changes=False)  # same file name as a, other bytes
    for other, message in ((b, "one release per run"), (c, "with different bytes")):
        assert publish_release.main(["--servers", str(config), "--channel", "dev", "--signing-key", str(key_file),
                                     "--artifacts", str(a), "--artifacts", str(other)]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
