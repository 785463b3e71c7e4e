"""verify-artifacts on a real release folder, and on every way it can be tampered with."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from releng import signing
from releng._scripts.packaging import verify_artifacts
from testkit import flip_base64


def verify(folder: Path, key: str) -> int:
    return verify_artifacts.main([str(folder), "--public-key", key])


def flip(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def artifact(folder: Path, kind: str) -> Path:
    return next(folder.glob(f"*.{kind}"))


def test_an_untouched_release_verifies(release, capsys):
    assert verify(release.dist, release.public_b64) == 0
    assert "ok: 3 artifacts of audiolab-gain 0.1.0" in capsys.readouterr().err


def test_both_entry_forms_and_json(release):
    for argv in ([sys.executable, verify_artifacts.__file__], [str(Path(sys.executable).parent / "verify-artifacts")]):
        done = subprocess.run([*argv, str(release.dist), "--public-key", release.public_b64, "--json"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["version"] == "0.1.0"


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda d: flip(artifact(d, "tar.gz")), "tar.gz does not match its sha256 in SHA256SUMS"),
    (lambda d: flip(artifact(d, "deb"), -1), ".deb does not match its sha256"),
    (lambda d: artifact(d, "tar.zst").write_bytes(artifact(d, "tar.zst").read_bytes()[:-1]), "tar.zst is "),
    (lambda d: artifact(d, "tar.zst").unlink(), "tar.zst is missing"),
    (lambda d: flip(d / "SHA256SUMS", 3), "does not verify SHA256SUMS"),
    (lambda d: (d / "SHA256SUMS").write_text((d / "SHA256SUMS").read_text() + "0" * 64 + "  extra\n"),
     "does not verify"),
    (lambda d: flip_base64(d / "SHA256SUMS.sig", 5), "the signature in SHA256SUMS.sig does not verify"),
    (lambda d: (d / "SHA256SUMS.sig").write_text("not base64 at all\n"), "is not one line of base64"),
    (lambda d: (d / "SHA256SUMS.sig").unlink(), "SHA256SUMS.sig is missing"),
    (lambda d: (d / "SHA256SUMS").unlink(), "SHA256SUMS is missing"),
    (lambda d: (d / "artifacts.json").write_text("{ not json"), "malformed JSON"),
])
def test_any_tampering_fails_naming_what(release, dist_copy, capsys, tamper, message):
    tamper(dist_copy)
    assert verify(dist_copy, release.public_b64) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def _edit(folder: Path, change) -> None:
    doc = json.loads((folder / "artifacts.json").read_text())
    change(doc)
    (folder / "artifacts.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(("change", "message"), [
    (lambda doc: doc["artifacts"][0].update(size=doc["artifacts"][0]["size"] + 1), "artifacts.json says"),
    (lambda doc: doc["artifacts"][1].update(sha256="0" * 64), "differs from SHA256SUMS"),
    (lambda doc: doc["artifacts"].pop(), "list different files"),
    (lambda doc: doc.update(version="9.9.9"), "is not named after the document's name, version"),
    (lambda doc: doc["artifacts"][0].update(arch="arm64"), "is not named after"),
    (lambda doc: doc["checksums"].update(sha256="0" * 64), "the sha256 of SHA256SUMS differs"),
    (lambda doc: doc["checksums"]["signature"].update(value=base64.b64encode(bytes(64)).decode()),
     "the signature in artifacts.json differs"),
    (lambda doc: doc.pop("artifacts"), "missing 'artifacts'"),
])
def test_an_edited_document_fails(release, dist_copy, capsys, change, message):
    _edit(dist_copy, change)
    assert verify(dist_copy, release.public_b64) == 1
    assert message in capsys.readouterr().err


def test_a_wrong_public_key_fails(release, dist_copy, new_key, capsys):
    _, other = new_key("other.pem")
    assert verify(dist_copy, other) == 1
    assert f"with key {signing.key_id(base64.b64decode(other))}" in capsys.readouterr().err


def test_a_folder_re_signed_with_another_key_fails_with_ours(release, dist_copy, new_key):
    path, other = new_key("attacker.pem")
    attacker = signing.load_private_key_file(path)
    flip(artifact(dist_copy, "tar.gz"))
    sums = (dist_copy / "SHA256SUMS").read_text().splitlines()
    import hashlib

    tar = artifact(dist_copy, "tar.gz")
    sums = [f"{hashlib.sha256(tar.read_bytes()).hexdigest()}  {tar.name}" if tar.name in s else s for s in sums]
    (dist_copy / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    (dist_copy / "SHA256SUMS.sig").write_text(signing.signature_line(attacker.sign((dist_copy / "SHA256SUMS")
                                                                                    .read_bytes())))
    assert verify(dist_copy, release.public_b64) == 1
    assert verify(dist_copy, other) == 1  # the document still disagrees with the new SHA256SUMS


@pytest.mark.parametrize("key_form", ["base64 file", "pem file"])
def test_the_public_key_may_be_a_file(release, tmp_path, key_form):
    raw = base64.b64decode(release.public_b64)
    path = tmp_path / "release.pub"
    path.write_text(release.public_b64 + "\n" if key_form == "base64 file" else signing.public_key_pem(raw))
    assert verify(release.dist, str(path)) == 0


@pytest.mark.parametrize("key", ["short", base64.b64encode(bytes(31)).decode(), "/no/such/key.pub"])
def test_bad_input_is_exit_2(release, key, capsys):
    assert verify(release.dist, key) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_missing_folder_or_a_newer_document_is_exit_2(release, dist_copy, tmp_path):
    assert verify(tmp_path / "nope", release.public_b64) == 2
    _edit(dist_copy, lambda doc: doc.update(schema_version=99))
    assert verify(dist_copy, release.public_b64) == 2


def test_sha256sum_reads_the_checksums(release):
    done = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=release.dist, capture_output=True)
    assert done.returncode == 0
