"""Channel manifests: the signed `releng/channel-manifest` payload in a DSSE envelope, its checks, and the rollout.

DESIGN.md's trust model. A channel file (`channels/<channel>.json`) is a DSSE envelope
(https://github.com/secure-systems-lab/dsse):
`{"payload": "<base64>", "payloadType": PAYLOAD_TYPE, "signatures": [{"keyid": "<16 hex>", "sig": "<base64>"}]}`
where each signature is Ed25519 over `PAE(payloadType, payload bytes)`. The payload type is the domain tag: a
SHA256SUMS signature (over the file's bytes) can never pass as a manifest signature (docs/security-properties.md #11).

Writers are strict (`sign_envelope` validates the payload, the rollout and the expiry window); readers
(`verify_envelope`) check the signature before they look at anything in the payload, refuse what they cannot trust
with a `ManifestError` (exit 2), ignore unknown fields (still covered by the signature), and treat a garbled rollout
as "nobody is in" (`in_rollout`), never as "everybody". docs/update-client.md specifies the client side.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from releng import names, semver, signing, times
from releng.errors import BadInput

if TYPE_CHECKING:
    from releng.signing import SigningKey

PAYLOAD_TYPE = "application/vnd.releng.channel-manifest+json"
SCHEMA = "releng/channel-manifest"
SCHEMA_VERSION = 1
MAX_VALIDITY = timedelta(days=14)  # docs/security-properties.md #13
CLOCK_SKEW = timedelta(minutes=5)  # how far issued_at may lie from the writer's clock
BUCKETS = 10_000
ROLLOUT_TAG = b"releng-rollout:"
REQUIRED = frozenset(("schema", "schema_version", "product", "channel", "version", "manifest_number", "issued_at",
                      "expires_at",
                      "notes", "rollout", "critical", "artifacts"))  # what the JSON Schema requires

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLATFORM_KEY = re.compile(r"[a-z][a-z0-9_]*-[a-z0-9_]+")


class ManifestError(BadInput):
    """A channel manifest that cannot be trusted or used; the subclass names the reason (its message prefix)."""

    reason = "bad channel manifest"

    def __init_subclass__(cls, reason: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.reason = reason or cls.reason

    def __init__(self, what: str, where: str | None = None) -> None:
        super().__init__(f"{self.reason}: {what}", where)


# One class per reason, so that a caller (or a test) can tell them apart: exit 2 for every one of them.
class MalformedEnvelope(ManifestError, reason="malformed DSSE envelope"): ...
class WrongPayloadType(ManifestError, reason="wrong DSSE payloadType"): ...
class UntrustedSignature(ManifestError, reason="no signature by a trusted key"): ...
class BadSignature(ManifestError, reason="bad signature"): ...
class MalformedPayload(ManifestError, reason="malformed channel manifest"): ...
class WrongSchema(ManifestError, reason="not a channel manifest"): ...
class NewerSchema(ManifestError, reason="channel manifest schema too new"): ...
class ExpiryPolicy(ManifestError, reason="refusing to sign"): ...


# --- the payload ------------------------------------------------------------------------------------------------


def build_manifest(*, product: str, channel: str, version: str, manifest_number: int, issued_at: datetime,
                   expires_at: datetime, artifacts: Mapping[str, Mapping[str, Any]], notes: str = "",
                   rollout_percent: float = 100, halted: bool = False, critical: bool = False,
                   rollback_of: str | None = None, release_statement_sha256: str | None = None) -> dict[str, Any]:
    """The manifest payload (unsigned). `artifacts` maps `<platform>-<arch>` to {url, size, sha256}; `product` is
    the release's project name, which a client requires to be its own (two products may share a key and an origin:
    docs/update-client.md). `release_statement_sha256` names the release's signed SHA256SUMS by its sha256 (issue
    15): a client with a root requires it, so a channel key cannot pair a manifest with another statement."""
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "product": product,
        "channel": channel,
        "version": version,
        "manifest_number": manifest_number,
        "issued_at": times.format_time(issued_at),
        "expires_at": times.format_time(expires_at),
        "notes": notes,
        "rollout": {"percent": rollout_percent, "halted": halted},
        "critical": critical,
        "artifacts": {key: {"url": a["url"], "size": a["size"], "sha256": a["sha256"]}
                      for key, a in sorted(artifacts.items())},
    }
    if rollback_of is not None:
        payload["rollback_of"] = rollback_of
    if release_statement_sha256 is not None:
        payload["release_statement_sha256"] = release_statement_sha256
    return payload


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, compact separators, UTF-8 (the bytes that are base64'd and signed)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def check_payload(payload: Mapping[str, Any], where: str = "channel manifest") -> None:
    """The fields a client relies on have the right types; unknown fields are allowed. MalformedPayload if not."""

    def bad(what: str) -> MalformedPayload:
        return MalformedPayload(what, where)

    if not names.is_safe_name(payload.get("product")):
        raise bad(f"product must be a project name ([A-Za-z0-9._+~-], no '..'), found {payload.get('product')!r}")
    if not isinstance(payload.get("channel"), str) or not payload["channel"]:
        raise bad("channel must be a non-empty string")
    if not isinstance(payload.get("version"), str) or not semver.is_valid(payload["version"]):
        raise bad(f"version must be a SemVer string, found {payload.get('version')!r}")
    if not _is_int(payload.get("manifest_number")) or payload["manifest_number"] < 0:
        raise bad("manifest_number must be a non-negative integer")
    try:
        issued, expires = times.parse_time(payload.get("issued_at")), times.parse_time(payload.get("expires_at"))
    except BadInput as e:
        raise bad(f"issued_at/expires_at: {e.what}") from None
    if expires <= issued:
        raise bad("expires_at must be later than issued_at")
    if not isinstance(payload.get("critical", False), bool):
        raise bad("critical must be true or false")
    if not isinstance(payload.get("notes", ""), str):
        raise bad("notes must be a string")
    rollback_of = payload.get("rollback_of")
    if rollback_of is not None and not (isinstance(rollback_of, str) and semver.is_valid(rollback_of)):
        raise bad("rollback_of must be a SemVer string")
    statement = payload.get("release_statement_sha256")
    if statement is not None and not (isinstance(statement, str) and _SHA256.fullmatch(statement)):
        raise bad("release_statement_sha256 must be 64 lowercase hex digits")
    artifacts = payload.get("artifacts")
    if not isinstance(artifacts, dict):
        raise bad("artifacts must be an object keyed by <platform>-<arch>")
    for key, art in artifacts.items():
        if not isinstance(art, dict):
            raise bad(f"artifact {key!r} must be an object")
        if not isinstance(art.get("url"), str) or not art["url"]:
            raise bad(f"artifact {key!r}: url must be a non-empty string")
        if not _is_int(art.get("size")) or art["size"] < 0:
            raise bad(f"artifact {key!r}: size must be a non-negative integer")
        if not isinstance(art.get("sha256"), str) or not _SHA256.fullmatch(art["sha256"]):
            raise bad(f"artifact {key!r}: sha256 must be 64 lowercase hex digits")


def check_expiry_policy(payload: Mapping[str, Any], now: datetime, max_validity: timedelta = MAX_VALIDITY,
                        skew: timedelta = CLOCK_SKEW) -> None:
    """Refuse a validity window longer than `max_validity`, an expired manifest, or a back- or post-dated one."""
    issued = times.parse_time(payload["issued_at"], "issued_at")
    expires = times.parse_time(payload["expires_at"], "expires_at")
    if expires - issued > max_validity:
        raise ExpiryPolicy(f"expires_at - issued_at is {expires - issued}, more than the maximum {max_validity}")
    fmt = times.format_time
    if expires <= now:
        raise ExpiryPolicy(f"the manifest expired at {fmt(expires)}, before now ({fmt(now)})")
    if issued < now - skew:
        raise ExpiryPolicy(f"issued_at {fmt(issued)} is back-dated (now is {fmt(now)})")
    if issued > now + skew:
        raise ExpiryPolicy(f"issued_at {fmt(issued)} lies in the future (now is {fmt(now)})")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- the DSSE envelope ------------------------------------------------------------------------------------------


pae = signing.pae  # DSSE's pre-authentication encoding, shared with root documents (releng.trust)


def sign_payload_bytes(body: bytes, key: SigningKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """An envelope over arbitrary bytes (no checks): compact JSON with sorted keys and no trailing newline."""
    envelope = {
        "payload": base64.b64encode(body).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(key.sign(pae(payload_type, body))).decode()}],
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode("ascii")


def cosign(envelope: bytes, key: SigningKey) -> bytes:
    """`envelope` with one more signature by `key` over the same payload: a channel role whose threshold is above 1
    needs one per key (issue 15). No checks: what is signed was checked by `sign_envelope`."""
    doc = json.loads(envelope)
    body = base64.b64decode(doc["payload"])
    sig = {"keyid": key.key_id, "sig": base64.b64encode(key.sign(pae(doc["payloadType"], body))).decode()}
    doc["signatures"] = [s for s in doc["signatures"] if s["keyid"] != key.key_id] + [sig]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign_envelope(payload: Mapping[str, Any], key: SigningKey, *, now: datetime | None = None,
                  max_validity: timedelta = MAX_VALIDITY) -> bytes:
    """Check and sign a manifest payload; the envelope's bytes. ManifestError if the payload is not publishable."""
    if payload.get("schema") != SCHEMA or payload.get("schema_version") != SCHEMA_VERSION:
        raise WrongSchema(f"expected {SCHEMA} schema_version {SCHEMA_VERSION}")
    missing = sorted(REQUIRED - payload.keys())
    if missing:
        raise MalformedPayload(f"missing {', '.join(missing)}")
    check_payload(payload)
    if not names.is_channel(payload["channel"]):
        raise MalformedPayload(f"channel {payload['channel']!r} must match {names.CHANNEL.pattern}")
    for name in payload["artifacts"]:
        if not _PLATFORM_KEY.fullmatch(name):
            raise MalformedPayload(f"artifact key {name!r} must be <platform>-<arch>")
    rollout = payload.get("rollout")
    if not isinstance(rollout, dict) or not isinstance(rollout.get("halted"), bool) or rollout_threshold(
            {**rollout, "halted": False}) is None:
        raise MalformedPayload("rollout must be {\"percent\": 0..100, \"halted\": true|false}")
    check_expiry_policy(payload, now or datetime.now(UTC), max_validity)
    return sign_payload_bytes(payload_bytes(payload), key)


def verify_envelope(envelope: bytes, trusted_keys: Mapping[str, bytes], where: str = "channel manifest",
                    threshold: int = 1) -> dict[str, Any]:
    """Verify the signature, then parse and check the payload (in that order). `trusted_keys`: key id -> raw key.
    `threshold`: how many distinct trusted keys must sign (the root's `channel` role, issue 15; one signature
    twice by one key counts once).

    Raises a ManifestError subclass: MalformedEnvelope, WrongPayloadType, UntrustedSignature, BadSignature,
    MalformedPayload, WrongSchema or NewerSchema.
    """
    try:
        doc = json.loads(envelope)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nested too deeply
        raise MalformedEnvelope("not JSON", where) from None
    if not isinstance(doc, dict):
        raise MalformedEnvelope("not a JSON object", where)
    if not isinstance(doc.get("payloadType"), str) or not isinstance(doc.get("payload"), str):
        raise MalformedEnvelope("payloadType and payload must be strings", where)
    if doc["payloadType"] != PAYLOAD_TYPE:
        raise WrongPayloadType(f"expected {PAYLOAD_TYPE}, found {doc['payloadType']!r}", where)
    body = _b64(doc["payload"], "payload", where)
    sigs = doc.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise MalformedEnvelope("signatures must be a non-empty list", where)
    message, tried, good = pae(PAYLOAD_TYPE, body), 0, set()
    for sig in sigs:
        if not isinstance(sig, dict) or not isinstance(sig.get("keyid"), str) or not isinstance(sig.get("sig"), str):
            raise MalformedEnvelope("each signature must be {\"keyid\": str, \"sig\": str}", where)
        raw = _b64(sig["sig"], "sig", where)
        public = trusted_keys.get(sig["keyid"])
        if public is None:
            continue
        tried += 1
        if signing.verify(public, raw, message):
            good.add(sig["keyid"])
            if len(good) >= threshold:
                return _parse_payload(body, where)
    if good:
        raise UntrustedSignature(f"{len(good)} of the {threshold} channel signatures needed verify", where)
    if tried:
        raise BadSignature(f"the signature by key {sigs[0].get('keyid')!r} does not verify", where)
    keyids = ", ".join(repr(s["keyid"]) for s in sigs)
    raise UntrustedSignature(f"signed by {keyids}; trusted: {', '.join(sorted(trusted_keys)) or 'none'}", where)


def _b64(text: str, field: str, where: str) -> bytes:
    """Strict, canonical base64 (signing.canonical_b64decode); MalformedEnvelope otherwise."""
    raw = signing.canonical_b64decode(text)
    if raw is None:
        raise MalformedEnvelope(f"{field} is not canonical base64", where)
    return raw


def _parse_payload(body: bytes, where: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply (a signed payload can be garbled too)
        raise MalformedPayload("the payload is not UTF-8 JSON", where) from None
    if not isinstance(payload, dict):
        raise MalformedPayload("the payload is not a JSON object", where)
    if payload.get("schema") != SCHEMA:
        raise WrongSchema(f"expected schema {SCHEMA!r}, found {payload.get('schema')!r}", where)
    version = payload.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MalformedPayload(f"schema_version must be a positive integer, found {version!r}", where)
    if version > SCHEMA_VERSION:
        raise NewerSchema(f"schema_version {version} is newer than this client's {SCHEMA_VERSION}", where)
    check_payload(payload, where)
    return payload


def envelope_digest(envelope: bytes) -> str:
    return hashlib.sha256(envelope).hexdigest()


# --- rollout ----------------------------------------------------------------------------------------------------


def bucket(client_id: str, version: str) -> int:
    """First 8 bytes of sha256("releng-rollout:" + client_id + ":" + version), big-endian, modulo 10000."""
    digest = hashlib.sha256(ROLLOUT_TAG + client_id.encode("utf-8") + b":" + version.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def rollout_threshold(rollout: object) -> float | None:
    """percent x 100 for a well-formed, not halted rollout; None (nobody is in) for anything else."""
    if not isinstance(rollout, dict) or rollout.get("halted") is not False:
        return None
    percent = rollout.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        return None
    if not (isinstance(percent, int) or math.isfinite(percent)) or not 0 <= percent <= 100:
        return None
    return float(percent) * 100  # IEEE-754 double, as in the C++ client: bucket < percent * 100.0


def in_rollout(client_id: str, version: str, rollout: object) -> bool:
    """Whether the client is offered `version`: fail-closed when halted, missing or garbled."""
    threshold = rollout_threshold(rollout)
    return threshold is not None and bucket(client_id, version) < threshold
