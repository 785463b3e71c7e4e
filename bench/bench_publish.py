"""Upload throughput of publish-release's SFTP transport against OpenSSH's `sftp` put, to a loopback sshd.

Starts a throwaway sshd on 127.0.0.1 (its own host key, a generated client key, internal-sftp), writes a random file
(512 MiB by default), and puts it with: OpenSSH `sftp -b`, paramiko's plain `put`, then each tuning step in turn,
then releng.server.sftp.SftpTransport.put_file (what publish-release uses: all steps plus hashing on the way).
Prints MiB/s and the ratio to OpenSSH for each; the target is >= 0.9x.

    python bench/bench_publish.py [--mib 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko  # type: ignore[import-untyped]
from releng.server import sftp as sftp_transport
from releng.server import transport
from releng.server.sftp import SftpTransport


class Server:
    def __init__(self, base: Path) -> None:
        self.base, self.host, self.user = base, "127.0.0.1", getpass.getuser()
        with socket.socket() as s:
            s.bind((self.host, 0))
            self.port = int(s.getsockname()[1])
        self.root = base / "root"
        self.root.mkdir()
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
        self.key = base / "client_key"
        (base / "authorized_keys").write_text((base / "client_key.pub").read_text())
        self.known_hosts = base / "known_hosts"
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {(base / 'host_key.pub').read_text()}")
        (base / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {base / 'host_key'}\n"
            f"AuthorizedKeysFile {base / 'authorized_keys'}\nPidFile {base / 'sshd.pid'}\nStrictModes no\n"
            "UsePAM no\nPasswordAuthentication no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(base / "sshd_config")],
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection((self.host, self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def openssh_put(srv: Server, local: Path, remote: str) -> None:
    subprocess.run(["sftp", "-q", "-b", "-", "-i", str(srv.key), "-o", f"UserKnownHostsFile={srv.known_hosts}",
                    "-o", "BatchMode=yes", "-P", str(srv.port), f"{srv.user}@{srv.host}"],
                   input=f"put {local} {remote}\n".encode(), check=True, capture_output=True)


def paramiko_put(srv: Server, local: Path, remote: str, *, window: bool, gcm: bool, big: bool) -> None:
    """paramiko's own put, with some of the tuning steps switched on."""
    def factory(sock: Any, **kw: Any) -> paramiko.Transport:
        if window:
            kw.update(default_window_size=sftp_transport.WINDOW, default_max_packet_size=sftp_transport.PACKET)
        t = paramiko.Transport(sock, **kw)
        if gcm:
            t._preferred_ciphers = ("aes128-gcm@openssh.com", *t._preferred_ciphers)
        return t

    client = paramiko.SSHClient()
    client.load_host_keys(str(srv.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(srv.host, srv.port, srv.user, key_filename=str(srv.key), look_for_keys=False,
                   allow_agent=False, transport_factory=factory)
    kw = {"window_size": sftp_transport.WINDOW, "max_packet_size": sftp_transport.PACKET} if window else {}
    sftp = paramiko.SFTPClient.from_transport(client.get_transport(), **kw)
    if big:  # 255 KiB requests, unbuffered, one request per write
        with open(local, "rb") as src, sftp.open(remote, "w", bufsize=0) as f:
            f.MAX_REQUEST_SIZE = transport.CHUNK
            f.set_pipelined(True)
            while block := src.read(transport.CHUNK):
                f.write(block)
    else:
        sftp.put(str(local), remote)  # paramiko pipelines put() already, in 32 KiB requests
    client.close()


def ours(srv: Server, local: Path, remote: str) -> None:
    t = SftpTransport("bench", host=srv.host, port=srv.port, user=srv.user, root=str(srv.root),
                      known_hosts=str(srv.known_hosts), key_file=str(srv.key), base_url="https://x")
    t.put_file(local, Path(remote).name)
    t.close()


def whole_command(srv: Server, local: Path, remote: str) -> None:
    """`publish-release` end to end, as a subprocess: a signed release folder holding the file, then the manifest."""
    import hashlib
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from releng import artifacts, documents, signing

    dist = srv.base / f"dist-{time.monotonic_ns()}"
    dist.mkdir()
    name = "gain-1.0.0-linux-x86_64.tar.gz"
    os.link(local, dist / name)
    h = hashlib.sha256()
    with open(local, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (dist / "key.pem").write_bytes(pem)
    key = signing.load_private_key_file(dist / "key.pem")
    arts = [artifacts.Artifact(name, "tar.gz", "linux", "x86_64", local.stat().st_size, h.hexdigest())]
    sums = artifacts.sums_text(arts).encode()
    (dist / artifacts.SUMS).write_bytes(sums)
    (dist / artifacts.SIG).write_text(signing.signature_line(key.sign(sums)))
    documents.write(dist / "artifacts.json", "artifacts", artifacts.document(
        name="gain", version="1.0.0", commit=None, tag=None, platform="linux", arch="x86_64", source_date_epoch=0,
        artifacts=arts, sums=sums, signature=key.sign(sums), key=key, tools={}))
    root = srv.root / f"pub-{time.monotonic_ns()}"
    root.mkdir()
    config = dist / "servers.json"
    config.write_text(json.dumps({"servers": [{
        "name": "bench", "transport": "sftp", "host": srv.host, "port": srv.port, "user": srv.user,
        "key_file": str(srv.key), "known_hosts": str(srv.known_hosts), "root": str(root), "base_url": "https://x"}]}))
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("publish-release")), "--servers", str(config), "--artifacts",
                    str(dist / "artifacts.json"), "--channel", "dev", "--signing-key", str(dist / "key.pem")],
                   check=True)
    elapsed = time.perf_counter() - start
    shutil.copyfile(root / "releases" / "1.0.0" / name, remote)  # for the size check below (not timed)
    TIMED[0] = elapsed
    shutil.rmtree(root)
    shutil.rmtree(dist)


TIMED = [0.0]  # whole_command times only the command, not the folder it prepares


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2, help="best of N per method")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    srv = Server(base)
    local = base / "artifact.bin"
    with open(local, "wb") as f:
        for _ in range(args.mib):
            f.write(os.urandom(1 << 20))
    methods: list[tuple[str, Callable[[Server, Path, str], None]]] = [
        ("OpenSSH sftp put", openssh_put),
        ("paramiko put", lambda s, p, r: paramiko_put(s, p, r, window=False, gcm=False, big=False)),
        ("+ 64 MiB window, 256 KiB packets", lambda s, p, r: paramiko_put(s, p, r, window=True, gcm=False, big=False)),
        ("+ aes128-gcm", lambda s, p, r: paramiko_put(s, p, r, window=True, gcm=True, big=False)),
        ("+ 255 KiB write requests", lambda s, p, r: paramiko_put(s, p, r, window=True, gcm=True, big=True)),
        ("releng SftpTransport.put_file (+ sha256)", ours),
        ("publish-release, whole command", whole_command),
    ]
    results: dict[str, float] = {}
    try:
        for _ in range(args.runs):
            for name, put in methods:
                remote = srv.root / "upload.bin"
                remote.unlink(missing_ok=True)
                TIMED[0] = 0.0
                start = time.perf_counter()
                put(srv, local, str(remote))
                rate = args.mib / (TIMED[0] or time.perf_counter() - start)
                assert remote.stat().st_size == local.stat().st_size
                results[name] = max(results.get(name, 0.0), rate)
    finally:
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)
    ref = results["OpenSSH sftp put"]
    print(f"{args.mib} MiB to a loopback sshd, best of {args.runs}, {os.cpu_count()} cores")
    for name, _ in methods:
        print(f"  {name:44s} {results[name]:7.1f} MiB/s  {results[name] / ref:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
