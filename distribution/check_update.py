"""Check a signed update channel; download and verify the update for this machine (the reference update client).

  check-update --manifest-url https://updates.example/channels/stable.json --public-key KEY \\
               --product audiolab-gain --current-version 1.2.0 --client-id 6f1c... \\
               --state ~/.gainplug/update-state.json

Fetches the channel's DSSE envelope (at most 64 KiB), verifies its Ed25519 signature with a trusted key before
reading anything else, then checks product, channel, expiry, manifest_number against the state file (replay),
version (newer, or a rollback of the installed one) and the staged rollout. The artifact for the platform is
downloaded to a temp name, checked against the signed size and sha256, and only then renamed; its path is printed
on stdout. The state file records every manifest the client answered from (exit 0 or 1), under a lock, and its
numbers never go down; a refusal or failure (exit 2) leaves it as it was. --max-time bounds the whole run.

Artifact URLs may be relative (resolved against the manifest URL) or absolute on the manifest's own origin
(scheme, host and port); any other host is refused, and HTTP redirects are never followed.

With --root FILE (issue 15) the newest root is fetched first (`trust/<N+1>.root.json` beside `channels/`, until
404), each version signed by a threshold of the previous root keys and of its own, and kept as STATE.root.json; the
manifest must carry a threshold of channel signatures and the artifact must be listed in the release's SHA256SUMS,
signed (SHA256SUMS.sig) by a threshold of release keys.

Exit codes: 0 the verified update's path is on stdout; 1 no update (not newer, same manifest as last time, not in
the rollout, nothing for this platform); 2 refused (bad signature, another product or channel, expired, replayed,
size or hash mismatch, corrupt state, bad usage), a network failure or --max-time passed.
docs/update-client.md specifies the algorithm.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from releng import cli, files, http, names, semver, signing, times, trust
from releng.distribution import client
from releng.errors import BadInput


def _run(args: argparse.Namespace) -> int:
    deadline = http.Deadline(client.seconds(args.max_time, "--max-time"))  # first: the whole run counts
    timeout = client.seconds(args.timeout, "--timeout")
    # One "now" for the whole run (docs/security-properties.md #18); --now only exists so tests can pin it.
    now = times.parse_time(args.now, "--now") if args.now else times.utc_now()
    url = client.check_url(args.manifest_url)
    if not args.client_id:
        raise BadInput("--client-id must not be empty")
    ask = client.Ask(product=names.check_name(args.product, "--product name"),
                     channel=args.channel or client.channel_from_url(url),
                     current=semver.parse(args.current_version, "--current-version"),
                     client_id=args.client_id, platform=args.platform or client.this_platform())
    if bool(args.public_key) == bool(args.root):
        raise BadInput("give --root FILE (the root of trust shipped with the app) or --public-key KEY, not both")
    trusted = {signing.key_id(raw): raw for raw in map(signing.load_public_key, args.public_key or [])}
    shipped = files.read_capped(args.root, trust.MAX_ROOT_BYTES, "--root") if args.root else None
    outcome = client.check(client.Request(manifest_url=url, trusted=trusted, ask=ask, state=Path(args.state),
                                          download_dir=Path(args.download_dir), timeout=timeout, deadline=deadline,
                                          now=now, shipped_root=shipped))
    cli.info(args, outcome.message)
    if args.json:
        sys.stdout.write(json.dumps(outcome.body, sort_keys=True) + "\n")
    elif outcome.path is not None:
        sys.stdout.write(f"{outcome.path.resolve()}\n")
    return cli.OK if outcome.update else cli.NEGATIVE


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="check-update")
    parser.add_argument("--manifest-url", required=True, metavar="URL", help="the channel manifest (DSSE envelope)")
    parser.add_argument("--root", metavar="FILE",
                        help="the root of trust shipped with the app (trust/<v>.root.json): its roles say which "
                             "keys sign manifests and releases; newer roots are fetched from the server's trust/")
    parser.add_argument("--public-key", action="append", metavar="KEY",
                        help="the shortcut for --root: a trusted Ed25519 public key (base64 of its 32 raw bytes, "
                             "or a file holding it; PEM or OpenSSH public keys too) in every role, threshold 1; "
                             "repeat for key rotation")
    parser.add_argument("--product", required=True, metavar="NAME",
                        help="this product's name (the release's artifacts.json `name`); a manifest of another "
                             "product is refused")
    parser.add_argument("--current-version", required=True, metavar="V", help="the installed version")
    parser.add_argument("--client-id", required=True, metavar="ID", help="this installation's stable random id")
    parser.add_argument("--state", required=True, metavar="FILE",
                        help="the client's state file (JSON; FILE.lock beside it is its lock)")
    parser.add_argument("--channel", metavar="C", help="the channel asked for (default: <channel>.json of the URL)")
    parser.add_argument("--platform", metavar="P", help="artifact key <os>-<arch> (default: this machine's)")
    parser.add_argument("--download-dir", default=".", metavar="D", help="where the verified file goes (default: .)")
    parser.add_argument("--timeout", default="30", metavar="S", help="per connect and per read, seconds (default: 30)")
    parser.add_argument("--max-time", default="900", metavar="S",
                        help="for the whole run, seconds (default: 900): past it every connection is cut")
    cli.add_output(parser, "the outcome as one JSON object", out=False)
    parser.add_argument("--now", metavar="RFC3339", help="FOR TESTS ONLY: pretend the time is this (UTC, ...Z)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
