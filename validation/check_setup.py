"""Check, before anything changes, everything a release will read: the releng config and every key in it (unknown
keys listed with the nearest valid name), every version file present and agreeing, the changelog settings, the
contents manifest (against the staging tree when one exists), the compatibility matrix naming this project, the
signing key readable (never printed: only its key id), the update servers' config and, with --online, each
enabled server reachable (SFTP: with the host key its known_hosts names).

  check-setup                                     the repository around the working directory
  check-setup --servers update_server_config.json --online --signing-key release.pem

Exit 0 when ready, 1 with the list of problems (one a line, each naming its file or key), 2 on bad usage.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from releng import cli, git

if TYPE_CHECKING:
    import argparse

HERE = Path(__file__).resolve().parent
SHIPPED_CONTENTS = HERE.parent / "packaging" / "package_contents.toml"  # build-package's generic manifest


def _run(args: argparse.Namespace) -> int:
    from releng.validation import setup_check

    repo = git.toplevel(args.repo or ".")
    # --staging, else the tree build-package staged last (build/package/<platform>-<arch>/stage), if any
    staging = Path(args.staging) if args.staging else next(iter(sorted((repo / "build" / "package").glob("*/stage"))),
                                                           None)
    inputs = setup_check.Inputs(
        repo=repo, config=args.config, servers=args.servers, online=args.online,
        signing_key=args.signing_key, staging=staging,
        shipped_contents=SHIPPED_CONTENTS if SHIPPED_CONTENTS.is_file() else None)
    report = setup_check.run(inputs)
    for note in report.notes:
        cli.info(args, f"ok: {note}", level=0)
    for problem in report.problems:
        sys.stderr.write(f"problem: {problem}\n")
    if report.problems:
        n = len(report.problems)
        sys.stderr.write(f"check-setup: {n} problem{'s' if n > 1 else ''}: fix {'them' if n > 1 else 'it'} "
                         "before a release\n")
        return cli.NEGATIVE
    cli.info(args, "check-setup: ready to release", level=-1)
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="check-setup")
    cli.add_repository(parser)
    cli.add_servers(parser, required=False)
    parser.add_argument("--online", action="store_true", help="also reach every enabled server of --servers")
    parser.add_argument("--signing-key", metavar="FILE",
                        help="the release key to check (default: the variable [packaging] signing_key_env names)")
    parser.add_argument("--staging", metavar="DIR", help="a staging tree to check against the contents manifest "
                        "(default: build-package's last, build/package/*/stage)")
    args = parser.parse_args(argv)
    if args.online and not args.servers:
        parser.error("--online needs --servers FILE")
    return cli.run(_run, args)


if __name__ == "__main__":
    raise SystemExit(main())
