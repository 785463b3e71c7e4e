"""Root-of-trust test helpers (issue 15): Ed25519 keys from fixed seeds, so that no outcome depends on random
bytes, and root documents built and signed from those seeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import signing, trust

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=365)


def seed_key(n: int) -> signing.SigningKey:
    """The Ed25519 key of the 32-byte seed `n` repeated (deterministic)."""
    return signing.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def root_payload(version: int, root: list[int], release: list[int], channel: list[int],
                 thresholds: tuple[int, int, int] = (1, 1, 1), expires: datetime = LATER) -> dict:
    """A root payload whose roles hold the keys of the given seeds."""
    roles = {name: trust.role_entry([seed_key(n).public_raw for n in keys], t)
             for name, keys, t in zip(trust.ROLES, (root, release, channel), thresholds, strict=True)}
    return trust.build_root(version, expires, roles)


def signed(payload: dict, *signers: int) -> bytes:
    """The root envelope of `payload` signed by the keys of the given seeds."""
    return trust.sign_root(payload, [seed_key(n) for n in signers])
