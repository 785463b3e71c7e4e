"""The Windows path on Linux, for tests: a test Authenticode certificate and one real mingw-w64 cross build of the
sample plugin, packaged as zip and MSI, signed with osslsigncode (DLL/EXE staged, the MSI after).

Loaded by path from tests/packaging and tests/validation (it is no package); the build is a session fixture there.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from testkit import copy_plugin, write_key

COMMIT_TIME = 1_700_000_000
PASSWORD = "test-p12-password"  # never printed by build-package: tests check stderr for it
MSI = "audiolab-gain-0.1.0-windows-x86_64.msi"
TOOLS = ("x86_64-w64-mingw32-g++", "wixl", "msiinfo", "msiextract", "osslsigncode")
CHANGELOG = "# Changelog\n\n## [0.1.0] - 2023-11-14\n\n### Added\n\n- A gain stage with a soft or hard limiter.\n"
OSSL = ["osslsigncode", "sign", "-pkcs12", "{env:WIN_CERT_FILE}", "-pass", "{env:WIN_CERT_PASSWORD}", "-h", "sha256",
        "-n", "AudioLab Gain", "-in", "{file}", "-out", "{out}"]
SIGNING = f"""
authenticode_ca = "test-ca.pem"

[[packaging.code_sign.windows]]
stage = "staged"
match = ["bin/*.exe", "lib/vst3/*.vst3/Contents/*/*.vst3", "lib/clap/*.clap"]
command = {OSSL!r}

[[packaging.code_sign.windows]]
match = ["*.msi"]
command = {OSSL!r}
""".replace("'", '"')


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def make_certificate(folder: Path, name: str = "releng test") -> tuple[Path, Path]:
    """A self-signed CA and a code-signing leaf it issued, the leaf as PKCS#12 (PASSWORD); returns (p12, CA PEM).

    The keys are fresh each time: no test outcome depends on their bytes, only on which CA issued which leaf."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} code signing")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    p12, ca_pem = folder / f"{name.replace(' ', '-')}.p12", folder / f"{name.replace(' ', '-')}-ca.pem"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", leaf_key, leaf, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return p12, ca_pem


def git(repo: Path, *args: str) -> str:
    stamp = f"{COMMIT_TIME} +0000"
    env = dict(os.environ, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def build_package(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("build-package")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@dataclass(frozen=True)
class WindowsRelease:
    source: Path  # the sample plugin, committed and tagged v0.1.0, with Authenticode signing configured
    dist: Path  # zip + msi, SHA256SUMS, signature, artifacts.json
    stage: Path  # the cross-built staging tree (signed in place)
    p12: Path
    ca: Path  # the CA that issued the signing certificate (also the source's test-ca.pem)
    key: Path  # the Ed25519 release key
    stderr: str

    def env(self) -> dict[str, str]:
        return dict(os.environ, WIN_CERT_FILE=str(self.p12), WIN_CERT_PASSWORD=PASSWORD)


def build(base: Path) -> WindowsRelease:
    """Cross-build, sign and package the sample plugin once (about ten seconds)."""
    source = copy_plugin(base / "plugin", CHANGELOG)
    p12, ca = make_certificate(base / "cert")
    shutil.copyfile(ca, source / "test-ca.pem")
    with (source / "releng.toml").open("a", encoding="utf-8") as f:
        f.write(SIGNING)
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "chore: import the gain plugin")
    git(source, "tag", "-a", "v0.1.0", "-m", "Release 0.1.0")
    write_key(base / "release.pem")
    release = WindowsRelease(source, source / "dist", source / "build" / "package" / "windows-x86_64" / "stage",
                             p12, ca, base / "release.pem", "")
    done = build_package("--source", str(source), "--platform", "windows", "--arch", "x86_64", "--format", "zip",
                         "--format", "msi", "--signing-key", str(release.key), "-v", cwd=base, env=release.env())
    assert done.returncode == 0, done.stderr[-3000:]
    return WindowsRelease(**{**release.__dict__, "stderr": done.stderr})
