"""manage-keys' work (issue 15): key pairs, root documents (init, rotate, sign, show) and publishing `trust/`.

Private keys live in files only (mode 0600, PEM PKCS#8), are read with `releng.signing.load_private_key_file` and
never printed: `show` names key ids. A root is written as a draft that may not verify yet (`rotate` without enough
`--sign-with`): `sign` adds one signature at a time, so holders on separate machines reach a threshold without
their keys meeting. `publish` uploads `trust/<version>.root.json`, then replaces `trust/root.json` by one rename, on
every enabled server, after checking the root against the newest one published (chained: version N+1, a threshold
of N's root keys and of its own); a first root (no `trust/root.json` anywhere) must be version 1 and self-signed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from releng import documents, signing, times, trust
from releng.errors import BadInput
from releng.server import transport

TRUST = "trust"
NEWEST = f"{TRUST}/root.json"


def new_key(out: Path) -> signing.SigningKey:
    """A fresh Ed25519 key written to `out` (mode 0600, refused when `out` exists) and `out`.pub (base64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise BadInput("refusing to overwrite an existing key file", str(out)) from None
    except OSError as e:
        raise BadInput(f"cannot create the key file: {e.strerror}", str(out)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    key = signing.SigningKey(private)
    documents.write_text_atomic(out.with_name(out.name + ".pub"), key.public_b64 + "\n")
    return key


def role(publics: Sequence[str], threshold: int, name: str) -> dict[str, Any]:
    """A role entry from PUB values (a public key file or its base64)."""
    if not publics:
        raise BadInput(f"--{name}-key: at least one key")
    return trust.role_entry([signing.load_public_key(p) for p in publics], threshold)


def load_signers(paths: Sequence[str]) -> list[signing.SigningKey]:
    return [signing.load_private_key_file(p) for p in paths]


def read_root(path: Path | str) -> tuple[trust.Root, set[str], dict[str, Any], bytes]:
    from releng import files

    return trust.open_root(files.read_capped(path, trust.MAX_ROOT_BYTES, "root document"), str(path))


def init(roles: Mapping[str, Mapping[str, Any]], expires: datetime, signers: Sequence[signing.SigningKey]) -> bytes:
    """Root version 1, signed by `signers`; BadInput unless it then verifies (a threshold of its own root keys)."""
    envelope = trust.sign_root(trust.build_root(1, expires, roles), signers)
    trust.verify_self(envelope, "init")
    return envelope


def rotate(previous: trust.Root, changes: Mapping[str, Mapping[str, Any]], expires: datetime,
           signers: Sequence[signing.SigningKey]) -> bytes:
    """Version N+1: `previous` with the roles in `changes` replaced; a draft (it may lack signatures yet)."""
    roles = {name: changes.get(name) or previous.payload["roles"][name] for name in trust.ROLES}
    return trust.sign_root(trust.build_root(previous.version + 1, expires, roles), signers)


def describe(envelope_path: Path | str, previous: trust.Root | None = None) -> list[str]:
    """`show`'s lines: version, expiry, per role key ids and threshold, and which signatures verify."""
    root, own, doc, body = read_root(envelope_path)
    lines = [f"version {root.version}, expires {times.format_time(root.expires)}"]
    for name in trust.ROLES:
        r = root.roles[name]
        lines.append(f"{name}: threshold {r.threshold} of {len(r.keys)}: {', '.join(k[:16] for k in r.keys)}")
    need = root.roles["root"].threshold
    lines.append(f"signatures by its own root keys: {len(own)} of {need} needed"
                 + (" (verifies)" if len(own) >= need else " (does not verify yet)"))
    unknown = [s["keyid"][:16] for s in doc["signatures"] if root.roles["root"].key_for(s["keyid"]) is None]
    if previous is not None:
        old = trust.signers(body, trust.ROOT_PAYLOAD_TYPE, doc["signatures"], previous.roles["root"])
        lines.append(f"signatures by version {previous.version}'s root keys: {len(old)} of "
                     f"{previous.roles['root'].threshold} needed")
    if unknown:
        lines.append(f"signatures by keys not in its root role: {', '.join(unknown)}")
    return lines


def newest_published(t: transport.Transport) -> bytes | None:
    if t.stat(NEWEST) is None:
        return None
    return t.read_bytes(NEWEST, trust.MAX_ROOT_BYTES)


def check_publishable(envelope: bytes, published: Sequence[bytes | None], where: str) -> trust.Root:
    """The root to publish verifies against the newest one on the servers (or is a self-signed version 1 when
    none has one); publishing the newest again is allowed (a mirror that missed it). BadInput (exit 2) if not."""
    new = trust.verify_self(envelope, where)
    newest: trust.Root | None = None
    for data in published:
        if data is not None:
            root = trust.verify_self(data, "published trust/root.json")
            if newest is None or root.version > newest.version:
                newest, newest_bytes = root, data
    if newest is None:
        if new.version != 1:
            raise BadInput(f"no root is published yet: the first must be version 1, found {new.version}", where)
        return new
    if new.version == newest.version and envelope == newest_bytes:
        return new
    trust.verify_update(newest, envelope, where)
    return new


def publish(t: transport.Transport, envelope: bytes, version: int) -> str:
    """Upload `trust/<version>.root.json` (new or identical), then switch `trust/root.json` by one rename."""
    rel = f"{TRUST}/{version}.root.json"
    transport.mkdirs(t, TRUST)
    if t.stat(rel) is not None:
        if t.read_bytes(rel, trust.MAX_ROOT_BYTES) != envelope:
            raise BadInput(f"{rel} is already published with other bytes", t.name)
    else:
        transport.write_atomic(t, rel, envelope)
    if newest_published(t) == envelope:
        return "unchanged"
    transport.write_atomic(t, NEWEST, envelope)
    return "published"
