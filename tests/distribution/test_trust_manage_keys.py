"""manage-keys (issue 15's command contract): new, init, rotate, sign, show, publish. Keys that sign come from fixed
seeds (PEM files written by the test), so every document and outcome is the same on every run; only `new` makes a
random key, and the test checks its file, never its bytes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import trust
from releng._scripts.distribution import manage_keys


def seed_pem(folder: Path, n: int) -> tuple[Path, str]:
    """A private key file of seed `n` (mode 0600) and its public key's base64."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)
    path = folder / f"k{n}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    import base64
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return path, base64.b64encode(raw).decode()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = manage_keys.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_new_writes_a_0600_key_and_prints_only_the_public_key(tmp_path, capsys):
    code, out, err = run(capsys, "new", "--out", str(tmp_path / "release.pem"))
    assert code == 0
    assert stat.S_IMODE((tmp_path / "release.pem").stat().st_mode) == 0o600
    assert out.strip() == (tmp_path / "release.pem.pub").read_text().strip()
    private = (tmp_path / "release.pem").read_text()
    body = "".join(private.splitlines()[1:-1])
    assert body not in out + err and "PRIVATE" not in out + err
    assert run(capsys, "new", "--out", str(tmp_path / "release.pem"))[0] == 2  # never overwritten


def _init(tmp_path: Path, capsys, out: str = "1.root.json") -> dict[int, tuple[Path, str]]:
    keys = {n: seed_pem(tmp_path, n) for n in (1, 2, 3, 10, 20, 21)}
    (tmp_path / "k2.pub").write_text(keys[2][1] + "\n")  # PUB: a file or the base64
    code, _, err = run(capsys, "init", "--out", str(tmp_path / out),
                       "--root-key", keys[1][1], "--root-key", str(tmp_path / "k2.pub"),
                       "--root-threshold", "2", "--release-key", keys[10][1], "--release-threshold", "1",
                       "--channel-key", keys[20][1], "--channel-threshold", "1",
                       "--sign-with", str(keys[1][0]), "--sign-with", str(keys[2][0]))
    assert code == 0, err
    return keys


def test_init_rotate_sign_show(tmp_path, capsys):
    keys = _init(tmp_path, capsys)
    v1 = trust.verify_self((tmp_path / "1.root.json").read_bytes())
    assert v1.version == 1 and v1.roles["root"].threshold == 2
    code, _, err = run(capsys, "rotate", "--from", str(tmp_path / "1.root.json"), "--out", str(tmp_path / "2.json"),
                       "--channel-key", keys[21][1], "--channel-threshold", "1", "--sign-with", str(keys[1][0]))
    assert code == 0, err
    with pytest.raises(trust.TrustError):  # a draft: one of the two root signatures
        trust.verify_update(v1, (tmp_path / "2.json").read_bytes())
    code, out, _ = run(capsys, "show", str(tmp_path / "2.json"), "--previous", str(tmp_path / "1.root.json"))
    assert code == 0 and "1 of 2 needed (does not verify yet)" in out
    assert trust.full_key_id(trust.signing.load_public_key(keys[21][1]))[:16] in out
    assert run(capsys, "sign", str(tmp_path / "2.json"), "--key", str(keys[2][0]))[0] == 0
    v2 = trust.verify_update(v1, (tmp_path / "2.json").read_bytes())
    assert v2.version == 2 and v2.roles["release"].keys == v1.roles["release"].keys


def test_init_refuses_zero_thresholds_and_unknown_signers(tmp_path, capsys):
    keys = {n: seed_pem(tmp_path, n) for n in (1, 10, 20)}
    base = ["init", "--out", str(tmp_path / "r.json"), "--root-key", keys[1][1], "--release-key", keys[10][1],
            "--release-threshold", "1", "--channel-key", keys[20][1], "--channel-threshold", "1"]
    assert run(capsys, *base, "--root-threshold", "0", "--sign-with", str(keys[1][0]))[0] == 2
    assert run(capsys, *base, "--root-threshold", "1", "--sign-with", str(keys[10][0]))[0] == 2
    assert not (tmp_path / "r.json").exists()


def test_publish_uploads_trust_and_refuses_a_root_that_does_not_chain(tmp_path, capsys):
    keys = _init(tmp_path, capsys)
    servers = tmp_path / "servers.json"
    site = tmp_path / "site"
    servers.write_text(json.dumps({"servers": [{"name": "local", "transport": "local", "root": str(site)}]}))
    assert run(capsys, "publish", "--servers", str(servers), str(tmp_path / "1.root.json"))[0] == 0
    assert (site / "trust/1.root.json").read_bytes() == (site / "trust/root.json").read_bytes()
    # version 2 signed only by one new key (root threshold 2): refused, nothing changes on the server
    run(capsys, "rotate", "--from", str(tmp_path / "1.root.json"), "--out", str(tmp_path / "bad.json"),
        "--root-key", keys[3][1], "--root-threshold", "1", "--sign-with", str(keys[3][0]))
    before = sorted(p.name for p in (site / "trust").iterdir())
    code, _, err = run(capsys, "publish", "--servers", str(servers), str(tmp_path / "bad.json"))
    assert code == 2 and "from version 1's root keys" in err
    assert sorted(p.name for p in (site / "trust").iterdir()) == before
    assert run(capsys, "sign", str(tmp_path / "bad.json"), "--key", str(keys[1][0]))[0] == 0
    assert run(capsys, "sign", str(tmp_path / "bad.json"), "--key", str(keys[2][0]))[0] == 0
    assert run(capsys, "publish", "--servers", str(servers), str(tmp_path / "bad.json"))[0] == 0
    assert trust.verify_self((site / "trust/root.json").read_bytes()).version == 2
