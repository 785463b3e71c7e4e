"""Keys and the root of trust (issue 15): key pairs, root documents, and publishing them to the update servers.

  manage-keys new --out FILE                  a key pair: FILE (private, mode 0600) and FILE.pub; prints the
                                              public key's base64 (never the private key)
  manage-keys init --out FILE --root-key PUB... --root-threshold N --release-key PUB... --release-threshold N
                   --channel-key PUB... --channel-threshold N --sign-with PRIVATE... [--expires-days D]
  manage-keys rotate --from FILE --out FILE [the key and threshold options of the roles that change]
                     [--sign-with PRIVATE...]  version N+1, a draft that may not verify yet
  manage-keys sign FILE --key PRIVATE          add one signature (key holders on separate machines)
  manage-keys show FILE [--previous FILE]      roles, key ids, thresholds, expiry, which signatures verify
  manage-keys publish --servers FILE ROOT      upload trust/<v>.root.json, switch trust/root.json on every server

PUB is a public key file or its base64; each key option repeats, one key each. PRIVATE is a private key file (PEM
or OpenSSH), never a key itself. `publish` refuses (exit 2) a root that does not verify against the newest one
published: version N+1, signed by a threshold of N's root keys and a threshold of its own.
docs/update-server.md ("Key ceremony") says which key lives where and how to rotate after a loss.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from releng import cli, documents, times, trust
from releng.distribution import root_keys
from releng.errors import BadInput


def _roles(args: argparse.Namespace, required: bool) -> dict[str, dict[str, Any]]:
    out = {}
    for name in trust.ROLES:
        keys, threshold = getattr(args, f"{name}_key"), getattr(args, f"{name}_threshold")
        if not keys and threshold is None:
            if required:
                raise BadInput(f"--{name}-key and --{name}-threshold are required")
            continue
        if threshold is None:
            raise BadInput(f"--{name}-threshold is required with --{name}-key")
        out[name] = root_keys.role(keys or [], threshold, name)
    return out


def _expires(args: argparse.Namespace) -> datetime:
    if not 0 < args.expires_days <= 3660:
        raise BadInput(f"--expires-days must be 1..3660, found {args.expires_days}")
    return times.utc_now().replace(microsecond=0) + timedelta(days=args.expires_days)


def _write(path: str, data: bytes) -> None:
    documents.write_bytes_atomic(path, data + b"\n")


def _run(args: argparse.Namespace) -> int:
    if args.command == "new":
        key = root_keys.new_key(Path(args.out))
        sys.stdout.write(key.public_b64 + "\n")
        cli.info(args, f"key {key.key_id}: private key in {args.out} (mode 0600), public key in {args.out}.pub")
    elif args.command == "init":
        envelope = root_keys.init(_roles(args, True), _expires(args), root_keys.load_signers(args.sign_with))
        _write(args.out, envelope)
        cli.info(args, f"root version 1 written to {args.out}")
    elif args.command == "rotate":
        before = root_keys.read_root(args.previous)[0]
        changes = _roles(args, False)
        envelope = root_keys.rotate(before, changes, _expires(args), root_keys.load_signers(args.sign_with))
        _write(args.out, envelope)
        cli.info(args, f"root version {before.version + 1} (draft) written to {args.out}: "
                       f"`manage-keys show {args.out} --previous {args.previous}` says which signatures it lacks")
    elif args.command == "sign":
        from releng import files

        envelope = files.read_capped(args.file, trust.MAX_ROOT_BYTES, "root document").strip()
        _write(args.file, trust.add_signature(envelope, root_keys.load_signers([args.key])[0]))
        cli.info(args, f"signature added to {args.file}")
    elif args.command == "show":
        previous = root_keys.read_root(args.previous)[0] if args.previous else None
        sys.stdout.write("\n".join(root_keys.describe(args.file, previous)) + "\n")
    else:
        return _publish(args)
    return cli.OK


def _publish(args: argparse.Namespace) -> int:
    from releng import files
    from releng.server import layout
    from releng.server.connect import open_server

    cfg = layout.load_config(args.servers)
    specs = [s for s in cfg["servers"] if s.get("enabled", True)]
    if not specs:
        raise BadInput("no enabled server", args.servers)
    envelope = files.read_capped(args.root, trust.MAX_ROOT_BYTES, "root document").strip()
    servers = [(s["name"], open_server(s)) for s in specs]
    try:  # check against every server's newest first: nothing is uploaded anywhere unless all agree
        published = [root_keys.newest_published(t) for _, t in servers]
        root = root_keys.check_publishable(envelope, published, args.root)
        for name, t in servers:
            cli.info(args, f"{name}: trust/{root.version}.root.json {root_keys.publish(t, envelope, root.version)}")
    finally:
        for _, t in servers:
            t.close()
    return cli.OK


def _key_options(p: argparse.ArgumentParser) -> None:
    for name in trust.ROLES:
        p.add_argument(f"--{name}-key", action="append", metavar="PUB",
                       help=f"a {name} public key (file or base64); repeat, one key each")
        p.add_argument(f"--{name}-threshold", type=int, metavar="N", help=f"how many {name} keys must sign")
    p.add_argument("--sign-with", action="append", default=[], metavar="PRIVATE",
                   help="a root private key file to sign with; repeat")
    p.add_argument("--expires-days", type=int, default=365, metavar="D", help="validity (default: 365 days)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="manage-keys")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("new", help="a new Ed25519 key pair")
    p.add_argument("--out", required=True, metavar="FILE", help="the private key file (FILE.pub: the public key)")
    p = sub.add_parser("init", help="root version 1")
    p.add_argument("--out", required=True, metavar="FILE")
    _key_options(p)
    p = sub.add_parser("rotate", help="root version N+1 (a draft)")
    p.add_argument("--from", dest="previous", required=True, metavar="FILE")
    p.add_argument("--out", required=True, metavar="FILE")
    _key_options(p)
    p = sub.add_parser("sign", help="add one signature to a root document")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--key", required=True, metavar="PRIVATE", help="the private key file")
    p = sub.add_parser("show", help="describe a root document")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--previous", metavar="FILE", help="also count signatures by this root's root keys")
    p = sub.add_parser("publish", help="upload and switch trust/ on every enabled server")
    cli.add_servers(p)
    p.add_argument("root", metavar="ROOT")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
