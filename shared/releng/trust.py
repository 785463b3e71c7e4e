"""The root of trust (issue 15): who may sign what, with thresholds, and its chained rotation.

TUF's roles in our small DSSE documents. A root document (`trust/<version>.root.json`, the newest also as
`trust/root.json`) is a DSSE envelope of payload type ROOT_PAYLOAD_TYPE whose payload names, per role (`root`,
`release`, `channel`), Ed25519 public keys and a threshold. `release` (offline) signs a release's SHA256SUMS,
`channel` (online) signs channel manifests, `root` signs the next root. Key id = sha256 of the 32 raw public key
bytes, 64 lowercase hex; a signature whose `keyid` is the 16-digit short id (what manifests carry) names the same key.

Verification counts **distinct key ids** whose signature verifies (one key signing twice is one signature), and a
document that could make a threshold meaningless (threshold 0, above the key count, a key listed twice, a key type
other than ed25519) is refused, never "trusted by nobody" or "by anybody". Version N+1 is accepted only when a
threshold of N's root keys and a threshold of its own root keys sign it and its version is exactly N+1
(`verify_update`): a stolen set of new keys alone cannot rotate, and no version is skipped.
docs/update-client.md specifies the algorithm and holds the test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from releng import signing, times
from releng.errors import BadInput

if TYPE_CHECKING:
    from releng.signing import SigningKey

ROOT_PAYLOAD_TYPE = "application/vnd.audiolab.root+json"
SCHEMA = "releng/root"
SCHEMA_VERSION = 1
ROLES = ("root", "release", "channel")
KEY_TYPE = "ed25519"
MAX_ROOT_BYTES = 64 * 1024
_HEX64 = frozenset("0123456789abcdef")


class TrustError(BadInput):
    """A root document, or a signature threshold, that cannot be trusted (exit 2)."""


def full_key_id(public_raw: bytes) -> str:
    """sha256 of the raw 32-byte public key, 64 lowercase hex (the id in root documents)."""
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class Role:
    """A role's keys (full key id -> raw public key) and how many distinct ones must sign."""

    keys: Mapping[str, bytes]
    threshold: int

    @property
    def short_ids(self) -> dict[str, bytes]:
        """16-hex key id -> raw key: what `releng.server.manifest.verify_envelope` and manifests use."""
        return {signing.key_id(raw): raw for raw in self.keys.values()}

    def key_for(self, keyid: str) -> tuple[str, bytes] | None:
        """The key a signature's `keyid` names (full or 16-digit short id), or None."""
        if keyid in self.keys:
            return keyid, self.keys[keyid]
        for full, raw in self.keys.items():
            if len(keyid) == 16 and full[:16] == keyid:
                return full, raw
        return None


@dataclass(frozen=True)
class Root:
    """A parsed, structurally valid root payload (not by itself proof that it is signed)."""

    version: int
    expires: datetime
    roles: Mapping[str, Role]
    payload: Mapping[str, Any]

    def expired(self, now: datetime) -> bool:
        return now >= self.expires


# --- the payload ------------------------------------------------------------------------------------------------


def role_entry(publics: Sequence[bytes], threshold: int) -> dict[str, Any]:
    """A role's JSON: `{"keys": [{"keyid", "keytype", "public"}], "threshold"}` (checked by `parse_root`)."""
    return {"keys": [{"keyid": full_key_id(raw), "keytype": KEY_TYPE, "public": signing.public_key_to_b64(raw)}
                     for raw in publics],
            "threshold": threshold}


def build_root(version: int, expires: datetime, roles: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A root payload; `roles` maps each of ROLES to a `role_entry`. Checked, so that nothing unusable is signed."""
    payload = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "version": version,
               "expires": times.format_time(expires), "roles": {name: dict(roles[name]) for name in ROLES}}
    parse_root(payload)
    return payload


def parse_root(payload: object, where: str = "root") -> Root:
    """Check a root payload's structure; TrustError for anything a threshold could not be counted on."""

    def bad(what: str) -> TrustError:
        return TrustError(f"bad root document: {what}", where)

    if not isinstance(payload, dict) or payload.get("schema") != SCHEMA:
        raise bad(f"expected schema {SCHEMA!r}")
    if not _is_int(payload.get("schema_version")) or payload["schema_version"] < 1:
        raise bad("schema_version must be a positive integer")
    if payload["schema_version"] > SCHEMA_VERSION:
        raise bad(f"schema_version {payload['schema_version']} is newer than this reader's {SCHEMA_VERSION}")
    if not _is_int(payload.get("version")) or payload["version"] < 1:
        raise bad("version must be an integer >= 1")
    try:
        expires = times.parse_time(payload.get("expires"), "expires")
    except BadInput as e:
        raise bad(f"expires: {e.what}") from None
    roles = payload.get("roles")
    if not isinstance(roles, dict):
        raise bad("roles must be an object")
    parsed = {}
    for name in ROLES:
        parsed[name] = _parse_role(roles.get(name), name, bad)
    return Root(payload["version"], expires, parsed, payload)


def _parse_role(entry: object, name: str, bad: Any) -> Role:
    if not isinstance(entry, dict) or not isinstance(entry.get("keys"), list):
        raise bad(f"role {name!r} must be {{\"keys\": [...], \"threshold\": N}}")
    keys: dict[str, bytes] = {}
    for key in entry["keys"]:
        if not isinstance(key, dict) or key.get("keytype") != KEY_TYPE:
            kind = key.get("keytype") if isinstance(key, dict) else None
            raise bad(f"role {name!r}: unknown key type {kind!r} (only {KEY_TYPE!r})")
        try:
            public = key.get("public")
            raw = signing.public_key_from_b64(public if isinstance(public, str) else "")
        except BadInput:
            raise bad(f"role {name!r}: public must be base64 of 32 bytes") from None
        if base64.b64encode(raw).decode() != key["public"]:
            raise bad(f"role {name!r}: public is not canonical base64")
        keyid = full_key_id(raw)
        if key.get("keyid") != keyid:
            raise bad(f"role {name!r}: keyid must be sha256 of the raw public key ({keyid})")
        if keyid in keys:
            raise bad(f"role {name!r}: key {keyid[:16]} is listed twice")
        keys[keyid] = raw
    threshold = entry.get("threshold")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise bad(f"role {name!r}: threshold must be an integer >= 1, found {threshold!r}")
    if threshold > len(keys):
        raise bad(f"role {name!r}: threshold {threshold} is more than its {len(keys)} keys")
    return Role(keys, threshold)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- the envelope -----------------------------------------------------------------------------------------------


pae = signing.pae  # DSSE's pre-authentication encoding, as for channel manifests


def sign_root(payload: Mapping[str, Any], keys: Iterable[SigningKey]) -> bytes:
    """The root envelope signed by each of `keys` (full key ids). Signing is deterministic (Ed25519)."""
    body = payload_bytes(payload)
    parse_root(json.loads(body))
    envelope = {"payload": base64.b64encode(body).decode("ascii"), "payloadType": ROOT_PAYLOAD_TYPE,
                "signatures": []}
    out = _dump(envelope)
    for key in keys:
        out = add_signature(out, key)
    return out


def add_signature(envelope: bytes, key: SigningKey) -> bytes:
    """`envelope` with one more signature, by `key` (replacing that key's earlier one): signatures gathered on
    separate machines reach a threshold without the keys ever meeting."""
    doc, body = _open(envelope, "root")
    sig = base64.b64encode(key.sign(pae(ROOT_PAYLOAD_TYPE, body))).decode("ascii")
    keyid = full_key_id(key.public_raw)
    sigs = [s for s in doc["signatures"] if s.get("keyid") != keyid] + [{"keyid": keyid, "sig": sig}]
    return _dump({**doc, "signatures": sorted(sigs, key=lambda s: s["keyid"])})


def _dump(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")


def _b64(text: object, field: str, where: str) -> bytes:
    """Strict canonical base64, as for manifests (no two texts decode alike)."""
    if not isinstance(text, str):
        raise TrustError(f"malformed root envelope: {field} must be a string", where)
    raw = signing.canonical_b64decode(text)
    if raw is None:
        raise TrustError(f"malformed root envelope: {field} is not canonical base64", where)
    return raw


def _open(envelope: bytes, where: str) -> tuple[dict[str, Any], bytes]:
    if len(envelope) > MAX_ROOT_BYTES:
        raise TrustError(f"root document larger than {MAX_ROOT_BYTES} bytes", where)
    try:
        doc = json.loads(envelope)
    except (ValueError, RecursionError):
        raise TrustError("malformed root envelope: not JSON", where) from None
    if not isinstance(doc, dict) or doc.get("payloadType") != ROOT_PAYLOAD_TYPE:
        raise TrustError(f"not a root document (payloadType must be {ROOT_PAYLOAD_TYPE})", where)
    sigs = doc.get("signatures")
    if not isinstance(sigs, list) or not all(isinstance(s, dict) and isinstance(s.get("keyid"), str)
                                             for s in sigs):
        raise TrustError("malformed root envelope: signatures must be a list of {keyid, sig}", where)
    return doc, _b64(doc.get("payload"), "payload", where)


def signers(body: bytes, payload_type: str, signatures: Sequence[Mapping[str, Any]], role: Role,
            where: str = "signature") -> set[str]:
    """The distinct full key ids of `role` whose signature over PAE(payload_type, body) verifies."""
    message, good = pae(payload_type, body), set()
    for sig in signatures:
        found = role.key_for(sig["keyid"]) if isinstance(sig.get("keyid"), str) else None
        if found is not None and signing.verify(found[1], _b64(sig.get("sig"), "sig", where), message):
            good.add(found[0])
    return good


def open_root(envelope: bytes, where: str = "root") -> tuple[Root, set[str], dict[str, Any], bytes]:
    """Parse without trusting: the root, its signers among its own root keys, the envelope and the payload bytes."""
    doc, body = _open(envelope, where)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise TrustError("bad root document: the payload is not UTF-8 JSON", where) from None
    root = parse_root(payload, where)
    return root, signers(body, ROOT_PAYLOAD_TYPE, doc["signatures"], root.roles["root"], where), doc, body


def verify_self(envelope: bytes, where: str = "root") -> Root:
    """A root signed by a threshold of its own root keys (the shipped root, or the one a client stored)."""
    root, own, _, _ = open_root(envelope, where)
    need = root.roles["root"].threshold
    if len(own) < need:
        raise TrustError(f"root version {root.version}: {len(own)} of its own {need} root signatures verify", where)
    return root


def verify_update(current: Root, envelope: bytes, where: str = "root") -> Root:
    """Root N+1 from N: version exactly N+1, a threshold of N's root keys AND a threshold of its own root keys."""
    new, own, doc, body = open_root(envelope, where)
    if new.version != current.version + 1:
        raise TrustError(f"expected root version {current.version + 1}, found {new.version}", where)
    old_role = current.roles["root"]
    old = signers(body, ROOT_PAYLOAD_TYPE, doc["signatures"], old_role, where)
    if len(old) < old_role.threshold:
        raise TrustError(f"root version {new.version}: {len(old)} of the {old_role.threshold} signatures needed "
                         f"from version {current.version}'s root keys verify", where)
    if len(own) < new.roles["root"].threshold:
        raise TrustError(f"root version {new.version}: {len(own)} of its own {new.roles['root'].threshold} root "
                         f"signatures verify", where)
    return new


def check_fresh(root: Root, now: datetime, where: str = "root") -> None:
    """Refuse an expired newest root (the client can trust nothing it signs)."""
    if root.expired(now):
        raise TrustError(f"the newest root (version {root.version}) expired at {times.format_time(root.expires)}",
                         where)


# --- the release statement: SHA256SUMS and SHA256SUMS.sig -------------------------------------------------------


def parse_sig_lines(text: str) -> list[bytes]:
    """SHA256SUMS.sig: one line per release signature, each base64 of 64 bytes (threshold 1: one line, as before)."""
    out = []
    for line in text.splitlines():
        raw = signing.parse_signature_line(line + "\n")
        if raw is None:
            raise TrustError("SHA256SUMS.sig: every line must be base64 of a 64-byte signature")
        out.append(raw)
    if not out:
        raise TrustError("SHA256SUMS.sig holds no signature")
    return out


def verify_statement(sums: bytes, sig_text: str, role: Role, where: str = "SHA256SUMS") -> None:
    """SHA256SUMS (the release statement) signed by a threshold of distinct `release` keys, else TrustError."""
    good = {keyid for sig in parse_sig_lines(sig_text) for keyid, raw in role.keys.items()
            if signing.verify(raw, sig, sums)}
    if len(good) < role.threshold:
        raise TrustError(f"the release statement has {len(good)} of the {role.threshold} release signatures needed",
                         where)


def sign_statement(sums: bytes, keys: Iterable[SigningKey]) -> str:
    """SHA256SUMS.sig's text for several release keys (one line each)."""
    return "".join(signing.signature_line(key.sign(sums)) for key in keys)
