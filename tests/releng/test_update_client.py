"""releng.distribution.client and client_state, in-process: the flag and URL checks, the state file's reader, the
decision's order, and the test vectors of docs/update-client.md (recorded numbers, another product), which are run
through `client.check` against a real HTTP server on 127.0.0.1 and must match the docs' table byte for byte."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import http, semver, signing
from releng.distribution import client, client_state
from releng.errors import BadInput, RelengError
from releng.server import manifest

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "update-client.md"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 2, tzinfo=UTC)
HEX = "0" * 64


# --- flags and URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e300", "86400.5", "x", ""])
def test_bad_seconds(text):
    with pytest.raises(BadInput, match="--max-time"):
        client.seconds(text, "--max-time")


@pytest.mark.parametrize(("text", "value"), [("1", 1.0), ("0.25", 0.25), ("86400", 86400.0), (" 3 ", 3.0)])
def test_good_seconds(text, value):
    assert client.seconds(text, "--timeout") == value


@pytest.mark.parametrize("url", ["http://[::1/channels/stable.json", "http://h:99999/x.json", "http://h:x/x.json",
                                 "ftp://h/stable.json", "http:///stable.json", "stable.json", "file:///etc/passwd"])
def test_bad_manifest_urls(url):
    with pytest.raises(BadInput, match="--manifest-url"):
        client.check_url(url)


@pytest.mark.parametrize("url", ["http://[::1]:8080/channels/stable.json", "https://updates.example/stable.json"])
def test_good_manifest_urls(url):
    assert client.check_url(url) == url


@pytest.mark.parametrize("url", ["http://[::1/x.tar.gz", "https://elsewhere/x.tar.gz", "//elsewhere/x.tar.gz",
                                 "http://h:81/x.tar.gz"])
def test_artifact_urls_off_the_origin_or_malformed(url):
    with pytest.raises(BadInput, match="artifact URL"):
        client.artifact_url("http://h/channels/stable.json", url)


# --- the state file ---------------------------------------------------------------------------------------------


def entry(number: int, digest: str = HEX) -> dict[str, Any]:
    return {"manifest_number": number, "envelope_sha256": digest}


@pytest.mark.parametrize("data", [b'{"state_version": true, "channels": {}}', b'{"state_version": 1.0, "channels": {}}',
                                  b"[" * 30000, b'{"state_version": 1, "channels": {"s": {"manifest_number": false, '
                                  b'"envelope_sha256": "' + HEX.encode() + b'"}}}', "é".encode("latin-1"),
                                  b'{"state_version": 1, "channels": {"s": {"manifest_number": 1, '
                                  b'"envelope_sha256": "' + b"A" * 64 + b'"}}}'])
def test_corrupt_states(data):
    with pytest.raises(BadInput, match="corrupt state file"):
        client_state.parse_state(data, "state.json")


def test_the_recorded_number_is_a_floor():
    state = {"state_version": 1, "channels": {"stable": entry(4, "4" * 64), "beta": entry(9)}}
    with pytest.raises(BadInput, match="replayed manifest"):
        client_state.merged(state, "stable", entry(3, "3" * 64))
    with pytest.raises(BadInput, match="seen before with different content"):
        client_state.merged(state, "stable", entry(4, "5" * 64))
    assert client_state.merged(state, "stable", entry(4, "4" * 64)) is None  # already recorded: nothing to write
    higher = client_state.merged(state, "stable", entry(5, "5" * 64))
    assert higher == {"state_version": 1, "channels": {"stable": entry(5, "5" * 64), "beta": entry(9)}}
    assert client_state.merged(state, "dev", entry(0))["channels"]["dev"] == entry(0)  # channels are independent


def test_record_waits_for_the_lock_no_longer_than_the_deadline(tmp_path):
    import fcntl

    state = tmp_path / "state.json"
    with (tmp_path / "state.json.lock").open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RelengError, match="locked by another client"):
            client_state.record(state, "stable", entry(1), http.Deadline(0.2))
    assert not state.exists()
    client_state.record(state, "stable", entry(1), http.Deadline(5))
    assert json.loads(state.read_text())["channels"]["stable"] == entry(1)


# --- the decision's order ---------------------------------------------------------------------------------------


def payload(**fields: Any) -> dict[str, Any]:
    p = manifest.build_manifest(product="audiolab-gain", channel="stable", version="1.3.0", manifest_number=7,
                                issued_at=T0, expires_at=T0 + timedelta(days=7), artifacts={})
    return {**p, **fields}


ASK = client.Ask(product="audiolab-gain", channel="stable", current=semver.parse("1.2.0"), client_id="c",
                 platform="linux-x86_64")


@pytest.mark.parametrize(("fields", "last", "message"), [
    # several faults at once: the first in the documented order is the one reported
    ({"product": "reverb", "channel": "beta", "expires_at": "2026-01-01T12:00:00Z"}, entry(9), "product 'reverb'"),
    ({"channel": "beta", "expires_at": "2026-01-01T12:00:00Z"}, entry(9), "channel 'beta'"),
    ({"expires_at": "2026-01-01T12:00:00Z"}, entry(9), "expired"),
    ({}, entry(9), "replayed manifest"),
])
def test_refusals_come_in_the_documented_order(fields, last, message):
    with pytest.raises(BadInput, match=message):
        client.decide(payload(**fields), HEX, last, ASK, NOW)


def test_every_answer_but_already_handled_is_recorded():
    assert client.decide(payload(), HEX, entry(7), ASK, NOW) == client.Decision(
        False, "no update: manifest 7 was already handled", record=False)
    assert client.decide(payload(version="1.2.0"), HEX, None, ASK, NOW).record
    assert client.decide(payload(rollout={"percent": 0, "halted": False}), HEX, None, ASK, NOW).record
    no_platform = client.decide(payload(), HEX, entry(6), ASK, NOW)
    assert (no_platform.update, no_platform.record) == (False, True)


# --- the documented vectors: recorded numbers and another product -----------------------------------------------

KEY = signing.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
ARTIFACT = bytes(1024)  # 1024 zero bytes
PRODUCT = "audiolab-gain"


@dataclass(frozen=True)
class Served:
    """A manifest of the vectors: the envelope vector's payload with these fields changed."""

    label: str
    number: int
    version: str
    product: str = PRODUCT
    rollback_of: str | None = None
    percent: int = 100
    notes: str = ""

    def payload(self) -> dict[str, Any]:
        name = f"gain-{self.version}-linux-x86_64.tar.gz"
        return manifest.build_manifest(
            product=self.product, channel="stable", version=self.version, manifest_number=self.number,
            issued_at=T0, expires_at=T0 + timedelta(days=7), notes=self.notes, rollout_percent=self.percent,
            rollback_of=self.rollback_of, artifacts={"linux-x86_64": {
                "url": f"../releases/{self.version}/{name}", "size": len(ARTIFACT),
                "sha256": hashlib.sha256(ARTIFACT).hexdigest()}})

    def envelope(self) -> bytes:
        return manifest.sign_envelope(self.payload(), KEY, now=T0)

    def changes(self) -> str:
        out = [f"`manifest_number` {self.number}", f"`version` {self.version}"]
        if self.product != PRODUCT:
            out.insert(0, f"`product` {self.product}")
        if self.rollback_of:
            out.append(f"`rollback_of` {self.rollback_of}")
        if self.percent != 100:
            out.append(f"`rollout.percent` {self.percent}")
        if self.notes:
            out.append(f'`notes` "{self.notes}"')
        return ", ".join(out)


MANIFESTS = {m.label: m for m in [
    Served("A", 2, "1.1.0"),
    Served("B", 3, "1.2.0"),
    Served("C", 4, "1.1.0", rollback_of="1.2.0"),
    Served("C'", 4, "1.1.0", rollback_of="1.2.0", notes="other bytes"),
    Served("R", 9, "2.0.0", product="audiolab-reverb"),
    Served("E", 5, "1.3.0", percent=10),  # client-0001's bucket for 1.3.0 is 3931: outside 10 %
    Served("F", 6, "1.3.0", percent=50),  # ... and inside 50 %
]}

# (installed, state before: a manifest label or None, served, exit, answer, the words the client's message holds)
STEPS = [
    ("1.0.0", None, "A", 0, "update to 1.1.0; recorded once its download verified", "downloaded and verified"),
    ("1.1.0", "A", "C", 1, "no update: 1.1.0 is not newer (the rollback is of 1.2.0); recorded", "not newer"),
    ("1.1.0", "C", "B", 2, "refused: replay (3 < 4); nothing written", "replayed manifest"),
    ("1.1.0", "C", "R", 2, "refused: another product; nothing written", "for product 'audiolab-reverb'"),
    ("1.1.0", "C", "C'", 2, "refused: number 4 with other bytes; nothing written", "with different content"),
    ("1.1.0", "C", "C", 1, "no update: already handled; nothing written", "already handled"),
    ("1.1.0", "C", "E", 1, "no update: not in the rollout; recorded", "not in the rollout"),
    ("1.1.0", "E", "F", 0, "update to 1.3.0; recorded once its download verified", "downloaded and verified"),
    ("1.0.0", None, "R", 2, "refused: another product; nothing written", "for product 'audiolab-reverb'"),
]


@pytest.fixture
def origin() -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTP server on 127.0.0.1 serving the dict it yields (path -> bytes)."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()


def _state_of(label: str | None, envelopes: dict[str, bytes]) -> bytes | None:
    if label is None:
        return None
    m = MANIFESTS[label]
    state = {"state_version": 1, "channels": {"stable": {
        "manifest_number": m.number, "envelope_sha256": hashlib.sha256(envelopes[label]).hexdigest(),
        "version": m.version, "recorded_at": "2026-01-02T00:00:00Z"}}}
    return (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()


def _label(state: bytes | None, envelopes: dict[str, bytes]) -> str:
    if state is None:
        return "none"
    recorded = json.loads(state)["channels"]["stable"]
    [label] = [k for k, e in envelopes.items() if hashlib.sha256(e).hexdigest() == recorded["envelope_sha256"]]
    assert recorded["manifest_number"] == MANIFESTS[label].number
    return f"{MANIFESTS[label].number} {label}"


def render(envelopes: dict[str, bytes], rows: list[str]) -> str:
    lines = ["| manifest | fields changed | sha256 of the envelope |", "|---|---|---|"]
    lines += [f"| {m.label} | {m.changes()} | `{hashlib.sha256(envelopes[m.label]).hexdigest()}` |"
              for m in MANIFESTS.values()]
    lines += ["", "| step | installed | state before | served | exit | answer | state after |",
              "|---|---|---|---|---|---|---|", *rows]
    return "\n".join(lines)


def test_the_documented_state_vectors(origin, tmp_path):
    """docs/update-client.md's vectors: each step runs the whole client (client.check) over HTTP with the state
    before written to a file; the exit, the message and the state file after are what the table says."""
    base, files = origin
    envelopes = {label: m.envelope() for label, m in MANIFESTS.items()}
    for m in MANIFESTS.values():
        files[f"/releases/{m.version}/gain-{m.version}-linux-x86_64.tar.gz"] = ARTIFACT
    rows = []
    for step, (installed, before, served, code, answer, words) in enumerate(STEPS, start=1):
        state, downloads = tmp_path / f"state-{step}.json", tmp_path / f"dl-{step}"
        if (data := _state_of(before, envelopes)) is not None:
            state.write_bytes(data)
        files["/channels/stable.json"] = envelopes[served]
        ask = client.Ask(product=PRODUCT, channel="stable", current=semver.parse(installed), client_id="client-0001",
                         platform="linux-x86_64")
        request = client.Request(manifest_url=f"{base}/channels/stable.json", trusted={KEY.key_id: KEY.public_raw},
                                 ask=ask, state=state, download_dir=downloads, timeout=10, deadline=http.Deadline(30),
                                 now=NOW)
        try:
            outcome = client.check(request)
            got, message = (0 if outcome.update else 1), outcome.message
        except RelengError as e:
            got, message = 2, str(e)
        assert (got, words in message) == (code, True), (step, message)
        after = state.read_bytes() if state.exists() else None
        if "nothing written" in answer:
            assert after == data, step
        assert (downloads / f"gain-{MANIFESTS[served].version}-linux-x86_64.tar.gz").exists() is (code == 0)
        rows.append(f"| {step} | {installed} | {_label(data, envelopes)} | {served} | {code} | {answer} | "
                    f"{_label(after, envelopes)} |")
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- state-vectors:start -->\n")[1].split("\n<!-- state-vectors:end -->")[0]
    assert block == render(envelopes, rows), "docs/update-client.md's state vectors: paste\n" + render(envelopes, rows)


def test_the_attack_table_names_tests_that_exist():
    """Every test the docs' attack table names is a test function of the file it names."""
    section = DOC.read_text(encoding="utf-8").split("## Attacks and defences", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(test_\w+\.py)::(\w+)", section)
    assert len(named) > 15
    files = {p.name: p.read_text() for p in (ROOT / "tests").rglob("test_*.py")}
    missing = [f"{f}::{t}" for f, t in named if f"def {t}(" not in files.get(f, "")]
    assert missing == []
