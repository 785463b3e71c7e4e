"""releng.signing: Ed25519 keys from PEM, OpenSSH and the environment; signatures checked by OpenSSL too."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess

import pytest
from releng import signing
from releng.errors import BadInput

# The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 section 4), written out here rather than taken from
# releng.signing, so the OpenSSL check below does not lean on the code under test.
RFC8410_PREFIX = bytes.fromhex("302a300506032b6570032100")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


@pytest.fixture
def pem_key(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "release.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def test_key_id_is_the_first_16_hex_digits_of_sha256_of_the_raw_key(pem_key):
    key = signing.load_private_key_file(pem_key)
    assert len(key.public_raw) == 32
    assert key.key_id == hashlib.sha256(key.public_raw).hexdigest()[:16]
    assert base64.b64decode(key.public_b64) == key.public_raw
    assert signing.public_key_from_b64(key.public_b64) == key.public_raw


def test_sign_is_deterministic_and_verify_rejects_any_change(pem_key):
    key = signing.load_private_key_file(pem_key)
    data = b"abc  SHA256SUMS line\n"
    sig = key.sign(data)
    assert len(sig) == 64 and key.sign(data) == sig  # Ed25519 (RFC 8032) is deterministic
    assert signing.verify(key.public_raw, sig, data)
    assert not signing.verify(key.public_raw, sig, data + b"x")
    assert not signing.verify(key.public_raw, bytes([sig[0] ^ 1]) + sig[1:], data)
    assert not signing.verify(bytes(32), sig, data)
    assert not signing.verify(key.public_raw, sig[:63], data)
    other = signing.load_private_key_bytes(_new_pem(), "other")
    assert not signing.verify(other.public_raw, sig, data)


@needs_openssl
def test_openssl_verifies_our_signature_and_we_verify_openssls(tmp_path):
    """An independent implementation (OpenSSL's pkeyutl) agrees in both directions."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "k.pem")], check=True)
    key = signing.load_private_key_file(tmp_path / "k.pem")
    data = tmp_path / "SHA256SUMS"
    data.write_bytes(b"0" * 64 + b"  a.tar.gz\n")
    (tmp_path / "sig").write_bytes(key.sign(data.read_bytes()))
    der = RFC8410_PREFIX + base64.b64decode(key.public_b64)
    (tmp_path / "pub.pem").write_text("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode()
                                      + "\n-----END PUBLIC KEY-----\n")
    verify = ["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
              "-in", str(data), "-sigfile", str(tmp_path / "sig")]
    assert subprocess.run(verify, capture_output=True).returncode == 0
    data.write_bytes(data.read_bytes() + b"tampered\n")
    assert subprocess.run(verify, capture_output=True).returncode != 0
    subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(tmp_path / "k.pem"), "-in", str(data),
                    "-out", str(tmp_path / "sig2")], check=True)
    assert signing.verify(key.public_raw, (tmp_path / "sig2").read_bytes(), data.read_bytes())
    assert signing.public_key_pem(key.public_raw) == (tmp_path / "pub.pem").read_text()


@needs_ssh_keygen
def test_openssh_keys_load_and_match_their_public_line(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    key = signing.load_private_key_file(tmp_path / "id")
    assert signing.load_public_key(str(tmp_path / "id.pub")) == key.public_raw
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret words", "-f", str(tmp_path / "enc")],
                   check=True)
    with pytest.raises(BadInput, match="encrypted"):
        signing.load_private_key_file(tmp_path / "enc")
    assert signing.load_private_key_file(tmp_path / "enc", b"secret words").key_id
    with pytest.raises(BadInput, match="passphrase"):
        signing.load_private_key_file(tmp_path / "enc", b"wrong")


def test_key_from_environment_variable_with_real_or_escaped_newlines(monkeypatch):
    pem = _new_pem().decode()
    monkeypatch.setenv("RELEASE_KEY", pem)
    key = signing.load_private_key_env("RELEASE_KEY")
    assert key is not None
    monkeypatch.setenv("RELEASE_KEY", pem.replace("\n", "\\n"))  # a CI secret pasted on one line
    assert signing.load_private_key_env("RELEASE_KEY").key_id == key.key_id
    monkeypatch.setenv("RELEASE_KEY", "  ")
    assert signing.load_private_key_env("RELEASE_KEY") is None
    monkeypatch.delenv("RELEASE_KEY")
    assert signing.load_private_key_env("RELEASE_KEY") is None


def test_errors_name_the_source_and_never_echo_key_material(tmp_path, monkeypatch):
    pem = _new_pem()
    broken = pem.replace(b"MC4CAQAw", b"MC4CAQAx")
    monkeypatch.setenv("RELEASE_KEY", broken.decode())
    with pytest.raises(BadInput) as caught:
        signing.load_private_key_env("RELEASE_KEY")
    assert "$RELEASE_KEY" in str(caught.value)
    secret_line = broken.decode().splitlines()[1]
    assert secret_line not in str(caught.value) and secret_line[:12] not in str(caught.value)
    key = signing.load_private_key_bytes(pem, "k")
    assert pem.decode().splitlines()[1] not in repr(key) and key.key_id in repr(key)
    with pytest.raises(BadInput, match="not found"):
        signing.load_private_key_file(tmp_path / "missing.pem")
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(BadInput, match="not a PEM or OpenSSH private key"):
        signing.load_private_key_file(tmp_path / "junk")


def test_other_key_types_are_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with pytest.raises(BadInput, match="not an Ed25519 key"):
        signing.load_private_key_bytes(pem, "ec.pem")


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(bytes(31)).decode(),
                                  base64.b64encode(bytes(33)).decode()])
def test_malformed_public_keys_are_bad_input(text):
    with pytest.raises(BadInput):
        signing.public_key_from_b64(text)


def test_public_key_files_in_every_accepted_form(tmp_path, pem_key):
    key = signing.load_private_key_file(pem_key)
    (tmp_path / "b64").write_text(key.public_b64 + "\n")
    (tmp_path / "pem").write_text(signing.public_key_pem(key.public_raw))
    for value in (key.public_b64, str(tmp_path / "b64"), str(tmp_path / "pem")):
        assert signing.load_public_key(value) == key.public_raw
    with pytest.raises(BadInput, match="no such file"):
        signing.load_public_key(str(tmp_path / "nope"))


@pytest.mark.parametrize(("text", "ok"), [
    (base64.b64encode(bytes(64)).decode() + "\n", True),
    (base64.b64encode(bytes(64)).decode(), True),
    (base64.b64encode(bytes(64)).decode() + "\n\n", False),
    (base64.b64encode(bytes(63)).decode() + "\n", False),
    ("!!" + base64.b64encode(bytes(64)).decode()[2:] + "\n", False),
    ("", False),
])
def test_signature_line_parsing(text, ok):
    assert (signing.parse_signature_line(text) is not None) is ok


def _new_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


# A fixed key (RFC 8032 section 7.1, test 1's secret key) so that no outcome here depends on random bytes.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def _fixed_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("value", [
    _fixed_pem(),                                             # --signing-key "$(cat key.pem)"
    _fixed_pem().replace("\n", " "),                          # the same, unquoted in a shell: one line of words
    _fixed_pem().splitlines()[1],                             # the base64 body alone
    base64.b64encode(RFC8032_SEED).decode(),                  # the raw seed in base64
    "line one\nline two",                                     # no file name has newlines
])
def test_a_key_given_where_its_file_name_goes_is_never_echoed(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput, match="looks like a key itself") as e:
        signing.load_private_key_file(value)
    for part in value.split():
        if len(part) > 8:
            assert part not in str(e.value)
    with pytest.raises(BadInput, match="looks like a key itself"):
        signing.load_release_key(value, {"signing_key_env": "NOPE"})


def test_a_real_file_with_a_key_like_name_still_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = base64.b64encode(RFC8032_SEED).decode().rstrip("=").replace("/", "_")
    (tmp_path / name).write_text(_fixed_pem())
    assert signing.load_private_key_file(name).public_raw == bytes.fromhex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")  # RFC 8032 test 1's public key
    with pytest.raises(BadInput, match=r"signing key file not found \(keys/release-2024\.pem\)"):
        signing.load_private_key_file("keys/release-2024.pem")  # a path is named, as before


@pytest.mark.parametrize(("value", "looks"), [
    ("release.pem", False), ("/etc/releng/signing-key", False), ("keys/release_key_2024.pem", False),
    ("-----BEGIN PRIVATE KEY-----", True), ("a\nb", True), ("x" * 5000, True),
    ("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", True), ("abcdefghijklmnopqrstuvwxyzabcdefgh", False),
])
def test_looks_like_key(value, looks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert signing.looks_like_key(value) is looks


def test_a_private_key_where_a_public_key_goes_is_never_echoed():
    pem = _fixed_pem()
    with pytest.raises(BadInput, match="private key where a public key goes") as e:
        signing.load_public_key(pem)
    assert pem.splitlines()[1] not in str(e.value)
