"""The root-of-trust test vectors of docs/update-client.md (issue 15): a root chain of three versions with a
rotation, and a manifest with its release statement, all from fixed seeds (Ed25519 signs deterministically).

`python tests/distribution/test_trust_vectors.py` prints the block the docs hold; the test checks that the docs
hold exactly it, and that the vectors verify as the docs say (each root against its predecessor, the manifest
against root 3's channel role, the statement against its release role)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import signing, trust
from releng.server import manifest

DOC = Path(__file__).resolve().parents[2] / "docs" / "update-client.md"
START, END = "<!-- trust-vectors:start -->", "<!-- trust-vectors:end -->"
EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DATA = bytes(1024)
NAME = "audiolab-gain-1.3.0-linux-x86_64.tar.gz"


def key(n: int) -> signing.SigningKey:
    return signing.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def _root(version: int, root: list[int], root_t: int, release: list[int], channel: list[int],
          signers: list[int]) -> bytes:
    roles = {"root": trust.role_entry([key(n).public_raw for n in root], root_t),
             "release": trust.role_entry([key(n).public_raw for n in release], 1),
             "channel": trust.role_entry([key(n).public_raw for n in channel], 1)}
    return trust.sign_root(trust.build_root(version, EXPIRES, roles), [key(n) for n in signers])


def vectors() -> dict[str, bytes]:
    v1 = _root(1, [1], 1, [10], [20], [1])
    v2 = _root(2, [1, 2], 2, [10], [21], [1, 2])  # rotation: the channel key 20 -> 21, a second root key
    v3 = _root(3, [2], 1, [10], [21], [1, 2])  # root key 1 retired: signed by v2's threshold (1 and 2)
    sums = f"{hashlib.sha256(DATA).hexdigest()}  {NAME}\n".encode()
    sig = trust.sign_statement(sums, [key(10)]).encode()

    def signed_manifest(number: int, statement: bytes) -> bytes:
        payload = manifest.build_manifest(
            product="audiolab-gain", channel="stable", version="1.3.0", manifest_number=number, issued_at=T0,
            expires_at=T0 + timedelta(days=2), artifacts={"linux-x86_64": {
                "url": f"../releases/1.3.0/{NAME}", "size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}},
            release_statement_sha256=hashlib.sha256(statement).hexdigest())
        return manifest.sign_envelope(payload, key(21), now=T0)

    other = f"{hashlib.sha256(DATA).hexdigest()}  {NAME}\n{'0' * 64}  other.tar.gz\n".encode()
    return {"trust/1.root.json": v1, "trust/2.root.json": v2, "trust/3.root.json": v3,
            "channels/stable.json": signed_manifest(7, sums), "releases/1.3.0/SHA256SUMS": sums,
            "releases/1.3.0/SHA256SUMS.sig": sig,
            "refused/stable.json": signed_manifest(8, other)}  # names another statement: refused


def block() -> str:
    lines = [START, "| file | sha256 |", "|---|---|"]
    lines += [f"| `{name}` | `{hashlib.sha256(data).hexdigest()}` |" for name, data in vectors().items()]
    lines.append("")
    for name, data in vectors().items():
        lines += [f"`{name}`:", "", "```", data.decode("ascii").rstrip("\n"), "```", ""]
    lines.append(END)
    return "\n".join(lines)


def test_the_docs_hold_these_vectors():
    text = DOC.read_text()
    assert START in text and END in text, "docs/update-client.md lacks the trust vectors"
    held = text[text.index(START):text.index(END) + len(END)]
    assert held == block(), "regenerate: python tests/distribution/test_trust_vectors.py"


def test_the_vectors_verify_as_documented():
    v = vectors()
    r1 = trust.verify_self(v["trust/1.root.json"])
    r2 = trust.verify_update(r1, v["trust/2.root.json"])
    r3 = trust.verify_update(r2, v["trust/3.root.json"])
    channel = r3.roles["channel"]
    payload = manifest.verify_envelope(v["channels/stable.json"], channel.short_ids, threshold=channel.threshold)
    sums = v["releases/1.3.0/SHA256SUMS"]
    assert payload["release_statement_sha256"] == hashlib.sha256(sums).hexdigest()
    trust.verify_statement(sums, v["releases/1.3.0/SHA256SUMS.sig"].decode(), r3.roles["release"])
    assert sums.split()[0].decode() == payload["artifacts"]["linux-x86_64"]["sha256"]
    refused = manifest.verify_envelope(v["refused/stable.json"], channel.short_ids, threshold=channel.threshold)
    assert refused["release_statement_sha256"] != hashlib.sha256(sums).hexdigest()  # the client refuses it
    r1_channel = r1.roles["channel"]  # the old channel key no longer signs for root 3
    assert set(r1_channel.keys).isdisjoint(channel.keys)


if __name__ == "__main__":
    print(block())
