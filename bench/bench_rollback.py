"""Time of one rollback against a loopback sshd: `rollback-release` beside the same remote changes by OpenSSH `sftp -b`.

Starts a throwaway sshd on 127.0.0.1 (bench_publish.Server), builds once an update root where 1.2.0 and 1.3.0 were
published and promoted to beta and stable (dev, beta and stable offer 1.3.0, releases/latest -> 1.3.0), and for each
run copies it to a fresh folder under the sshd (not timed) and rolls 1.3.0 back with:

- the floor: one OpenSSH `sftp -b` batch doing the writes a rollback needs, with the bytes prepared in advance: take
  the channels lock (mkdir), put + rename the three channel manifests and the history log, the symlink swap of
  releases/latest, the rename of releases/1.3.0 into quarantine/, put + rename rollback_log.jsonl, drop the lock;
- `rollback-release --servers F 1.3.0 --reason ...` as a whole command (start-up, reads, verification, signing);
- `releng.rollback.procedure.rollback()` in this process (the same, without interpreter start-up and imports);
- `watch-health --once` as a whole command on a feed that condemns 1.3.0 (the feed, the decision, halt, rollback).

Prints medians and ratios to the floor. Target (docs/rollback-runbook.md): a rollback completes in under 2 s.

    python bench/bench_rollback.py [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_publish import Server
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import artifacts, documents, signing
from releng.rollback import procedure
from releng.server import layout

BIN = Path(sys.executable).parent
VERSIONS = ("1.2.0", "1.3.0")
CHANNELS = ("dev", "beta", "stable")


def make_release(folder: Path, key: signing.SigningKey, version: str) -> Path:
    """A signed release folder as build-package writes it (one 1 MiB archive); returns its artifacts.json."""
    folder.mkdir(parents=True)
    data = random.Random(version).randbytes(1 << 20)
    name = f"gain-{version}-linux-x86_64.tar.gz"
    (folder / name).write_bytes(data)
    arts = [artifacts.Artifact(name, "tar.gz", "linux", "x86_64", len(data), hashlib.sha256(data).hexdigest())]
    sums = artifacts.sums_text(arts).encode()
    (folder / artifacts.SUMS).write_bytes(sums)
    sig = key.sign(sums)
    (folder / artifacts.SIG).write_text(signing.signature_line(sig))
    documents.write(folder / "artifacts.json", "artifacts", artifacts.document(
        name="gain", version=version, commit=None, tag=None, platform="linux", arch="x86_64", source_date_epoch=0,
        artifacts=arts, sums=sums, signature=sig, key=key, tools={}))
    return folder / "artifacts.json"


def write_config(path: Path, spec: dict[str, object]) -> Path:
    path.write_text(json.dumps({"servers": [spec], "channels": list(CHANNELS),
                                "manifest": {"expires_days": 7, "base_url": "https://updates.example"}}))
    return path


def build_template(base: Path, key_file: Path, key: signing.SigningKey) -> Path:
    """The update root every run starts from, built by the real publish-release and promote-release (local)."""
    root = base / "template"
    config = write_config(base / "template.json", {"name": "local", "transport": "local", "root": str(root),
                                                   "base_url": "https://updates.example"})
    for v in VERSIONS:
        doc = make_release(base / "dist" / v, key, v)
        subprocess.run([str(BIN / "publish-release"), "--servers", str(config), "--artifacts", str(doc), "--channel",
                        "dev", "--signing-key", str(key_file), "-q"], check=True)
        for to in ("beta", "stable"):
            subprocess.run([str(BIN / "promote-release"), "--servers", str(config), v, "--to", to, "--signing-key",
                            str(key_file), "-q"], check=True)
    return root


def sftp_batch(srv: Server, root: Path, staged: Path) -> None:
    """The floor: the rollback's remote writes as one OpenSSH sftp batch (posix-rename replaces the targets)."""
    r = str(root)
    lines = [f"mkdir {r}/channels/.lock"]
    for c in CHANNELS:
        lines += [f"put {staged / c}.json {r}/channels/.{c}.json.tmp",
                  f"rename {r}/channels/.{c}.json.tmp {r}/channels/{c}.json"]
    lines += [f"put {staged}/history.jsonl {r}/channels/.history.jsonl.tmp",
              f"rename {r}/channels/.history.jsonl.tmp {r}/channels/history.jsonl",
              f"symlink 1.2.0 {r}/releases/.latest.tmp",
              f"rename {r}/releases/.latest.tmp {r}/releases/latest",
              f"-mkdir {r}/quarantine",
              f"rename {r}/releases/1.3.0 {r}/quarantine/1.3.0-20261127T000000Z",
              f"put {staged}/rollback_log.jsonl {r}/.rollback_log.jsonl.tmp",
              f"rename {r}/.rollback_log.jsonl.tmp {r}/rollback_log.jsonl",
              f"rmdir {r}/channels/.lock"]
    subprocess.run(["sftp", "-q", "-b", "-", "-i", str(srv.key), "-o", f"UserKnownHostsFile={srv.known_hosts}",
                    "-o", "BatchMode=yes", "-P", str(srv.port), f"{srv.user}@{srv.host}"],
                   input="\n".join(lines).encode() + b"\n", check=True, capture_output=True)


def stage_floor_files(template: Path, staged: Path) -> None:
    """Bytes of the size a rollback writes: the current manifests, the history log plus a line, one log line."""
    staged.mkdir()
    for c in CHANNELS:
        shutil.copyfile(template / "channels" / f"{c}.json", staged / f"{c}.json")
    history = (template / "channels" / "history.jsonl").read_bytes()
    (staged / "history.jsonl").write_bytes(history + history.splitlines(keepends=True)[-1] * 3)
    (staged / "rollback_log.jsonl").write_bytes(b"{" + b'"x": 0, ' * 150 + b'"y": 1}\n')


def check_rolled_back(root: Path) -> None:
    assert os.readlink(root / "releases" / "latest") == "1.2.0", "releases/latest did not move"
    assert not (root / "releases" / "1.3.0").exists(), "1.3.0 was not quarantined"
    assert any(p.name.startswith("1.3.0-") for p in (root / "quarantine").iterdir())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="runs per method (median)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    srv = Server(base)
    try:
        key_file = base / "release.pem"
        key_file.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        key = signing.load_private_key_file(key_file)
        template = build_template(base, key_file, key)
        stage_floor_files(template, base / "staged")
        feed = base / "feed.json"
        feed.write_text(json.dumps({"versions": {"1.3.0": {"sessions": 5000, "crashes": 400, "clients": 900}}}))
        counter = iter(range(10**6))

        def fresh() -> tuple[Path, Path]:
            """A copy of the template under the sshd and a config naming it over SFTP."""
            n = next(counter)
            root = srv.root / f"run-{n}"
            shutil.copytree(template, root, symlinks=True)
            spec = {"name": "bench", "transport": "sftp", "host": srv.host, "port": srv.port, "user": srv.user,
                    "key_file": str(srv.key), "known_hosts": str(srv.known_hosts), "root": str(root),
                    "base_url": "https://updates.example"}
            return root, write_config(base / f"run-{n}.json", spec)

        def command(argv: Callable[[Path], list[str]]) -> Callable[[Path, Path], None]:
            def run(root: Path, config: Path) -> None:
                subprocess.run(argv(config), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
            return run

        def in_process(root: Path, config: Path) -> None:
            body = procedure.rollback(layout.load_config(config), "1.3.0", "bench", key)
            assert body["status"] == "complete", body

        methods: list[tuple[str, Callable[[Path, Path], None]]] = [
            ("floor: OpenSSH sftp -b (same renames and puts)", lambda root, _c: sftp_batch(srv, root, base / "staged")),
            ("rollback-release, whole command", command(lambda c: [
                str(BIN / "rollback-release"), "--servers", str(c), "1.3.0", "--reason", "bench",
                "--signing-key", str(key_file), "-q"])),
            ("releng.rollback.procedure.rollback(), in process", in_process),
            ("watch-health --once (feed, decision, halt, rollback)", command(lambda c: [
                str(BIN / "watch-health"), "--servers", str(c), "--feed", str(feed), "--once", "--signing-key",
                str(key_file), "-q"])),
        ]
        samples: dict[str, list[float]] = {name: [] for name, _ in methods}
        for _ in range(args.runs + 1):  # the first round warms caches and is dropped
            for name, method in methods:
                root, config = fresh()
                start = time.perf_counter()
                method(root, config)
                samples[name].append(time.perf_counter() - start)
                check_rolled_back(root)
                shutil.rmtree(root)
    finally:
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)
    floor = statistics.median(samples[methods[0][0]][1:])
    print(f"one rollback of 1.3.0 (3 channels) on a loopback sshd, median of {args.runs}, {os.cpu_count()} cores;"
          " target < 2 s")
    for name, _ in methods:
        t = statistics.median(samples[name][1:])
        print(f"  {name:54s} {t * 1000:8.1f} ms  {t / floor:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
