"""The update server as an HTTP client sees it: docs/security-properties.md #1, #6 and #7, and "a new manifest is
visible over HTTP within 1 s of the upload's completion" (docs/update-server.md, "What an HTTP client sees").

Everything is written through the session's real OpenSSH sshd (tests/conftest.py) into a root that a real HTTP
server serves (http.server's ThreadingHTTPServer in a thread, keep-alive, following symlinks as nginx and Apache do
by default). The pollers are HTTP clients in threads; they judge every response they get, not a sample.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from releng._scripts.distribution import check_update, publish_release
from releng.server import layout, manifest, transport
from releng.server.sftp import SftpTransport
from testkit import LoggingTransport, make_release

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "distribution" / "publish_release.py"
ARTIFACT = "gain-{v}-linux-x86_64.tar.gz"


# --- a real HTTP server over the root, and pollers ------------------------------------------------------------


class Quiet(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a poller reuses its connection, as a CDN edge or a client would

    def log_message(self, *args: object) -> None:
        pass


class RootServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def http_root(sshd) -> Iterator[tuple[Path, RootServer]]:
    root = sshd.fresh_root("http")
    server = RootServer(root)
    yield root, server
    server.shutdown()
    server.server_close()


class Poller(threading.Thread):
    """GETs each path in turn until stopped; `judge(path, status, body)` returns a complaint or None."""

    def __init__(self, server: RootServer, paths: list[str], judge: Callable[[str, int, bytes], str | None]) -> None:
        super().__init__(daemon=True)
        self.port, self.paths, self.judge = server.server_address[1], paths, judge
        self.stop = threading.Event()
        self.complaints: list[str] = []
        self.statuses: dict[tuple[str, int], int] = {}

    def get(self, conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        return resp.status, resp.read()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            for path in self.paths:
                try:
                    status, body = self.get(conn, path)
                except (OSError, http.client.HTTPException) as e:
                    self.complaints.append(f"{path}: {type(e).__name__}: {e}")
                    conn.close()
                    continue
                self.statuses[(path, status)] = self.statuses.get((path, status), 0) + 1
                complaint = self.judge(path, status, body)
                if complaint:
                    self.complaints.append(f"{path}: {complaint}")
        conn.close()

    def seen(self, path: str, status: int) -> int:
        return self.statuses.get((path, status), 0)

    def finish(self) -> None:
        self.stop.set()
        self.join(60)
        assert not self.is_alive()


# --- releases ---------------------------------------------------------------------------------------------------


def write_config(path: Path, sshd, root: Path, base_url: str) -> Path:
    server = {"name": "primary", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
              "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts), "root": str(root),
              "base_url": base_url}
    path.write_text(json.dumps({"servers": [server], "channels": ["dev", "beta", "stable"],
                                "manifest": {"expires_days": 7, "base_url": base_url}}))
    return path


def sftp(sshd, root: Path) -> SftpTransport:
    return SftpTransport("sftp", host=sshd.host, port=sshd.port, user=sshd.user, root=str(root),
                         known_hosts=str(sshd.known_hosts), key_file=str(sshd.client_key), base_url="http://x")


# --- #1 (docs/security-properties.md) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_publishes_are_never_served_half_uploaded_and_resume(sshd, http_root, tmp_path, key, key_file):
    """Items 1 and 4: kill -9 the publisher at 20 random byte offsets of a 48 MiB upload to the loopback sshd.

    Throughout, an HTTP poller asks for the artifact, SHA256SUMS(.sig), the artifacts document and the channel
    manifest: every answer is a 404 or the complete, right bytes (a manifest: one that verifies and names this
    release). On disk releases/1.2.0 is absent after every kill. The final run completes; it sends no more than the
    missing bytes plus one chunk, and the poller then gets a 200 for every path.
    """
    root, server = http_root
    size = 48 << 20
    doc = make_release(tmp_path / "dist", key, size=size, changes=False)
    config = write_config(tmp_path / "c.json", sshd, root, server.base)
    name = ARTIFACT.format(v="1.2.0")
    expected = {f"releases/1.2.0/{n}": hashlib.sha256((doc.parent / n).read_bytes()).hexdigest()
                for n in (name, "SHA256SUMS", "SHA256SUMS.sig", "artifacts.json")}
    trusted = {key.key_id: key.public_raw}

    def judge(path: str, status: int, body: bytes) -> str | None:
        if status == 404:
            return None
        if status != 200:
            return f"HTTP {status}"
        if path in expected:
            digest = hashlib.sha256(body).hexdigest()
            return None if digest == expected[path] else f"200 for {len(body)} bytes that are not the release's"
        try:
            payload = manifest.verify_envelope(body, trusted)
        except manifest.ManifestError as e:
            return f"200 for a manifest that does not verify: {e}"
        art = payload["artifacts"]["linux-x86_64"]
        return None if (payload["version"], art["size"]) == ("1.2.0", size) else f"unexpected manifest {payload}"

    poller = Poller(server, [*expected, "channels/dev.json"], judge)
    poller.start()
    rng = random.Random(7)
    cmd = [sys.executable, str(SCRIPT), "--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
           "--signing-key", str(key_file)]
    release, partial, offsets = root / "releases" / "1.2.0", None, []
    try:
        while len(offsets) < 20:
            have = partial.stat().st_size if partial is not None else 0
            offset = have + rng.randrange(128 << 10, 1 << 20)  # a random byte offset past the partial file's end
            assert offset < size - (1 << 20), f"upload finished before 20 kills ({offsets})"
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None:  # watch the incoming file grow on the server, kill once it passes the offset
                partial = partial or next(root.glob(f"releases/.incoming/*/{name}"), None)
                if partial is not None and partial.exists() and partial.stat().st_size >= offset:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.0005)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            assert not release.exists()
            offsets.append(offset)
        time.sleep(0.3)  # let sshd finish the write requests it had already received
        partial = next(root.glob(f"releases/.incoming/*/{name}"))
        have = partial.stat().st_size
        assert poller.complaints == []
        assert all(poller.seen(p, 200) == 0 for p in [*expected, "channels/dev.json"])
        out = tmp_path / "publish.json"
        assert subprocess.run([*cmd, "--out", str(out)], capture_output=True).returncode == 0
        deadline = time.monotonic() + 15  # the poller needs one full round after the publish; generous bound
        while any(poller.seen(p, 200) == 0 for p in [*expected, "channels/dev.json"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.finish()
    assert poller.complaints == []
    assert all(poller.seen(p, 200) > 0 for p in [*expected, "channels/dev.json"]), poller.statuses
    assert hashlib.sha256((release / name).read_bytes()).hexdigest() == expected[f"releases/1.2.0/{name}"]
    small = sum((doc.parent / n).stat().st_size for n in ("SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"))
    sent = json.loads(out.read_text())["servers"][0]["bytes_sent"]
    assert size - have <= sent <= size - have + small + transport.CHUNK


@pytest.mark.slow
def test_publishers_killed_at_random_moments_never_expose_a_partial_release_or_manifest(sshd, http_root, tmp_path,
                                                                                       key, key_file):
    """Item 1 over every phase, not only the artifact's bytes: 20 publishes of successive versions, each killed -9
    shortly after one of five points seen on the server (upload started, half uploaded, renamed into releases/,
    channel lock taken, manifest replaced), so kills land in the upload, the rename, the manifest write and the
    history append; a run that finishes first is not killed. An HTTP poller of
    the channel manifest follows every manifest it is served to the artifact and SHA256SUMS it names: each must be a
    200 with exactly the signed bytes (#10: no manifest names a release the server lacks). A lock a killed
    publisher held is removed by hand, as docs/update-server.md tells an operator; the last rerun completes."""
    root, server = http_root
    config = write_config(tmp_path / "c.json", sshd, root, server.base)
    trusted = {key.key_id: key.public_raw}
    fetch = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    versions = [f"1.0.{i}" for i in range(20)]
    sums = {}
    for i, v in enumerate(versions):
        doc = make_release(tmp_path / v, key, v, size=4_000_000, seed=i, changes=False)
        sums[v] = (doc.parent / "SHA256SUMS").read_bytes()
    served: list[str] = []

    def judge(_path: str, status: int, body: bytes) -> str | None:
        if status == 404:
            return None
        try:
            payload = manifest.verify_envelope(body, trusted)
        except manifest.ManifestError as e:
            return f"HTTP {status}, {len(body)} bytes that do not verify: {e}"
        art, v = payload["artifacts"]["linux-x86_64"], payload["version"]
        served.append(v)
        for rel, want in ((art["url"].removeprefix(server.base), art["sha256"]),
                          (f"/releases/{v}/SHA256SUMS", hashlib.sha256(sums[v]).hexdigest())):
            fetch.request("GET", rel)
            resp = fetch.getresponse()
            data = resp.read()
            if resp.status != 200 or hashlib.sha256(data).hexdigest() != want:
                return f"manifest {v} names {rel}, served as HTTP {resp.status} with {len(data)} other bytes"
        return None

    poller = Poller(server, ["channels/dev.json"], judge)
    poller.start()
    rng = random.Random(11)
    killed = 0
    manifest_path = root / "channels" / "dev.json"

    def moments(v: str, before: bytes | None) -> list[Callable[[], bool]]:
        """Observable points of a run, in order; the kill follows one of them after a random pause."""
        return [lambda: any(root.glob(f"releases/.incoming/{v}.*")),
                lambda: any(p.stat().st_size > 2_000_000 for p in root.glob(f"releases/.incoming/{v}.*/gain-*")),
                lambda: (root / "releases" / v).exists(),
                lambda: (root / "channels" / ".lock").exists(),
                lambda: manifest_path.exists() and manifest_path.read_bytes() != before]

    try:
        for i, v in enumerate(versions):
            cmd = [sys.executable, str(SCRIPT), "--servers", str(config), "--artifacts", str(tmp_path / v /
                   "artifacts.json"), "--channel", "dev", "--signing-key", str(key_file)]
            moment = moments(v, manifest_path.read_bytes() if manifest_path.exists() else None)[i % 5]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None:
                if moment():
                    time.sleep(rng.uniform(0, 0.003))
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.0002)
            killed += proc.wait() == -signal.SIGKILL
            release = root / "releases" / v
            assert not release.exists() or sorted(os.listdir(release)) == sorted(
                [f"gain-{v}-linux-x86_64.tar.gz", "SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"])
            for lock in (root / "channels" / ".lock", root / "releases" / ".locks" / v):
                if lock.is_dir():
                    lock.rmdir()  # the operator's step after a publisher died holding it
        assert subprocess.run(cmd, capture_output=True).returncode == 0
        deadline = time.monotonic() + 15  # one more poll after the last publish; generous bound
        while (not served or served[-1] != versions[-1]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.finish()
        fetch.close()
    assert poller.complaints == []
    assert killed >= 8, "too few runs were killed to mean anything"
    assert served and served[-1] == versions[-1]


# --- #6 (docs/security-properties.md) ---------------------------------------------------------------------------


def test_latest_always_resolves_over_http_during_1000_switches(sshd, http_root):
    """Item 6: `releases/latest` switched 1000 times over SFTP; an HTTP poller of latest/f never gets a 404."""
    root, server = http_root
    t = sftp(sshd, root)
    try:
        for v in ("1.0.0", "1.1.0"):
            transport.mkdirs(t, f"releases/{v}")
            t.write_bytes(f"releases/{v}/f", v.encode())
        layout.point_latest(t, "1.0.0")
        poller = Poller(server, ["releases/latest/f"],
                        lambda _p, status, body: None if (status, body) in ((200, b"1.0.0"), (200, b"1.1.0"))
                        else f"HTTP {status} {body[:40]!r}")
        poller.start()
        try:
            for i in range(1000):
                layout.point_latest(t, ("1.1.0", "1.0.0")[i % 2])
        finally:
            poller.finish()
    finally:
        t.close()
    assert poller.complaints == []
    assert poller.seen("releases/latest/f", 200) > 0
    assert os.readlink(root / "releases" / "latest") == "1.0.0"
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.1.0", "latest"]  # no temp links left behind


def test_publish_release_never_unlinks_latest_or_a_manifest(tmp_path, key, key_file, monkeypatch):
    """Items 6 and 7 through publish-release itself: three stable publishes, every change to `releases/latest` and
    `channels/stable.json` is a rename of a fresh temp entry over it; nothing ever removes or writes them in place."""
    root = tmp_path / "server"
    root.mkdir()
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(publish_release, "open_server", lambda spec: LoggingTransport(spec["name"], root, calls))
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"servers": [{"name": "log", "transport": "local", "root": str(root)}],
                                  "manifest": {"expires_days": 7, "base_url": "https://u.example"}}))
    for i, v in enumerate(("1.0.0", "1.1.0", "1.2.0")):
        doc = make_release(tmp_path / v, key, v, seed=i, changes=False)
        assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "stable",
                                     "--signing-key", str(key_file)]) == 0
    guarded = ("releases/latest", "channels/stable.json")
    touching = [c for c in calls if any(g in c[1:] for g in guarded)]
    assert [c[0] for c in touching] == ["posix_rename"] * 6
    for c in touching:
        before = calls[calls.index(c) - 1]
        assert before[0] in ("symlink", "write_bytes") and before[-1] == c[1]  # a fresh temp entry, renamed over
    assert os.readlink(root / "releases" / "latest") == "1.2.0"
    assert [c for c in calls if c[0] == "remove"] == []


# --- #7 and visibility (docs/security-properties.md) ----------------------------------------------------------


def test_manifest_rewrites_over_sftp_never_serve_a_truncated_or_unverifiable_manifest(sshd, http_root, key):
    """Item 7: 1000 rewrites through the SFTP transport (temp file + posix_rename each); an HTTP poller verifies
    every manifest it is served, and the numbers it sees never go down."""
    root, server = http_root
    now = datetime.now(UTC).replace(microsecond=0)
    trusted = {key.key_id: key.public_raw}
    envelopes = [manifest.sign_envelope(manifest.build_manifest(product="audiolab-gain",
        channel="dev", version="1.0.0", manifest_number=n, issued_at=now, expires_at=now + timedelta(days=1),
        notes="x" * (n % 7 * 1000), artifacts={}), key, now=now) for n in range(1, 1001)]
    numbers: list[int] = []

    def judge(_path: str, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        try:
            number = manifest.verify_envelope(body, trusted)["manifest_number"]
        except manifest.ManifestError as e:
            return f"{len(body)} bytes that do not verify: {e}"
        if numbers and number < numbers[-1]:
            return f"manifest_number went down from {numbers[-1]} to {number}"
        numbers.append(number)
        return None

    t = sftp(sshd, root)
    try:
        transport.mkdirs(t, "channels")
        transport.write_atomic(t, "channels/dev.json", envelopes[0])
        poller = Poller(server, ["channels/dev.json"], judge)
        poller.start()
        try:
            for env in envelopes[1:]:
                transport.write_atomic(t, "channels/dev.json", env)
        finally:
            poller.finish()
    finally:
        t.close()
    assert poller.complaints == []
    assert manifest.verify_envelope((root / "channels" / "dev.json").read_bytes(), trusted)["manifest_number"] == 1000
    assert len(set(numbers)) > 1, "the poller never read while the manifest was being rewritten"
    assert os.listdir(root / "channels") == ["dev.json"]  # no temp files left behind


def test_a_published_manifest_is_served_by_the_first_request_after_publish(sshd, http_root, tmp_path, key,
                                                                          key_file, monkeypatch):
    """"Visible over HTTP within 1 s of the upload's completion": the manifest rename is the last SFTP request
    publish-release waits for before it returns, so the very first GET after it returns must already serve the new
    manifest (0 s on the origin; a CDN's delay is bounded by the purge, tested in test_publish_release.py). No time
    is measured, so a loaded machine cannot make this flaky. Then check-update, over the same HTTP server, downloads
    and verifies the release."""
    root, server = http_root
    config = write_config(tmp_path / "c.json", sshd, root, server.base)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    trusted = {key.key_id: key.public_raw}
    for number, version in enumerate(("1.2.0", "1.3.0"), start=1):
        doc = make_release(tmp_path / version, key, version, seed=number, changes=False)
        assert publish_release.main(["--servers", str(config), "--artifacts", str(doc), "--channel", "dev",
                                     "--signing-key", str(key_file)]) == 0
        conn.request("GET", "/channels/dev.json")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        payload = manifest.verify_envelope(body, trusted)
        assert (payload["version"], payload["manifest_number"]) == (version, number)
    conn.close()
    state, downloads = tmp_path / "state.json", tmp_path / "dl"
    downloads.mkdir()
    code = check_update.main(["--manifest-url", f"{server.base}/channels/dev.json", "--public-key", key.public_b64,
                              "--product", "gain", "--current-version", "1.2.0", "--client-id", "c1",
                              "--state", str(state), "--platform", "linux-x86_64", "--download-dir", str(downloads),
                              "-q"])
    assert code == 0
    [got] = os.listdir(downloads)
    assert (downloads / got).read_bytes() == (tmp_path / "1.3.0" / ARTIFACT.format(v="1.3.0")).read_bytes()
