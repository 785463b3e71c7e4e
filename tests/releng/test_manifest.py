"""releng.server.manifest: DSSE envelopes of channel manifests, their checks, the expiry policy and the rollout
bucket."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from releng import signing, times
from releng.errors import BadInput
from releng.server import manifest

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "update-client.md"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHA = "ab" * 32

# (client_id, version) pairs whose buckets docs/update-client.md publishes for the C++ updater.
VECTOR_INPUTS = [
    ("client-0001", "1.3.0"), ("client-0002", "1.3.0"), ("client-0001", "1.3.1"),
    ("6f1c3e0a-8d5b-4c2e-9f7a-1b2c3d4e5f60", "2.0.0-rc.1"), ("", "1.0.0"), ("studio-ä", "1.0.0+build.7"),
]


def independent_bucket(client_id: str, version: str) -> int:
    """DESIGN.md's formula, written again without releng (docs/security-properties.md #26)."""
    h = hashlib.sha256(f"releng-rollout:{client_id}:{version}".encode()).digest()
    return sum(b << (8 * (7 - i)) for i, b in enumerate(h[:8])) % 10000


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return signing.SigningKey(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def other_key() -> signing.SigningKey:
    return signing.SigningKey(ed25519.Ed25519PrivateKey.generate())


def payload(**overrides):
    p = manifest.build_manifest(product="audiolab-gain",
        channel="stable", version="1.3.0", manifest_number=7, issued_at=T0, expires_at=T0 + timedelta(days=7),
        notes="Fixes the gain knob.", rollout_percent=25, artifacts={
            "linux-x86_64": {"url": "../releases/1.3.0/gain-1.3.0-linux-x86_64.tar.gz", "size": 123, "sha256": SHA},
            "macos-arm64": {"url": "../releases/1.3.0/gain-1.3.0-macos-arm64.zip", "size": 456, "sha256": "cd" * 32},
        })
    p.update(overrides)
    return p


def trusted(*keys: signing.SigningKey) -> dict[str, bytes]:
    return {k.key_id: k.public_raw for k in keys}


def reenvelope(envelope: bytes, **changes) -> bytes:
    doc = json.loads(envelope)
    doc.update(changes)
    return json.dumps(doc).encode()


def test_pae_matches_the_dsse_spec_example():
    assert manifest.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert manifest.pae("t", b"") == b"DSSEv1 1 t 0 "


def test_sign_and_verify_round_trip(key, validate_document):
    p = payload()
    validate_document(p)
    envelope = manifest.sign_envelope(p, key, now=T0)
    doc = json.loads(envelope)
    assert set(doc) == {"payload", "payloadType", "signatures"}
    assert doc["payloadType"] == "application/vnd.releng.channel-manifest+json"
    body = base64.b64decode(doc["payload"])
    assert body == json.dumps(p, sort_keys=True, separators=(",", ":")).encode()
    assert doc["signatures"] == [{"keyid": key.key_id, "sig": doc["signatures"][0]["sig"]}]
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    pae = b"DSSEv1 %d %s %d %s" % (len(doc["payloadType"]), doc["payloadType"].encode(), len(body), body)
    ed25519.Ed25519PublicKey.from_public_bytes(key.public_raw).verify(sig, pae)  # independent check
    assert manifest.verify_envelope(envelope, trusted(key)) == p
    assert not envelope.endswith(b"\n")


def test_rollback_of_is_optional_and_valid(key, validate_document):
    p = manifest.build_manifest(product="audiolab-gain", channel="beta", version="1.2.0", manifest_number=9,
                                issued_at=T0, expires_at=T0 + timedelta(days=1), artifacts={}, rollback_of="1.3.0",
                                critical=True, rollout_percent=100)
    validate_document(p)
    assert manifest.verify_envelope(manifest.sign_envelope(p, key, now=T0), trusted(key))["rollback_of"] == "1.3.0"


def test_a_signature_of_the_bare_payload_is_not_a_manifest_signature(key):
    """The PAE domain tag (docs/security-properties.md #11): a signature over the raw bytes, as SHA256SUMS.sig is
    made, never passes."""
    envelope = json.loads(manifest.sign_envelope(payload(), key, now=T0))
    body = base64.b64decode(envelope["payload"])
    envelope["signatures"][0]["sig"] = base64.b64encode(key.sign(body)).decode()
    with pytest.raises(manifest.BadSignature):
        manifest.verify_envelope(json.dumps(envelope).encode(), trusted(key))


def test_a_valid_signature_under_another_payload_type_is_refused(key):
    envelope = manifest.sign_payload_bytes(manifest.payload_bytes(payload()), key, payload_type="text/plain")
    with pytest.raises(manifest.WrongPayloadType):
        manifest.verify_envelope(envelope, trusted(key))
    forged = reenvelope(envelope, payloadType=manifest.PAYLOAD_TYPE)
    with pytest.raises(manifest.BadSignature):
        manifest.verify_envelope(forged, trusted(key))


@pytest.mark.parametrize(("field", "value"), [
    ("channel", "beta"), ("version", "1.3.1"), ("manifest_number", 8), ("issued_at", "2026-01-01T00:00:01Z"),
    ("expires_at", "2026-01-08T00:00:01Z"), ("url", "https://evil.example/x.tar.gz"), ("size", 124),
    ("sha256", "ac" * 32), ("critical", True), ("notes", "changed"), ("extra", {"unknown": 1}),
])
def test_every_field_is_covered_by_the_signature(key, field, value):
    envelope = json.loads(manifest.sign_envelope(payload(), key, now=T0))
    body = json.loads(base64.b64decode(envelope["payload"]))
    if field in ("url", "size", "sha256"):
        body["artifacts"]["linux-x86_64"][field] = value
    else:
        body[field] = value
    envelope["payload"] = base64.b64encode(manifest.payload_bytes(body)).decode()
    with pytest.raises(manifest.BadSignature):
        manifest.verify_envelope(json.dumps(envelope).encode(), trusted(key))


def test_one_flipped_byte_anywhere_is_refused(key):
    """Every offset of header, payload and signature, with three different flips (docs/security-properties.md #15)."""
    envelope = manifest.sign_envelope(payload(), key, now=T0)
    for offset in range(len(envelope)):
        for mask in (0x01, 0x06, 0x80):
            flipped = bytearray(envelope)
            flipped[offset] ^= mask
            with pytest.raises(manifest.ManifestError):
                manifest.verify_envelope(bytes(flipped), trusted(key))


@pytest.mark.parametrize(("mutate", "error"), [
    (lambda e: b"", manifest.MalformedEnvelope),
    (lambda e: b"not json", manifest.MalformedEnvelope),
    (lambda e: b"[]", manifest.MalformedEnvelope),
    (lambda e: b"\xff\xfe", manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, signatures=[]), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, signatures=None), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, signatures=[{"keyid": "x"}]), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, signatures=["sig"]), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, payload=None), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, payload="not base64!"), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, payload=json.loads(e)["payload"] + "\n"), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, payloadType=None), manifest.MalformedEnvelope),
    (lambda e: reenvelope(e, payloadType="application/vnd.in-toto+json"), manifest.WrongPayloadType),
    (lambda e: json.dumps(json.loads(base64.b64decode(json.loads(e)["payload"]))).encode(),
     manifest.MalformedEnvelope),  # the bare manifest, unsigned
])
def test_malformed_envelopes(key, mutate, error):
    with pytest.raises(error) as info:
        manifest.verify_envelope(mutate(manifest.sign_envelope(payload(), key, now=T0)), trusted(key))
    assert isinstance(info.value, BadInput) and info.value.exit_code == 2


def test_non_canonical_base64_is_refused(key):
    """'QR==' and 'QQ==' decode alike; accepting both would make envelopes malleable."""
    envelope = json.loads(manifest.sign_envelope(payload(), key, now=T0))
    sig = envelope["signatures"][0]["sig"]
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(twin) == base64.b64decode(sig)
    envelope["signatures"][0]["sig"] = twin
    with pytest.raises(manifest.MalformedEnvelope, match="canonical"):
        manifest.verify_envelope(json.dumps(envelope).encode(), trusted(key))


def test_untrusted_and_wrong_keys(key, other_key):
    envelope = manifest.sign_envelope(payload(), key, now=T0)
    with pytest.raises(manifest.UntrustedSignature):
        manifest.verify_envelope(envelope, trusted(other_key))
    with pytest.raises(manifest.UntrustedSignature):
        manifest.verify_envelope(envelope, {})
    impostor = {key.key_id: other_key.public_raw}  # the right key id, the wrong key
    with pytest.raises(manifest.BadSignature):
        manifest.verify_envelope(envelope, impostor)


def test_key_rotation_any_trusted_signature_suffices(key, other_key):
    p = payload()
    old, new = json.loads(manifest.sign_envelope(p, key, now=T0)), json.loads(manifest.sign_envelope(p, other_key,
                                                                                                       now=T0))
    both = {**old, "signatures": old["signatures"] + new["signatures"]}
    for keys in (trusted(key), trusted(other_key), trusted(key, other_key)):
        assert manifest.verify_envelope(json.dumps(both).encode(), keys) == p
    assert manifest.verify_envelope(json.dumps(new).encode(), trusted(key, other_key)) == p


@pytest.mark.parametrize(("body", "error"), [
    (b"not json", manifest.MalformedPayload),
    (b"\xff", manifest.MalformedPayload),
    (b"[1]", manifest.MalformedPayload),
    (lambda p: p.pop("schema"), manifest.WrongSchema),
    (lambda p: p.update(schema="releng/artifacts"), manifest.WrongSchema),
    (lambda p: p.update(schema_version=2), manifest.NewerSchema),
    (lambda p: p.update(schema_version=0), manifest.MalformedPayload),
    (lambda p: p.update(schema_version="1"), manifest.MalformedPayload),
    (lambda p: p.update(channel=""), manifest.MalformedPayload),
    (lambda p: p.update(version="v1.3"), manifest.MalformedPayload),
    (lambda p: p.update(manifest_number=-1), manifest.MalformedPayload),
    (lambda p: p.update(manifest_number=True), manifest.MalformedPayload),
    (lambda p: p.update(manifest_number="7"), manifest.MalformedPayload),
    (lambda p: p.update(issued_at="2026-01-01 00:00:00"), manifest.MalformedPayload),
    (lambda p: p.update(expires_at=p["issued_at"]), manifest.MalformedPayload),
    (lambda p: p.update(critical="yes"), manifest.MalformedPayload),
    (lambda p: p.update(rollback_of=5), manifest.MalformedPayload),
    (lambda p: p.update(release_statement_sha256="AB" * 32), manifest.MalformedPayload),
    (lambda p: p.update(artifacts=[]), manifest.MalformedPayload),
    (lambda p: p["artifacts"]["linux-x86_64"].update(size=-1), manifest.MalformedPayload),
    (lambda p: p["artifacts"]["linux-x86_64"].update(sha256="AB" * 32), manifest.MalformedPayload),
    (lambda p: p["artifacts"]["linux-x86_64"].pop("url"), manifest.MalformedPayload),
])
def test_malformed_payloads_are_refused_after_the_signature_check(key, body, error):
    if callable(body):
        p = payload()
        body(p)
        body = manifest.payload_bytes(p)
    envelope = manifest.sign_payload_bytes(body, key)
    with pytest.raises(error):
        manifest.verify_envelope(envelope, trusted(key))
    with pytest.raises(manifest.UntrustedSignature):  # the signature is judged first
        manifest.verify_envelope(envelope, {})


def test_unknown_fields_are_ignored_but_kept(key):
    p = payload(extra={"ab": 1}, future_field=[1, 2])
    p["artifacts"]["linux-x86_64"]["signature_url"] = "x.sig"
    assert manifest.verify_envelope(manifest.sign_envelope(p, key, now=T0), trusted(key)) == p


@pytest.mark.parametrize(("issued", "expires", "now", "ok"), [
    (T0, T0 + timedelta(days=14), T0, True),
    (T0, T0 + timedelta(days=14, seconds=1), T0, False),
    (T0, T0 + timedelta(days=1), T0 + timedelta(days=1), False),  # already expired
    (T0, T0 + timedelta(days=1), T0 + timedelta(hours=1), False),  # back-dated
    (T0, T0 + timedelta(days=1), T0 + timedelta(minutes=4), True),  # clock skew allowed
    (T0 + timedelta(hours=1), T0 + timedelta(days=1), T0, False),  # post-dated
])
def test_expiry_policy(key, issued, expires, now, ok):
    p = payload(issued_at=times.format_time(issued), expires_at=times.format_time(expires))
    if ok:
        manifest.sign_envelope(p, key, now=now)
    else:
        with pytest.raises(manifest.ExpiryPolicy):
            manifest.sign_envelope(p, key, now=now)


def test_expiry_maximum_is_configurable(key):
    p = payload(expires_at=times.format_time(T0 + timedelta(days=2)))
    with pytest.raises(manifest.ExpiryPolicy):
        manifest.sign_envelope(p, key, now=T0, max_validity=timedelta(days=1))
    manifest.sign_envelope(p, key, now=T0, max_validity=timedelta(days=2))


@pytest.mark.parametrize("change", [
    lambda p: p.update(rollout={"percent": 150, "halted": False}),
    lambda p: p.update(rollout={"percent": "ten", "halted": False}),
    lambda p: p.update(rollout={"percent": 10}),
    lambda p: p.update(channel="Stable"),
    lambda p: p.update(schema_version=2),
    lambda p: p.update(artifacts={"linux": {"url": "x", "size": 1, "sha256": SHA}}),
])
def test_writers_refuse_what_readers_would_fail_closed_on(key, change):
    p = payload()
    change(p)
    with pytest.raises(manifest.ManifestError):
        manifest.sign_envelope(p, key, now=T0)


def test_required_fields_agree_with_the_json_schema():
    schema = json.loads((ROOT / "shared" / "releng" / "schemas" / "channel-manifest.schema.json").read_text())
    assert set(schema["required"]) == manifest.REQUIRED == set(payload())


@pytest.mark.parametrize("change", [
    lambda p: p.pop("critical"),
    lambda p: p.update(rollout={"percent": 101, "halted": False}),
    lambda p: p.update(manifest_number=-1),
    lambda p: p.update(expires_at="2026-01-08"),
    lambda p: p["artifacts"].update(linux={"url": "x", "size": 1, "sha256": SHA}),
    lambda p: p["artifacts"]["linux-x86_64"].update(sha256="AB" * 32),
    lambda p: p["artifacts"]["linux-x86_64"].pop("size"),
    lambda p: p.update(release_statement_sha256="ab" * 31),
])
def test_the_json_schema_and_the_writer_both_refuse(key, validate_document, change):
    import jsonschema

    p = payload()
    change(p)
    with pytest.raises(jsonschema.ValidationError):
        validate_document(p)
    with pytest.raises(manifest.ManifestError):
        manifest.sign_envelope(p, key, now=T0)


# --- rollout (docs/security-properties.md #26-#30) ---------------------------------------------------------------


def doc_vectors() -> list[tuple[str, str, int]]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- rollout-vectors:start -->")[1].split("<!-- rollout-vectors:end -->")[0]
    rows = re.findall(r"^\| `([^`]*)` \| `([^`]*)` \| (\d+) \|$", block, re.MULTILINE)
    return [(c, v, int(b)) for c, v, b in rows]


def test_published_vectors_match_code_and_an_independent_implementation():
    vectors = doc_vectors()
    assert [(c, v) for c, v, _ in vectors] == VECTOR_INPUTS
    for client_id, version, expected in vectors:
        assert manifest.bucket(client_id, version) == expected == independent_bucket(client_id, version)


def test_bucket_is_sticky_across_processes():
    code = ("import json, sys; from releng.server import manifest; "
            "print(json.dumps([manifest.bucket(c, v) for c, v in json.load(sys.stdin)]))")
    inputs = VECTOR_INPUTS + [(f"id-{i}", "9.9.9") for i in range(50)]
    runs = [subprocess.run([sys.executable, "-c", code], input=json.dumps(inputs), capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
            for seed in ("0", "1", "random")]
    assert runs[0] == runs[1] == runs[2]
    assert json.loads(runs[0]) == [manifest.bucket(c, v) for c, v in inputs]


def rollout(percent: object, halted: object = False) -> dict[str, object]:
    return {"percent": percent, "halted": halted}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["1.0.0", "1.3.0-rc.1", "2.0.0"]),
       st.integers(0, 100), st.integers(0, 100))
def test_rollout_is_monotonic(client_id, version, p1, p2):
    low, high = sorted((p1, p2))
    if manifest.in_rollout(client_id, version, rollout(low)):
        assert manifest.in_rollout(client_id, version, rollout(high))


def test_rollout_is_uniform():
    rng = random.Random(20260101)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(100_000)]
    share = sum(manifest.in_rollout(i, "1.3.0", rollout(10)) for i in ids) / len(ids)
    assert abs(share - 0.10) <= 0.005


@pytest.mark.parametrize("percent", [0, 1, 10, 25, 50, 99, 100, 12.5])
def test_enumerating_all_buckets_gives_the_exact_count(percent):
    threshold = manifest.rollout_threshold(rollout(percent))
    assert threshold is not None
    assert sum(b < threshold for b in range(manifest.BUCKETS)) == percent * 100


def test_percent_100_takes_everybody_and_0_nobody():
    ids = [f"c{i}" for i in range(2000)]
    assert all(manifest.in_rollout(i, "1.0.0", rollout(100)) for i in ids)
    assert not any(manifest.in_rollout(i, "1.0.0", rollout(0)) for i in ids)


@pytest.mark.parametrize("value", [
    rollout(100, halted=True), rollout(0), rollout("ten"), rollout("10"), rollout(150), rollout(-1),
    rollout(None), rollout(True), rollout(float("nan")), rollout(float("inf")), rollout(100, halted="false"),
    rollout(100, halted=None), {"halted": False}, {"percent": 100}, None, [], "100", 100,
])
def test_rollout_fails_closed(value):
    assert not any(manifest.in_rollout(f"client-{i}", "1.3.0", value) for i in range(500))


def test_the_documented_envelope_vector():
    """docs/update-client.md's envelope is what this code signs with the seed 00..1f, and it verifies."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- envelope-vector:start -->")[1].split("<!-- envelope-vector:end -->")[0]
    envelope = block.strip().removeprefix("```").removesuffix("```").strip().encode()
    key = signing.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    assert key.public_b64 == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=" and key.key_id == "56475aa75463474c"
    p = manifest.build_manifest(product="audiolab-gain",
        channel="stable", version="1.3.0", manifest_number=7, issued_at=T0, expires_at=T0 + timedelta(days=7),
        rollout_percent=10, artifacts={"linux-x86_64": {
            "url": "../releases/1.3.0/gain-1.3.0-linux-x86_64.tar.gz", "size": 1024, "sha256": SHA}})
    assert manifest.sign_envelope(p, key, now=T0) == envelope
    assert manifest.verify_envelope(envelope, trusted(key)) == p
    assert f"DSSEv1 44 {manifest.PAYLOAD_TYPE} {len(manifest.payload_bytes(p))} " in text
