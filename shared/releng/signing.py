"""Ed25519 release keys: load, sign, verify, and the forms clients embed (base64 raw public key, key id).

DESIGN.md's trust model: one Ed25519 key signs SHA256SUMS and every channel manifest. Clients embed the public key
as base64 of its 32 raw bytes (what libsodium's `crypto_sign_verify_detached` takes) and name keys by key id, the
first 16 hex digits of sha256 of those 32 bytes, so a key can be rotated.

Private keys come from a file (PEM PKCS#8 as `openssl genpkey -algorithm ed25519` writes, or OpenSSH as
`ssh-keygen -t ed25519` writes) or from the value of an environment variable holding that text; never from a
command-line argument's value (argv is visible to every user through /proc: docs/security-properties.md #14).
Nothing here prints, logs or formats key material: errors name the file or the variable, never the value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releng.errors import BadInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# The SubjectPublicKeyInfo prefix of an Ed25519 public key (RFC 8410): DER of the algorithm id, then 32 raw bytes.
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class SigningKey:
    """A loaded Ed25519 private key. Its repr shows the key id only."""

    __slots__ = ("_key", "public_raw")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = key
        self.public_raw: bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    @property
    def public_b64(self) -> str:
        return public_key_to_b64(self.public_raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `data` (deterministic: same key and data, same signature)."""
        return self._key.sign(data)


def key_id(public_raw: bytes) -> str:
    """First 16 hex digits of sha256 of the raw 32-byte public key (DESIGN.md)."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_to_b64(public_raw: bytes) -> str:
    return base64.b64encode(public_raw).decode("ascii")


def load_private_key_file(path: Path | str, passphrase: bytes | None = None) -> SigningKey:
    """Load a PEM (PKCS#8) or OpenSSH Ed25519 private key from a file.

    A key given where its file name goes (`--signing-key "$(cat key.pem)"`) is refused without being echoed: errors
    name the file, and this one is no file name (issue 12 #6)."""
    where = str(path)
    if looks_like_key(where):
        raise BadInput("expected the name of a file holding the signing key, found what looks like a key itself (not "
                       "shown): give the file, or set the environment variable the config names", "signing key")
    from releng import files

    try:  # capped, a regular file: a key file that is /dev/zero or a FIFO is refused, never read forever
        data = files.read_capped(path, 1 << 20, "signing key")
    except files.Missing:
        raise BadInput("signing key file not found", where) from None
    return load_private_key_bytes(data, where, passphrase)


def looks_like_key(value: str) -> bool:
    """True when `value`, given as a file name, reads as key material rather than a path: PEM/OpenSSH text, several
    lines, or a long run of base64 that names no existing file. Such a value is never echoed in an error."""
    import re

    if "\n" in value or "\r" in value or "-----BEGIN" in value or "PRIVATE KEY" in value or len(value) > 4096:
        return True
    if "." in value or not re.fullmatch(r"[A-Za-z0-9+/=_-]{32,}", value):
        return False
    if not (re.search(r"[\d+=]", value) or (re.search("[a-z]", value) and re.search("[A-Z]", value))):
        return False
    try:
        return not Path(value).exists()
    except (OSError, ValueError):
        return True


def load_private_key_env(variable: str, passphrase_variable: str | None = None) -> SigningKey | None:
    """Load a key from the PEM/OpenSSH text in `$variable`; None when the variable is unset or empty."""
    text = os.environ.get(variable, "")
    if not text.strip():
        return None
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")  # a CI secret pasted with escaped newlines
    passphrase = os.environ.get(passphrase_variable or "", "") or None
    return load_private_key_bytes(text.encode("utf-8"), f"${variable}",
                                  passphrase.encode("utf-8") if passphrase else None)


def load_release_key(path: str | None, manifest_cfg: dict[str, Any]) -> SigningKey:
    """The release key from `--signing-key FILE`, else from the env var the config's manifest section names."""
    if path:
        return load_private_key_file(path)
    env = manifest_cfg["signing_key_env"]
    key = load_private_key_env(env, manifest_cfg.get("passphrase_env"))
    if key is None:
        raise BadInput(f"no signing key: give --signing-key FILE or set ${env}")
    return key


def trusted_keys(key: SigningKey, manifest_cfg: dict[str, Any]) -> dict[str, bytes]:
    """Key id -> raw public key: the signing key first, then `manifest.trusted_keys` from the config.

    Key rotation: the servers' current manifests and releases built before the switch are signed by the old key.
    Listing the old public key (base64, or a file holding it) lets the new key's publisher read and trust them while
    clients ship with both keys; removing it ends the rotation. BadInput for anything that is not an Ed25519 key.
    """
    listed = manifest_cfg.get("trusted_keys", [])
    if not isinstance(listed, list) or not all(isinstance(k, str) for k in listed):
        raise BadInput("manifest.trusted_keys must be a list of public keys (base64, or files holding one)")
    out = {key.key_id: key.public_raw}
    for value in listed:
        raw = load_public_key(value)
        out.setdefault(key_id(raw), raw)
    return out


def load_private_key_bytes(data: bytes, where: str, passphrase: bytes | None = None) -> SigningKey:
    """Parse key text; BadInput naming `where` (never quoting the data) when it is not an Ed25519 private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    stripped = data.strip()
    key: object
    if not stripped.startswith(b"-----BEGIN"):
        raise BadInput("not a PEM or OpenSSH private key", where)
    try:
        if stripped.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key = serialization.load_ssh_private_key(stripped, passphrase)
        else:
            key = serialization.load_pem_private_key(stripped, passphrase)
    except TypeError:
        raise BadInput("the signing key is encrypted and no passphrase was given (or one was given for "
                       "an unencrypted key)", where) from None
    except ValueError:
        raise BadInput("cannot load the signing key (malformed, or a wrong passphrase)", where) from None
    except Exception as e:  # cryptography raises its own UnsupportedAlgorithm for unknown key types
        raise BadInput(f"cannot load the signing key ({type(e).__name__})", where) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BadInput(f"not an Ed25519 key (found {type(key).__name__.removeprefix('_')})", where)
    return SigningKey(key)


def public_key_from_b64(text: str, where: str = "public key") -> bytes:
    """The raw 32 bytes from base64 text; BadInput if it is not exactly that."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("not base64", where) from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise BadInput(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, found {len(raw)}", where)
    return raw


def load_public_key(value: str) -> bytes:
    """A public key given as base64 text, or a file holding base64, a PEM public key or an OpenSSH public key."""
    if "-----BEGIN" in value and "PRIVATE" in value:  # a private key where a public one goes: never echoed
        raise BadInput("found a private key where a public key goes (not shown): give the public key", "public key")
    path = Path(value)
    if len(value) != 44 or path.is_file():  # 44 = base64 length of 32 bytes
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BadInput("public key: not base64 of 32 bytes and no such file", value) from None
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"cannot read public key: {e}", value) from None
        return _public_key_from_text(text, value)
    return public_key_from_b64(value, "public key")


def _public_key_from_text(text: str, where: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    text = text.strip()
    if text.startswith(("-----BEGIN PUBLIC KEY-----", "ssh-ed25519 ")):
        try:
            key = (serialization.load_pem_public_key(text.encode()) if text.startswith("-----")
                   else serialization.load_ssh_public_key(text.encode()))
        except (ValueError, TypeError):
            raise BadInput("malformed public key", where) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise BadInput("not an Ed25519 public key", where)
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public_key_from_b64(text, where)


def public_key_pem(public_raw: bytes) -> str:
    """The SubjectPublicKeyInfo PEM of a raw key (what `openssl pkeyutl -verify -pubin` reads)."""
    body = base64.encodebytes(SPKI_PREFIX + public_raw).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def verify(public_raw: bytes, signature: bytes, data: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `data` by `public_raw`; False for anything else."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if len(public_raw) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def signature_line(signature: bytes) -> str:
    """The text of a `.sig` file: one line, base64 of the 64-byte signature."""
    return base64.b64encode(signature).decode("ascii") + "\n"


def parse_signature_line(text: str) -> bytes | None:
    """The signature in a `.sig` file's text, or None when it is not exactly one line of base64 of 64 bytes."""
    body = text[:-1] if text.endswith("\n") else text
    if "\n" in body or not body:
        return None
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None


# --- DSSE: what channel manifests (releng.server.manifest) and root documents (releng.trust) share ------------


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`, lengths decimal."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def canonical_b64decode(text: str) -> bytes | None:
    """Strict, canonical base64, or None: a text that would not re-encode to itself is refused, so no two texts
    decode alike (no malleable envelopes)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None
