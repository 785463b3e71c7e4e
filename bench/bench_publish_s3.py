"""The s3 transport against `aws s3 cp` (awscli, the `bench` extra), both to one local moto server; rollback time.

Starts `moto_server` on 127.0.0.1 as its own process (so the server does not share this process's interpreter),
writes a random file (512 MiB by default) and uploads it with:
- `aws s3 cp FILE s3://bucket/aws/N --endpoint-url ...` (awscli's transfer manager: multipart, parallel parts);
- releng.server.s3.S3Transport.put_file (what publish-release uses: a sha256 pass over the file for the stored
  checksum, then multipart with parallel parts, each carrying its x-amz-checksum-sha256, create-only).
Prints MiB/s of each and the ratio (target >= 0.9x). Then builds 1.2.0 and 1.3.0 promoted to stable in a bucket and
times `releng.rollback.procedure.rollback()` of 1.3.0 (target < 2 s), as bench/bench_rollback.py does over SFTP.

    python bench/bench_publish_s3.py [--mib 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_rollback import CHANNELS, VERSIONS, make_release
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from releng import files, signing
from releng.rollback import procedure
from releng.server import layout
from releng.server.s3 import S3Transport

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2, help="uploads per method (best is reported)")
    args = ap.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_EC2_METADATA_DISABLED="true")
    base = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    proc, endpoint = start_moto()
    try:
        import boto3  # type: ignore[import-untyped]

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        big = base / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(1 << 20))
        size = big.stat().st_size
        digest = files.sha256_file(big)[1]  # publish-release has it from the artifacts document
        aws = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
        times: dict[str, list[float]] = {"aws s3 cp": [], "S3Transport.put_file": []}
        for run in range(args.runs):
            if aws:
                t0 = time.perf_counter()
                subprocess.run([aws, "s3", "cp", "--quiet", str(big), f"s3://bench/aws/{run}", "--endpoint-url",
                                endpoint], check=True)
                times["aws s3 cp"].append(time.perf_counter() - t0)
            t = S3Transport("bench", bucket="bench", endpoint_url=endpoint, region="us-east-1",
                            base_url=f"{endpoint}/bench")
            t0 = time.perf_counter()
            t.put_file(big, f"releases/0.0.{run}/big.bin", digest)
            times["S3Transport.put_file"].append(time.perf_counter() - t0)
            t.close()
        mib = size / (1 << 20)
        rates = {k: mib / min(v) for k, v in times.items() if v}
        for k, r in rates.items():
            print(f"{k:24s} {r:8.1f} MiB/s  (best of {len(times[k])})")
        if len(rates) == 2:
            print(f"ratio S3Transport / aws s3 cp: {rates['S3Transport.put_file'] / rates['aws s3 cp']:.2f}x "
                  "(target >= 0.9x)")
        else:
            print("awscli not installed (pip install -e '.[bench]'): no ratio")
        print(f"rollback: {rollback_time(base, endpoint):.2f} s median (target < 2 s)")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)
    return 0


def rollback_time(base: Path, endpoint: str, runs: int = 5) -> float:
    """Median time of procedure.rollback() of 1.3.0 in a fresh bucket where 1.2.0 and 1.3.0 reached stable."""
    import boto3  # type: ignore[import-untyped]

    key_file = base / "release.pem"
    key_file.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key = signing.load_private_key_file(key_file)
    docs = {v: make_release(base / "dist" / v, key, v) for v in VERSIONS}
    spent = []
    for run in range(runs):
        bucket = f"rollback-{run}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        config = base / f"c{run}.json"
        config.write_text(json.dumps({"servers": [{"name": "bucket", "transport": "s3", "bucket": bucket,
                                                   "endpoint_url": endpoint, "base_url": f"{endpoint}/{bucket}"}],
                                      "channels": list(CHANNELS),
                                      "manifest": {"expires_days": 7, "base_url": f"{endpoint}/{bucket}"}}))
        for v in VERSIONS:
            subprocess.run([str(BIN / "publish-release"), "--servers", str(config), "--artifacts", str(docs[v]),
                            "--channel", "dev", "--signing-key", str(key_file), "-q"], check=True)
            for to in ("beta", "stable"):
                subprocess.run([str(BIN / "promote-release"), "--servers", str(config), v, "--to", to,
                                "--signing-key", str(key_file), "-q"], check=True)
        cfg = layout.load_config(config)
        t0 = time.perf_counter()
        procedure.rollback(cfg, "1.3.0", "bench", key, trigger="manual")
        spent.append(time.perf_counter() - t0)
    return statistics.median(spent)


if __name__ == "__main__":
    sys.exit(main())
