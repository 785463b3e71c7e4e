"""Verify a release folder: the Ed25519 signature of SHA256SUMS, every listed file's size and sha256, and
artifacts.json against both.

  verify-artifacts dist/ --public-key C+Q+JKTsgD/EubC1F6dcK2oxYHkTIYdFvgxnGfj60vI=
  verify-artifacts dist/ --public-key release.pub      (base64, a PEM public key, or an OpenSSH ssh-ed25519 line)

Exit 0: everything matches. Exit 1: the first mismatch, named (a bad or missing signature, a file missing, of
another size or another sha256, artifacts.json disagreeing with SHA256SUMS). Exit 2: bad input (no such folder,
a malformed public key, a document of a newer schema).
The public key is base64 of the 32 raw Ed25519 bytes, as `build-package --print-public-key` prints it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from releng import artifacts, cli, files, progress, signing


def _run(args: argparse.Namespace) -> int:
    public = signing.load_public_key(args.public_key)
    folder = Path(args.folder)
    enabled = progress.drawable(sys.stderr) and not args.quiet

    def hasher(path: Path, size: int) -> tuple[int, str]:
        bar = progress.Progress(size, sys.stderr, label=f"hashing {path.name}") if enabled else None
        try:
            return files.sha256_file(path, bar)
        finally:
            if bar is not None:
                bar.close()

    try:
        doc = artifacts.verify_folder(folder, public, hasher)
    except artifacts.Failed as e:
        cli.error(str(e))
        return cli.NEGATIVE
    if args.json:
        from releng import documents

        sys.stdout.write(documents.dumps("artifacts", doc))
    cli.info(args, f"ok: {len(doc['artifacts'])} artifacts of {doc['name']} {doc['version']} match SHA256SUMS, "
                   f"signed by key {signing.key_id(public)}")
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="verify-artifacts")
    parser.add_argument("folder", metavar="DIR", help="the release folder (SHA256SUMS, .sig, artifacts.json)")
    parser.add_argument("--public-key", required=True, metavar="KEY",
                        help="base64 of the 32-byte Ed25519 public key, or a file holding it")
    cli.add_output(parser, "the verified releng/artifacts document", out=False)
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
