"""One update-server chain against every kind of server: a local folder, the session's sshd, and an S3 bucket (the
moto server of tests/s3kit.py), plus what only a bucket has: conditional writes, 412s, resumed multipart uploads,
unreachable buckets and bad credentials (issue 16).

Each test reads the server back through releng.server.connect, the transport publish-release used, so the same
assertions hold for all kinds; check-update reads the bucket over HTTP.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from releng._scripts.distribution import promote_release, publish_release
from releng._scripts.rollback import rollback_release
from releng.errors import ExternalError
from releng.server import connect, layout, manifest, s3
from testkit import make_release

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "sftp", "s3"])
def server(request, tmp_path) -> dict[str, Any]:
    """A `servers[]` entry of each kind, its root empty."""
    if request.param == "local":
        return {"name": "local", "transport": "local", "root": str(tmp_path / "server"),
                "base_url": "http://localhost:8000"}
    if request.param == "sftp":
        sshd = request.getfixturevalue("sshd")
        return {"name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
                "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts),
                "root": str(sshd.fresh_root("kinds")), "base_url": "https://primary.example"}
    return request.getfixturevalue("s3_bucket").spec()


def write_config(path: Path, *servers: dict, base_url: str = "https://updates.example") -> Path:
    path.write_text(json.dumps({"servers": list(servers), "channels": ["dev", "beta", "stable"],
                                "manifest": {"expires_days": 7, "base_url": base_url}}))
    return path


def publish(config: Path, doc: Path, key_file: Path, channel: str = "dev") -> int:
    return publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", channel,
                                 "--signing-key", str(key_file), "-q"])


def payload(spec: dict, key, channel: str) -> dict:
    t = connect.open_server(spec, create=False)
    try:
        return manifest.verify_envelope(t.read_bytes(f"channels/{channel}.json"), {key.key_id: key.public_raw})
    finally:
        t.close()


def test_publish_promote_rollback_on_every_kind(server, tmp_path, key, key_file):
    config = write_config(tmp_path / "c.json", server)
    docs = {v: make_release(tmp_path / v, key, v, seed=i) for i, v in enumerate(("1.2.0", "1.3.0"))}
    for v, doc in docs.items():
        assert publish(config, doc, key_file) == 0
        assert publish(config, doc, key_file) == 0  # the same bytes again: a no-op
        for to in ("beta", "stable"):
            assert promote_release.main(["--servers", str(config), v, "--to", to, "--signing-key",
                                         str(key_file), "-q"]) == 0
    assert payload(server, key, "stable")["version"] == "1.3.0"
    t = connect.open_server(server, create=False)
    try:
        assert sorted(layout.released_versions(t)) == ["1.2.0", "1.3.0"]
        assert t.stat("releases/latest") is not None and t.readlink("releases/latest") == "1.3.0"
        name = "gain-1.3.0-linux-x86_64.tar.gz"
        assert t.hash_file(f"releases/1.3.0/{name}")[1] == json.loads(docs["1.3.0"].read_text())["artifacts"][0][
            "sha256"]
    finally:
        t.close()
    assert rollback_release.main(["--servers", str(config), "--signing-key", str(key_file), "1.3.0", "--reason",
                                  "crashes", "-q"]) == 0
    assert payload(server, key, "stable")["version"] == "1.2.0"
    t = connect.open_server(server, create=False)
    try:
        assert layout.released_versions(t) == ["1.2.0"]
        assert t.readlink("releases/latest") == "1.2.0"
        (q,) = layout.quarantined(t, "1.3.0")
        assert "artifacts.json" in t.listdir(q)
    finally:
        t.close()


def test_other_bytes_under_a_published_version_are_refused(server, tmp_path, key, key_file, capsys):
    config = write_config(tmp_path / "c.json", server)
    assert publish(config, make_release(tmp_path / "a", key, "1.2.0", seed=1), key_file) == 0
    capsys.readouterr()
    assert publish(config, make_release(tmp_path / "b", key, "1.2.0", seed=2), key_file) == 2
    assert "different bytes" in capsys.readouterr().err


def test_mixed_mirrors_sftp_and_bucket_get_the_same_transaction(sshd, s3_bucket, tmp_path, key, key_file):
    sftp = {"name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts),
            "root": str(sshd.fresh_root("mixed")), "base_url": "https://primary.example"}
    bucket = s3_bucket.spec()
    config = write_config(tmp_path / "c.json", sftp, bucket)
    assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file) == 0
    assert payload(sftp, key, "dev") == payload(bucket, key, "dev")


# --- what only a bucket has -------------------------------------------------------------------------------------


def test_check_update_reads_the_bucket_over_http(s3_bucket, tmp_path, key, key_file):
    config = write_config(tmp_path / "c.json", s3_bucket.spec(), base_url=s3_bucket.base_url)
    assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file, channel="stable") == 0
    run = subprocess.run([sys.executable, str(ROOT / "distribution" / "check_update.py"), "--manifest-url",
                          f"{s3_bucket.base_url}/channels/stable.json", "--current-version", "1.1.0",
                          "--client-id", "client-0001", "--state", str(tmp_path / "state.json"),
                          "--download-dir", str(tmp_path / "dl"), "--public-key", key.public_b64,
                          "--platform", "linux-x86_64", "--product", "gain"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "dl" / "gain-1.2.0-linux-x86_64.tar.gz").exists()


def test_cache_headers_per_object_kind(s3_bucket, tmp_path, key, key_file):
    config = write_config(tmp_path / "c.json", s3_bucket.spec())
    assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file, channel="stable") == 0
    head = s3_bucket.client.head_object
    assert head(Bucket=s3_bucket.name, Key="releases/1.2.0/SHA256SUMS")["CacheControl"] == s3.IMMUTABLE
    for key_ in ("channels/stable.json", "releases/latest", "channels/history.jsonl"):
        assert head(Bucket=s3_bucket.name, Key=key_)["CacheControl"] == "no-cache", key_


def test_a_manifest_changed_since_it_was_read_is_refused_with_412(s3_bucket):
    a = connect.open_server(s3_bucket.spec())
    b = connect.open_server(s3_bucket.spec())
    a.write_bytes("channels/x.json", b"0")
    assert a.read_bytes("channels/x.json") == b.read_bytes("channels/x.json") == b"0"
    a.replace_bytes("channels/x.json", b"a")  # the winner
    with pytest.raises(ExternalError, match="changed by another writer"):
        b.replace_bytes("channels/x.json", b"b")  # read "0", the server has "a": refused, nothing lost
    assert s3_bucket.get("channels/x.json") == b"a"
    b.read_bytes("channels/x.json")  # a retry from the new state succeeds
    b.replace_bytes("channels/x.json", b"ab")
    assert s3_bucket.get("channels/x.json") == b"ab"
    assert not a.mkdir("channels") or not a.mkdir("channels")  # mkdir is create-only: a mutex


def test_an_interrupted_multipart_upload_resumes_and_is_never_listed(s3_bucket, tmp_path, key, key_file,
                                                                     monkeypatch):
    monkeypatch.setattr(s3, "PART", 5 << 20)  # S3's smallest part: a 12 MiB artifact is three parts
    doc = make_release(tmp_path / "r", key, "1.2.0", size=12 << 20)
    config = write_config(tmp_path / "c.json", s3_bucket.spec())
    calls = {"n": 0}
    original = s3.S3Transport._multipart

    def killed(self, local, rel, total, sha):  # the parts go up, then the process "dies" before completing
        calls["n"] += 1
        upload_id, _ = self._resumable(self._key(rel))
        if upload_id is None:
            upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self._key(rel),
                                                        ChecksumAlgorithm="SHA256", Metadata={s3.SHA: sha})["UploadId"]
        with open(local, "rb") as f:
            data = f.read(s3.PART)
        import base64
        import hashlib
        self.s3.upload_part(Bucket=self.bucket, Key=self._key(rel), UploadId=upload_id, PartNumber=1, Body=data,
                            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode())
        raise OSError("killed")

    monkeypatch.setattr(s3.S3Transport, "_multipart", killed)
    assert publish(config, doc, key_file) == 2
    t = connect.open_server(s3_bucket.spec())
    assert layout.released_versions(t) == [] and t.stat("channels/dev.json") is None
    monkeypatch.setattr(s3.S3Transport, "_multipart", original)
    assert publish(config, doc, key_file) == 0
    assert layout.released_versions(t) == ["1.2.0"] and calls["n"] == 1
    sent = json.loads((doc.parent / "publish.json").read_text())["servers"][0]["bytes_sent"]
    assert 7 << 20 <= sent < 8 << 20  # parts 2 and 3 of the artifact (7 MiB) and the small files: part 1 kept
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads") is None


@pytest.mark.slow  # botocore's backoff after the 503 is most of its time
def test_throttling_is_retried_with_backoff(s3_bucket, tmp_path, key, key_file):
    """A real HTTP proxy in front of moto answers the first PUTs with 503 SlowDown, as S3 does when throttling."""
    seen = {"503": 0}

    class Throttling(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # answers botocore's Expect: 100-continue at once

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "PUT" and seen["503"] < 1:
                seen["503"] += 1
                reply = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                self.send_response(503)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
            up = http.client.HTTPConnection(urlsplit(s3_bucket.endpoint).netloc, timeout=30)
            up.request(self.command, self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "expect"})
            r = up.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", r.getheader("Content-Length", "0") if self.command == "HEAD"
                             else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            up.close()

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any  # noqa: N815 - http.server's naming

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
        config = write_config(tmp_path / "c.json", s3_bucket.spec(endpoint_url=endpoint))
        assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file) == 0
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert seen["503"] == 1
    assert "releases/1.2.0/artifacts.json" in set(s3_bucket.keys())


def test_missing_bucket_and_wrong_credentials_are_one_line_errors(s3_bucket, tmp_path, key, key_file, capsys,
                                                                 monkeypatch):
    doc = make_release(tmp_path / "r", key, "1.2.0")
    config = write_config(tmp_path / "c.json", s3_bucket.spec(bucket="no-such-bucket"))
    assert publish(config, doc, key_file) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    config = write_config(tmp_path / "c.json", s3_bucket.spec())
    assert publish(config, doc, key_file) == 2
    err = capsys.readouterr().err
    assert "credentials" in err and "testing-secret" not in err


@pytest.mark.parametrize(("over", "message"), [({"secret_access_key": "x"}, "unknown key"),
                                                ({"root": "/srv"}, "not a key of a s3 server"),
                                                ({"bucket": None}, "bucket")])
def test_bad_s3_configs_exit_2(s3_bucket, tmp_path, key, key_file, capsys, over, message):
    spec = {k: v for k, v in {**s3_bucket.spec(), **over}.items() if v is not None}
    config = write_config(tmp_path / "c.json", spec)
    assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file) == 2
    assert message in capsys.readouterr().err


def test_a_missing_sftp_key_file_is_named(sshd, tmp_path, key, key_file, capsys):
    missing = tmp_path / "no-such-key"
    spec = {"name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(missing), "known_hosts": str(sshd.known_hosts), "root": str(sshd.fresh_root("nokey")),
            "base_url": "https://primary.example"}
    config = write_config(tmp_path / "c.json", spec)
    assert publish(config, make_release(tmp_path / "r", key, "1.2.0"), key_file) == 2
    err = capsys.readouterr().err
    assert "key_file" in err and str(missing) in err


def test_a_file_that_does_not_hash_as_expected_is_never_created(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(s3, "PART", 5 << 20)
    t = connect.open_server(s3_bucket.spec())
    for size in (1000, 6 << 20):  # single PUT, and multipart (hashed while the parts go up, then aborted)
        path = tmp_path / f"f{size}"
        path.write_bytes(b"x" * size)
        up = t.put_file(path, f"releases/1.0.0/f{size}", "0" * 64)
        assert up.sha256 != "0" * 64 and t.stat(f"releases/1.0.0/f{size}") is None
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads") is None


def test_readers_never_fail_during_a_rollback_on_the_bucket(s3_bucket, tmp_path, key, key_file):
    """Issue 16: "0 failed client reads" while a rollback quarantines a release on a bucket. A reader polls the
    stable manifest over HTTP and downloads what it offers; every manifest it gets verifies and every artifact it
    names is there, before, during and after the rollback (the originals go only after no manifest offers them)."""
    import urllib.request

    from releng.distribution import client

    config = write_config(tmp_path / "c.json", s3_bucket.spec(), base_url=s3_bucket.base_url)
    for i, v in enumerate(("1.2.0", "1.3.0")):
        assert publish(config, make_release(tmp_path / v, key, v, seed=i), key_file, channel="stable") == 0
    url = f"{s3_bucket.base_url}/channels/stable.json"
    trusted = {key.key_id: key.public_raw}
    stop = threading.Event()
    failures: list[str] = []
    seen: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    offered = manifest.verify_envelope(resp.read(), trusted)
                art = offered["artifacts"]["linux-x86_64"]
                with urllib.request.urlopen(client.artifact_url(url, art["url"]), timeout=10) as resp:
                    if len(resp.read()) != art["size"]:
                        failures.append(f"{offered['version']}: short artifact")
                seen.append(offered["version"])
            except Exception as e:  # noqa: BLE001 - every failure of a reader counts
                failures.append(repr(e))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        while len(seen) < 3 and not failures:  # the reader is reading 1.3.0 before the rollback starts
            threading.Event().wait(0.01)
        assert rollback_release.main(["--servers", str(config), "--signing-key", str(key_file), "1.3.0",
                                      "--reason", "crashes", "-q"]) == 0
        count = len(seen)
        while len(seen) < count + 3 and not failures:  # and it goes on reading 1.2.0 after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        poller.join(timeout=30)
    assert failures == []
    assert seen[0] == "1.3.0" and seen[-1] == "1.2.0"


def test_watch_health_rolls_back_a_crashing_release_on_the_bucket(s3_bucket, tmp_path, key, key_file, capsys):
    """watch-health works against a bucket exactly as against a folder (issue 16): it halts and rolls back."""
    from releng._scripts.rollback import watch_health

    spec = s3_bucket.spec()
    config = write_config(tmp_path / "c.json", spec, base_url=s3_bucket.base_url)
    for i, v in enumerate(("1.2.0", "1.3.0")):
        assert publish(config, make_release(tmp_path / v, key, v, seed=i), key_file, channel="stable") == 0
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"versions": {"1.3.0": {"sessions": 1000, "crashes": 50, "clients": 200}}}))
    assert watch_health.main(["--servers", str(config), "--feed", str(feed), "--once", "--signing-key",
                              str(key_file)]) == 0
    stable = payload(spec, key, "stable")
    assert (stable["version"], stable.get("rollback_of")) == ("1.2.0", "1.3.0")
    t = connect.open_server(spec, create=False)
    try:
        assert layout.released_versions(t) == ["1.2.0"] and len(layout.quarantined(t, "1.3.0")) == 1
    finally:
        t.close()
    assert "rollback" in capsys.readouterr().err
