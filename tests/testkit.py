"""Helpers the test folders share that are plain functions rather than fixtures (importable as `testkit`)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from releng import artifacts, documents, signing


def make_release(folder: Path, key: signing.SigningKey, version: str = "1.2.0", size: int = 200_000, seed: int = 1,
                 changes: bool = True, platform: str = "linux", arch: str = "x86_64") -> Path:
    """A signed release folder as build-package writes it (one seeded random archive, SHA256SUMS, its signature,
    artifacts.json) plus, with `changes`, a changes document; returns the path of its artifacts.json."""
    folder.mkdir(parents=True)
    data = random.Random(seed).randbytes(size)
    name = f"gain-{version}-{platform}-{arch}.tar.gz"
    (folder / name).write_bytes(data)
    arts = [artifacts.Artifact(name, "tar.gz", platform, arch, size, hashlib.sha256(data).hexdigest())]
    sums = artifacts.sums_text(arts).encode()
    (folder / artifacts.SUMS).write_bytes(sums)
    sig = key.sign(sums)
    (folder / artifacts.SIG).write_text(signing.signature_line(sig))
    documents.write(folder / "artifacts.json", "artifacts", artifacts.document(
        name="gain", version=version, commit=None, tag=None, platform=platform, arch=arch, source_date_epoch=0,
        artifacts=arts, sums=sums, signature=sig, key=key, tools={}))
    if changes:
        documents.write(folder / "changes.json", "changes", {"repo_url": None, "tag_prefix": "v", "versions": [
            {"version": version, "date": "2026-11-27", "tag": f"v{version}", "previous_tag": None, "url": None,
             "entries": [{"category": "Added", "scope": None, "text": f"release {version}", "breaking": False,
                          "breaking_text": None, "refs": [], "commit": "a" * 40, "type": "feat"}]}]})
    return folder / "artifacts.json"


def write_key(path: Path) -> str:
    """A fresh Ed25519 release key written to `path` as unencrypted PKCS#8 PEM; returns the public key's base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return signing.public_key_to_b64(raw)
