"""check-update, black-box (docs/security-properties.md #15-#25, #30): the client runs as a subprocess against a
repository simulator, a real HTTP server on 127.0.0.1 that logs every request and can misbehave. Each test asserts
the exit code, the state file, the download folder and the request log."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import signing, times
from releng.server import manifest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "distribution" / "check_update.py"
PLATFORM = "linux-x86_64"
PRODUCT = "audiolab-gain"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=7)
NOW = T0 + timedelta(hours=1)
DATA = b"gain plugin 1.3.0\n" * 1000

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class Simulator:
    """A ThreadingHTTPServer over `root`; `behaviours[path]` replaces the file at that path with a misbehaviour."""

    def __init__(self, root: Path) -> None:
        self.root, self.log, self.behaviours = root, [], {}
        self.stop = threading.Event()  # set by close(): a misbehaviour that stalls ends with the test
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                sim.log.append(self.path)
                path = urlsplit(self.path).path
                if path in sim.behaviours:
                    sim.behaviours[path](self)
                    return
                file = (sim.root / path.lstrip("/")).resolve()
                if not file.is_relative_to(sim.root) or not file.is_file():
                    self.send_error(404)
                    return
                send(self, file.read_bytes())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send(h: BaseHTTPRequestHandler, data: bytes, length: int | None = None) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(len(data) if length is None else length))
    h.end_headers()
    h.wfile.write(data)


def infinite(h: BaseHTTPRequestHandler) -> None:
    """No Content-Length, bytes until the client hangs up (or 1 GiB)."""
    h.send_response(200)
    h.end_headers()
    try:
        for _ in range(16384):
            h.wfile.write(b"\0" * 65536)
    except OSError:
        pass


def truncated(data: bytes) -> Behaviour:
    """Announce the full length, send half, close the connection."""
    return lambda h: send(h, data[: len(data) // 2], length=len(data))


def drip(stop: threading.Event, length: int = 100_000) -> Behaviour:
    """Headers at once, then one byte every 20 ms: each read is quick, the whole answer never comes (bounded here
    to 750 bytes, over 15 s, or until the client hangs up or the test ends)."""

    def go(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        try:
            for _ in range(750):
                h.wfile.write(b" ")
                h.wfile.flush()
                if stop.wait(0.02):
                    return
        except OSError:
            pass

    return go


def silent(stop: threading.Event) -> Behaviour:
    """Accept the request and say nothing (for at most 15 s, or until the test ends)."""
    return lambda h: stop.wait(15) and None


def redirect(location: str) -> Behaviour:
    def go(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return go


def new_key() -> signing.SigningKey:
    return signing.SigningKey(ed25519.Ed25519PrivateKey.generate())


KEY, OTHER_KEY = new_key(), new_key()


class Repo:
    """An update server's root behind the simulator, a client's state file and download folder."""

    def __init__(self, tmp: Path, validate: Callable[[dict[str, object]], None]) -> None:
        self.sim = Simulator((tmp / "server").resolve())
        self.root, self.validate = self.sim.root, validate
        self.state, self.downloads = tmp / "client" / "state.json", tmp / "client" / "downloads"
        self.state.parent.mkdir(parents=True)

    def artifact(self, version: str, data: bytes = DATA, platform: str = PLATFORM) -> dict[str, object]:
        name = f"gain-{version}-{platform}.tar.gz"
        path = self.root / "releases" / version / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return {"url": f"../releases/{version}/{name}", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def payload(self, version: str = "1.3.0", number: int = 10, channel: str = "stable", **fields: object
                ) -> dict[str, object]:
        p = manifest.build_manifest(product=PRODUCT, channel=channel, version=version,
                                    manifest_number=number, issued_at=T0,
                                    expires_at=EXPIRES, notes=f"Release {version}",
                                    artifacts={PLATFORM: self.artifact(version)})
        p.update(fields)
        return p

    def publish(self, payload: dict[str, object], name: str = "stable", key: signing.SigningKey = KEY,
                valid: bool = True, now: datetime = T0) -> bytes:
        """Sign and write channels/<name>.json; `valid=False` signs without the writer's checks (bad payloads)."""
        if valid:
            self.validate(payload)
            envelope = manifest.sign_envelope(payload, key, now=now)
        else:
            envelope = manifest.sign_payload_bytes(manifest.payload_bytes(payload), key)
        return self.serve(envelope, name)

    def serve(self, envelope: bytes, name: str = "stable") -> bytes:
        (self.root / "channels").mkdir(parents=True, exist_ok=True)
        (self.root / "channels" / f"{name}.json").write_bytes(envelope)
        return envelope

    def command(self, *extra: str, name: str = "stable", current: str = "1.2.0", client: str = "client-0001",
                now: datetime | None = NOW, keys: tuple[str, ...] | None = None, platform: str | None = PLATFORM,
                exe: list[str] | None = None, url: str | None = None, product: str | None = PRODUCT) -> list[str]:
        """The client's command line (run() starts it; a test that needs a process of its own Popens it)."""
        args = [*(exe or [sys.executable, str(SCRIPT)]),
                "--manifest-url", url or f"{self.sim.url}/channels/{name}.json",
                "--current-version", current, "--client-id", client, "--state", str(self.state),
                "--download-dir", str(self.downloads)]
        if product is not None:
            args += ["--product", product]
        for k in keys or (KEY.public_b64,):
            args += ["--public-key", k]
        if now is not None:
            args += ["--now", times.format_time(now)]
        if platform is not None:
            args += ["--platform", platform]
        return [*args, *extra]

    def run(self, *extra: str, timeout: float = 60, **options: Any) -> subprocess.CompletedProcess[str]:
        self.sim.log.clear()
        for leftover in self.downloaded():  # each run starts with an empty download folder
            (self.downloads / leftover).unlink()
        return subprocess.run(self.command(*extra, **options), capture_output=True, text=True, timeout=timeout)

    def state_bytes(self) -> bytes | None:
        return self.state.read_bytes() if self.state.exists() else None

    def downloaded(self) -> list[str]:
        return sorted(p.name for p in self.downloads.iterdir()) if self.downloads.exists() else []

    def artifact_requests(self) -> list[str]:
        return [p for p in self.sim.log if p.startswith("/releases/")]


@pytest.fixture
def repo(tmp_path: Path, validate_document) -> Iterator[Repo]:
    r = Repo(tmp_path, validate_document)
    yield r
    r.sim.close()


def accepted(repo: Repo, result: subprocess.CompletedProcess[str], version: str = "1.3.0") -> None:
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.parent == repo.downloads.resolve() and path.name == f"gain-{version}-{PLATFORM}.tar.gz"
    assert repo.downloaded() == [path.name]
    assert path.read_bytes() == (repo.root / "releases" / version / path.name).read_bytes()


def refused(repo: Repo, result: subprocess.CompletedProcess[str], state: bytes | None, code: int = 2,
            download_tried: bool = False) -> None:
    """Exit `code`, state byte-for-byte unchanged, nothing in the download folder, one-line error."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert repo.state_bytes() == state
    assert repo.downloaded() == []
    assert "Traceback" not in result.stderr
    if not download_tried:
        assert repo.artifact_requests() == []


def answered_no(repo: Repo, result: subprocess.CompletedProcess[str], envelope: bytes, channel: str = "stable"
                ) -> None:
    """Exit 1 with nothing downloaded (or asked for), and the manifest recorded: its number and envelope digest."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert repo.downloaded() == [] and repo.artifact_requests() == []
    recorded = json.loads(repo.state.read_text())["channels"][channel]
    number = manifest.verify_envelope(envelope, {KEY.key_id: KEY.public_raw})["manifest_number"]
    assert (recorded["manifest_number"], recorded["envelope_sha256"]) == (number, hashlib.sha256(envelope).hexdigest())


# --- the happy path ---------------------------------------------------------------------------------------------


def test_update_is_downloaded_verified_and_recorded(repo):
    envelope = repo.publish(repo.payload())
    result = repo.run()
    accepted(repo, result)
    assert repo.sim.log == ["/channels/stable.json", f"/releases/1.3.0/gain-1.3.0-{PLATFORM}.tar.gz"]
    state = json.loads(repo.state.read_text())
    assert state["state_version"] == 1
    assert state["channels"]["stable"]["manifest_number"] == 10
    assert state["channels"]["stable"]["envelope_sha256"] == hashlib.sha256(envelope).hexdigest()
    # No temp files; the lock file beside the state file stays (removing it would race with another client).
    assert sorted(p.name for p in repo.state.parent.iterdir()) == ["downloads", "state.json", "state.json.lock"]


def test_console_command_with_the_real_clock_and_json(repo):
    now = datetime.now(UTC).replace(microsecond=0)
    repo.publish(repo.payload(issued_at=times.format_time(now),
                              expires_at=times.format_time(now + timedelta(days=1))), now=now)
    result = repo.run("--json", now=None, exe=[str(Path(sys.executable).parent / "check-update")])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["update"] is True and out["critical"] is False and out["version"] == "1.3.0"
    assert Path(out["path"]).read_bytes() == DATA


def test_default_platform_is_this_machine(repo):
    platform = importlib.import_module("releng.distribution.client").this_platform()
    repo.publish(repo.payload(artifacts={platform: repo.artifact("1.3.0", platform=platform)}))
    result = repo.run(platform=None)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).name == f"gain-1.3.0-{platform}.tar.gz"


def test_state_file_is_replaced_by_rename(repo):
    repo.publish(repo.payload(number=10))
    accepted(repo, repo.run())
    inode = repo.state.stat().st_ino
    repo.publish(repo.payload("1.4.0", number=11))
    assert repo.run(current="1.3.0").returncode == 0
    assert repo.state.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert json.loads(repo.state.read_text())["channels"]["stable"]["manifest_number"] == 11


# --- #15: signatures (docs/security-properties.md) --------------------------------------------------------------


def _unsigned(repo: Repo) -> bytes:
    return manifest.payload_bytes(repo.payload())


def _spliced(repo: Repo) -> bytes:
    """The signature of another valid manifest pasted into this one."""
    real = json.loads(manifest.sign_envelope(repo.payload(), KEY, now=T0))
    other = json.loads(manifest.sign_envelope(repo.payload(notes="other"), KEY, now=T0))
    return json.dumps({**real, "signatures": other["signatures"]}).encode()


@pytest.mark.parametrize("make", [
    _unsigned,
    lambda r: json.dumps({**json.loads(manifest.sign_envelope(r.payload(), KEY, now=T0)), "signatures": []}).encode(),
    lambda r: b"<html>maintenance</html>",
    lambda r: b"",
    lambda r: manifest.sign_envelope(r.payload(), KEY, now=T0)[:-10],
    lambda r: manifest.sign_envelope(r.payload(), OTHER_KEY, now=T0),
    _spliced,
    lambda r: b"[" * 60_000,
], ids=["unsigned", "no-signatures", "garbage", "empty", "truncated", "wrong-key", "spliced-signature", "nested"])
def test_bad_signature_is_refused_without_download(repo, make):
    repo.serve(make(repo))
    refused(repo, repo.run(), None)
    assert repo.sim.log == ["/channels/stable.json"]


def _offset(envelope: bytes, where: str) -> int:
    doc = json.loads(envelope)
    named = {
        "first": 0, "last": len(envelope) - 1,
        "payloadType": envelope.index(b"vnd.releng"), "keyid": envelope.index(doc["signatures"][0]["keyid"].encode()),
        "payload-first": envelope.index(b'"payload":"') + 11, "payload-last": envelope.index(b'","payloadType') - 1,
        "sig-first": envelope.index(b'"sig":"') + 7, "sig-last": envelope.index(b'"}]}') - 1,
        "sig-before-padding": envelope.index(b'=="}]}') - 1,
    }
    if where in named:
        return named[where]
    i, n = map(int, where.split("/"))
    return len(envelope) * i // n


@pytest.mark.parametrize("where", ["first", "last", "payloadType", "keyid", "payload-first", "payload-last",
                                   "sig-first", "sig-last", "sig-before-padding", *[f"{i}/20" for i in range(20)]])
def test_one_flipped_byte_is_refused(repo, where):
    envelope = manifest.sign_envelope(repo.payload(), KEY, now=T0)
    flipped = bytearray(envelope)
    flipped[_offset(envelope, where)] ^= 0x01
    repo.serve(bytes(flipped))
    refused(repo, repo.run(), None)


def test_key_rotation_and_keys_from_files(repo, tmp_path):
    repo.publish(repo.payload(), key=OTHER_KEY)
    key_file = tmp_path / "new.pub"
    key_file.write_text(OTHER_KEY.public_b64 + "\n")
    accepted(repo, repo.run(keys=(KEY.public_b64, str(key_file))))


# --- #16, #17: replay and equal numbers (docs/security-properties.md) -------------------------------------------


def test_replay_of_an_older_valid_manifest_is_refused(repo):
    old = repo.publish(repo.payload("1.3.0", number=10))
    accepted(repo, repo.run(current="1.2.0"))
    repo.publish(repo.payload("1.4.0", number=11))
    assert repo.run(current="1.3.0").returncode == 0
    state = repo.state_bytes()
    repo.serve(old)  # still validly signed and unexpired
    result = repo.run(current="1.2.0")
    refused(repo, result, state)
    assert "replay" in result.stderr


def test_a_replay_cannot_undo_a_rollback_the_client_has_seen(repo):
    """Issue 12 item 2, as reported: a client on 1.1.0 (manifest #2) saw the rollback manifest #4 (exit 1, nothing to
    do) and used to keep #2, so a replay of #3 (the rolled-back 1.2.0, still unexpired) got installed. Every
    manifest the client answers from is recorded, so #3 is now a replay."""
    repo.publish(repo.payload("1.1.0", number=2))
    accepted(repo, repo.run(current="1.0.0"), "1.1.0")  # the client installs 1.1.0 and records #2
    bad = repo.publish(repo.payload("1.2.0", number=3))  # 1.2.0 is released; this client does not look ...
    rollback = repo.publish(repo.payload("1.1.0", number=4, rollback_of="1.2.0"))  # ... until it is rolled back
    answered_no(repo, repo.run(current="1.1.0"), rollback)  # exit 1: nothing to do, and #4 is recorded
    state = repo.state_bytes()
    repo.serve(bad)  # the attacker replays #3
    result = repo.run(current="1.1.0")
    refused(repo, result, state)
    assert "replayed manifest: manifest_number 3 is lower than the recorded 4" in result.stderr


def test_same_number_same_bytes_is_no_update(repo):
    repo.publish(repo.payload())
    assert repo.run().returncode == 0
    state = repo.state_bytes()
    refused(repo, repo.run(), state, code=1)


def test_same_number_different_bytes_is_refused(repo):
    repo.publish(repo.payload(notes="first"))
    assert repo.run().returncode == 0
    state = repo.state_bytes()
    repo.publish(repo.payload(notes="second"))
    refused(repo, repo.run(), state)


# --- #18: expiry (docs/security-properties.md) ------------------------------------------------------------------


@pytest.mark.parametrize(("now", "code"), [(EXPIRES - timedelta(seconds=1), 0), (EXPIRES, 2),
                                           (EXPIRES + timedelta(seconds=1), 2)])
def test_expiry_is_judged_at_one_second(repo, now, code):
    repo.publish(repo.payload())
    result = repo.run(now=now)
    if code == 0:
        accepted(repo, result)
    else:
        refused(repo, result, None)
        assert "expired" in result.stderr


# --- #19: channel (docs/security-properties.md) -----------------------------------------------------------------


def test_dev_manifest_served_at_the_stable_url_is_refused(repo):
    dev = repo.publish(repo.payload("1.4.0-dev.3", channel="dev"), name="dev")
    repo.serve(dev, "stable")
    refused(repo, repo.run(), None)
    assert repo.run("--channel", "dev").returncode == 0  # asked for dev explicitly: fine


# --- issue 12 item 5: the product -------------------------------------------------------------------------------


def test_another_products_manifest_at_our_url_is_refused(repo):
    """Two products share one key and one origin: reverb's signed stable.json served at gain's URL made the gain
    client download reverb and raised gain's stored number. Now: exit 2, nothing fetched, the state untouched."""
    repo.publish(repo.payload(number=5))
    accepted(repo, repo.run())
    state = repo.state_bytes()
    repo.publish(repo.payload("2.0.0", number=9, product="audiolab-reverb"))  # same key, higher number
    result = repo.run(current="1.3.0")
    refused(repo, result, state)
    assert "the manifest is for product 'audiolab-reverb', not 'audiolab-gain'" in result.stderr
    repo.state.unlink()
    refused(repo, repo.run(current="1.3.0"), None)  # a first check is refused alike: nothing is recorded


def test_a_manifest_without_a_product_is_refused(repo):
    payload = repo.payload()
    del payload["product"]
    repo.publish(payload, valid=False)
    result = repo.run()
    refused(repo, result, None)
    assert "product must be a project name" in result.stderr


def test_the_product_is_required(repo):
    repo.publish(repo.payload())
    result = repo.run(product=None)
    refused(repo, result, None)
    assert "--product" in result.stderr and repo.sim.log == []


def test_channel_flag_overrides_the_url(repo):
    repo.publish(repo.payload())
    refused(repo, repo.run("--channel", "beta"), None)


def test_channel_cannot_be_inferred(repo):
    repo.publish(repo.payload(), name="Manifest-v1")
    refused(repo, repo.run(name="Manifest-v1"), None)
    assert repo.sim.log == []  # bad usage: nothing fetched


# --- #20: size caps (docs/security-properties.md) ---------------------------------------------------------------


def test_oversize_manifest_is_refused_even_when_signed(repo):
    repo.publish(repo.payload(notes="x" * 70_000))
    result = repo.run()
    refused(repo, result, None)
    assert "larger than 65536" in result.stderr


def test_infinite_manifest_is_cut_off(repo):
    repo.sim.behaviours["/channels/stable.json"] = infinite
    refused(repo, repo.run(), None)


@pytest.mark.parametrize("misbehave", ["infinite", "oversize", "undersize", "truncated", "wrong-content"])
def test_misbehaving_artifact_downloads_are_refused(repo, misbehave):
    repo.publish(repo.payload())
    path = f"/releases/1.3.0/gain-1.3.0-{PLATFORM}.tar.gz"
    file = repo.root / path.lstrip("/")
    if misbehave == "infinite":
        repo.sim.behaviours[path] = infinite
    elif misbehave == "oversize":
        file.write_bytes(DATA + b"!")
    elif misbehave == "undersize":
        file.write_bytes(DATA[:-1])
    elif misbehave == "truncated":
        repo.sim.behaviours[path] = truncated(DATA)
    else:
        file.write_bytes(DATA.replace(b"1.3.0", b"6.6.6"))  # same size, other bytes (#21)
    result = repo.run()
    refused(repo, result, None, download_tried=True)
    assert repo.artifact_requests() == [path]


@pytest.mark.parametrize("where", ["manifest-drip", "manifest-silent", "artifact-drip"])
def test_a_slow_server_is_cut_at_max_time(repo, where):
    """Issue 12 item 3: per-read timeouts never fire on a server that drips a byte every 20 ms, and --max-time used
    to be checked only after each 64 KiB. The total deadline cuts the sockets: the run ends about --max-time after
    it started (bound generously here: the drip alone lasts over 15 s), with no .part file and the state as it was."""
    import time

    repo.publish(repo.payload())
    path = "/channels/stable.json" if where.startswith("manifest") else f"/releases/1.3.0/gain-1.3.0-{PLATFORM}.tar.gz"
    repo.sim.behaviours[path] = silent(repo.sim.stop) if where.endswith("silent") else drip(repo.sim.stop)
    start = time.monotonic()
    result = repo.run("--max-time", "1", "--timeout", "30", timeout=30)
    elapsed = time.monotonic() - start
    refused(repo, result, None, download_tried=where.startswith("artifact"))
    assert "no complete answer within --max-time (1 s)" in result.stderr
    assert elapsed < 8, elapsed


def test_missing_manifest_or_artifact(repo):
    refused(repo, repo.run(), None)  # 404 for the manifest
    repo.publish(repo.payload())
    (repo.root / "releases" / "1.3.0" / f"gain-1.3.0-{PLATFORM}.tar.gz").unlink()
    refused(repo, repo.run(), None, download_tried=True)


# --- #22: the state file (docs/security-properties.md) ----------------------------------------------------------


@pytest.mark.parametrize("text", [b"", b"{", b"[]", b"null", b'{"channels": {}}',
                                  b'{"state_version": 2, "channels": {}}', b'{"state_version": 1, "channels": []}',
                                  b'{"state_version": 1, "channels": {"stable": {"manifest_number": -1, '
                                  b'"envelope_sha256": "' + b"0" * 64 + b'"}}}',
                                  b'{"state_version": 1, "channels": {"stable": {"manifest_number": "9", '
                                  b'"envelope_sha256": "' + b"0" * 64 + b'"}}}',
                                  b'{"state_version": 1, "channels": {"stable": {"manifest_number": 9}}}',
                                  b'{"state_version": 1, "channels": {"stable": 9}}', b"\xff\xfe",
                                  b'{"state_version": true, "channels": {}}', b'{"state_version": 1.0, "channels": {}}',
                                  b"[" * 30000, b'{"state_version": 1, "channels": {"stable": {"manifest_number": 1'
                                  + b"0" * 5000 + b', "envelope_sha256": "' + b"0" * 64 + b'"}}}',
                                  b'{"state_version": 1, "channels": {}}' + b" " * (1 << 20)])
def test_corrupt_state_is_refused_before_any_request(repo, text):
    repo.publish(repo.payload())
    repo.state.write_bytes(text)
    result = repo.run()
    refused(repo, result, text)
    assert repo.sim.log == []
    assert "state file" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_state_file_that_is_no_regular_file_is_refused_not_waited_on(repo, kind):
    repo.publish(repo.payload())
    os.mkfifo(repo.state) if kind == "fifo" else repo.state.mkdir()
    result = repo.run(timeout=20)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the state file is not a regular file" in result.stderr
    assert repo.sim.log == [] and repo.downloaded() == []


def test_a_client_that_waited_for_the_lock_never_lowers_the_number(repo):
    """Two clients share one state file. This one verified #5 (exit 1: already on 1.3.0) while another held the
    lock and stored #7: under the lock it re-reads the file, so #5 is now a replay (exit 2) and #7 stays."""
    import fcntl
    import time

    repo.publish(repo.payload("1.3.0", number=5))
    lock = repo.state.with_name("state.json.lock")
    with lock.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(repo.command(current="1.3.0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            end = time.monotonic() + 20
            while "/channels/stable.json" not in repo.sim.log:  # it has read the (missing) state file and fetched
                assert time.monotonic() < end and proc.poll() is None, proc.poll()
                time.sleep(0.02)
            repo.state.write_text(json.dumps({"state_version": 1, "channels": {"stable": {
                "manifest_number": 7, "envelope_sha256": "7" * 64, "version": "1.3.0"}}}))  # the other client
            state = repo.state_bytes()
        except BaseException:
            proc.kill()
            raise
    out, err = proc.communicate(timeout=30)  # the lock is free again
    assert proc.returncode == 2, (out, err)
    assert "replayed manifest: manifest_number 5 is lower than the recorded 7" in err
    assert repo.state_bytes() == state


def test_concurrent_clients_on_one_state_file_keep_the_highest_number(repo):
    """Eight clients on one state file, each served another manifest number at once: whatever the order, the file
    ends holding the highest, each client answers 1 (recorded) or refuses a number lower than one already there."""
    numbers = [3, 8, 1, 6, 2, 7, 4, 5]
    envelopes = {}
    for n in numbers:
        envelopes[n] = manifest.sign_envelope(repo.payload("1.3.0", number=n), KEY, now=T0)
        (repo.root / f"c{n}" / "channels").mkdir(parents=True)
        (repo.root / f"c{n}" / "channels" / "stable.json").write_bytes(envelopes[n])
    procs = {n: subprocess.Popen(repo.command(current="1.3.0", url=f"{repo.sim.url}/c{n}/channels/stable.json"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in numbers}
    try:
        results = {n: (p.communicate(timeout=60)[1], p.returncode) for n, p in procs.items()}
    finally:
        for p in procs.values():
            p.kill()
    assert results[8][1] == 1, results[8]  # the highest is never refused
    for n, (err, code) in results.items():
        assert code == 1 or (code == 2 and "replayed manifest" in err), (n, code, err)
    stored = json.loads(repo.state.read_text())["channels"]["stable"]
    assert (stored["manifest_number"], stored["envelope_sha256"]) == (8, hashlib.sha256(envelopes[8]).hexdigest())
    assert sorted(os.listdir(repo.state.parent)) == ["state.json", "state.json.lock"]  # no temp file left


def test_a_client_killed_mid_download_leaves_state_and_destination_alone(repo):
    repo.publish(repo.payload("1.3.0", number=10))
    accepted(repo, repo.run())
    state = repo.state_bytes()
    repo.publish(repo.payload("1.4.0", number=11))
    path = f"/releases/1.4.0/gain-1.4.0-{PLATFORM}.tar.gz"
    release = threading.Event()

    def stall(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(DATA)))
        h.end_headers()
        h.wfile.write(DATA[:4096])
        h.wfile.flush()
        release.wait(10)

    repo.sim.behaviours[path] = stall
    repo.sim.log.clear()
    for leftover in repo.downloaded():
        (repo.downloads / leftover).unlink()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--manifest-url", f"{repo.sim.url}/channels/stable.json",
                             "--public-key", KEY.public_b64, "--product", PRODUCT, "--current-version", "1.3.0",
                             "--client-id", "c",
                             "--state", str(repo.state), "--download-dir", str(repo.downloads), "--platform", PLATFORM,
                             "--now", times.format_time(NOW)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while path not in repo.sim.log or not any(n.endswith(".part") for n in repo.downloaded()):
            assert datetime.now(UTC) < deadline and proc.poll() is None
            threading.Event().wait(0.02)
        proc.kill()
        proc.wait()
    finally:
        release.set()
    assert repo.state_bytes() == state  # the stored number is not touched, let alone lowered
    assert f"gain-1.4.0-{PLATFORM}.tar.gz" not in repo.downloaded()  # only the temp file may remain
    assert all(n.endswith(".part") for n in repo.downloaded())


def test_state_of_other_channels_is_kept(repo):
    beta = {"manifest_number": 99, "envelope_sha256": "0" * 64, "version": "2.0.0-beta.1"}
    repo.state.write_text(json.dumps({"state_version": 1, "channels": {"beta": beta}}))
    repo.publish(repo.payload())
    accepted(repo, repo.run())
    assert json.loads(repo.state.read_text())["channels"]["beta"] == beta


# --- #23: downgrades (docs/security-properties.md) --------------------------------------------------------------


@pytest.mark.parametrize(("version", "current", "rollback_of", "code"), [
    ("1.1.0", "1.2.0", None, 1),
    ("1.2.0", "1.2.0", None, 1),
    ("1.3.0-rc.1", "1.3.0", None, 1),
    ("1.2.0", "1.3.0", "1.3.0", 0),  # a signed rollback of the installed version
    ("1.2.0", "1.3.0", "1.4.0", 1),  # a rollback of another version is not a licence to downgrade
    ("1.3.0", "1.3.0", "1.3.0", 1),
])
def test_downgrades(repo, version, current, rollback_of, code):
    fields = {"rollback_of": rollback_of} if rollback_of else {}
    envelope = repo.publish(repo.payload(version, number=12, **fields))
    result = repo.run(current=current)
    if code == 0:
        accepted(repo, result, version)
    else:
        answered_no(repo, result, envelope)


# --- #24: unknown fields and schema versions (docs/security-properties.md) --------------------------------------


def test_unknown_fields_are_ignored(repo):
    p = repo.payload(extra={"build": "ci-77"}, delta_updates={"from": "1.2.0"})
    p["artifacts"][PLATFORM]["signature_url"] = "x.sig"
    repo.publish(p)
    accepted(repo, repo.run())


def test_unknown_schema_major_is_refused(repo):
    repo.publish(repo.payload(schema_version=2), valid=False)
    result = repo.run()
    refused(repo, result, None)
    assert "schema_version 2" in result.stderr


# --- origin and redirects ---------------------------------------------------------------------------------------


def test_artifact_on_another_host_is_never_fetched(repo, tmp_path):
    other = Simulator(tmp_path / "elsewhere")
    try:
        for url in (f"{other.url}/gain.tar.gz", "//127.0.0.2:9/gain.tar.gz", "ftp://127.0.0.1/gain.tar.gz"):
            art = {**repo.artifact("1.3.0"), "url": url}
            repo.publish(repo.payload(artifacts={PLATFORM: art}))
            refused(repo, repo.run(), None)
        assert other.log == []
    finally:
        other.close()


def test_absolute_url_on_the_same_origin_is_fine(repo):
    art = repo.artifact("1.3.0")
    art["url"] = f"{repo.sim.url}/releases/1.3.0/gain-1.3.0-{PLATFORM}.tar.gz"
    repo.publish(repo.payload(artifacts={PLATFORM: art}))
    accepted(repo, repo.run())


def test_redirects_are_not_followed(repo):
    repo.publish(repo.payload())
    path = f"/releases/1.3.0/gain-1.3.0-{PLATFORM}.tar.gz"
    repo.sim.behaviours[path] = redirect(f"{repo.sim.url}/elsewhere.tar.gz")
    refused(repo, repo.run(), None, download_tried=True)
    assert "/elsewhere.tar.gz" not in repo.sim.log


# --- #30: rollout (docs/security-properties.md) -----------------------------------------------------------------


def client_with(inside: bool, percent: int, version: str = "1.3.0") -> str:
    return next(c for c in (f"client-{i}" for i in range(10_000))
                if (manifest.bucket(c, version) < percent * 100) is inside)


def test_rollout_admits_only_clients_below_the_threshold(repo):
    envelope = repo.publish(repo.payload(rollout={"percent": 10, "halted": False}))
    result = repo.run(client=client_with(False, 10))
    answered_no(repo, result, envelope)
    assert "not in the rollout" in result.stderr
    repo.state.unlink()  # another installation, with a state file of its own
    accepted(repo, repo.run(client=client_with(True, 10)))


@pytest.mark.parametrize("rollout", [{"percent": 100, "halted": True}, {"percent": 0, "halted": False},
                                     {"halted": False}, {"percent": "ten", "halted": False},
                                     {"percent": 150, "halted": False}, {"percent": -1, "halted": False}, None])
def test_rollout_fails_closed(repo, rollout):
    envelope = repo.publish(repo.payload(rollout=rollout), valid=False)
    answered_no(repo, repo.run(client=client_with(True, 1)), envelope)


def test_critical_does_not_bypass_a_halted_or_partial_rollout(repo):
    """Pinned decision: `critical` marks the update, it never overrides the rollout (docs/update-client.md)."""
    halted = repo.publish(repo.payload(critical=True, rollout={"percent": 100, "halted": True}))
    answered_no(repo, repo.run(), halted)
    partial = repo.publish(repo.payload(critical=True, number=11, rollout={"percent": 10, "halted": False}))
    answered_no(repo, repo.run(client=client_with(False, 10)), partial)
    repo.state.unlink()  # another installation, inside the rollout
    result = repo.run("--json", client=client_with(True, 10))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["critical"] is True
    assert "critical update" in result.stderr


def test_no_artifact_for_this_platform(repo):
    envelope = repo.publish(repo.payload())
    result = repo.run(platform="windows-arm64")
    answered_no(repo, result, envelope)
    assert "windows-arm64" in result.stderr


@pytest.mark.parametrize("args", [["--now", "yesterday"], ["--current-version", "v1"], ["--client-id", ""],
                                  ["--public-key", "c2hvcnQ="]])
def test_bad_usage(repo, args):
    repo.publish(repo.payload())
    refused(repo, repo.run(*args), None)
    assert repo.sim.log == []
    assert os.listdir(repo.state.parent) == []


@pytest.mark.parametrize("args", [["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "0"], ["--timeout", "x"],
                                  ["--max-time", "nan"], ["--max-time", "inf"], ["--max-time", "0"],
                                  ["--max-time", "-3"], ["--max-time", "1e300"], ["--product", "../gain"],
                                  ["--product", ""]])
def test_bad_flags_are_one_line_and_exit_2(repo, args):
    """Issue 12 item 7: `--timeout -1` gave exit 3 and `--max-time nan` disabled the deadline."""
    repo.publish(repo.payload())
    result = repo.run(*args)
    refused(repo, result, None)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert repo.sim.log == [] and os.listdir(repo.state.parent) == []


@pytest.mark.parametrize("url", ["http://[::1/channels/stable.json", "http://127.0.0.1:99999/channels/stable.json",
                                 "http://127.0.0.1:x/channels/stable.json", "ftp://127.0.0.1/channels/stable.json",
                                 "http:///channels/stable.json", "stable.json"])
def test_bad_manifest_urls_are_one_line_and_exit_2(repo, url):
    result = repo.run(url=url)
    refused(repo, result, None)
    assert result.stderr.startswith("error: --manifest-url") and result.stderr.count("\n") == 1, result.stderr
    assert os.listdir(repo.state.parent) == []
