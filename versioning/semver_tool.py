"""Check, compare, sort and bump SemVer 2.0.0 versions.

  semver-tool valid 1.2.3              exit 0 if valid, 1 if not
  semver-tool compare 1.0.0-rc.1 1.0.0 prints -1, 0 or 1 (precedence; build metadata ignored)
  semver-tool sort < versions.txt      one version a line, printed ascending by precedence
  semver-tool next 1.0.0-rc.1 prerelease [--pre-id rc]
                                       the next version: major, minor, patch, premajor, preminor,
                                       prepatch, prerelease or release
"""

from __future__ import annotations

import sys

from releng import semver

TYPE_CHECKING = False  # not typing's: importing typing costs more than the whole `valid` check
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def sort_versions(lines: Sequence[str]) -> list[semver.Version]:
    """Parse non-blank lines and sort them by precedence (stable for equal precedence)."""
    versions = [semver.parse(line.strip(), f"line {n}") for n, line in enumerate(lines, 1) if line.strip()]
    return sorted(versions, key=semver.Version.precedence_key)


def _run(args: argparse.Namespace) -> int:
    if args.command == "valid":
        ok = semver.is_valid(args.version)
        if not ok and args.verbose:
            sys.stderr.write(f"{args.version!r} is not a SemVer 2.0.0 version\n")
        return 0 if ok else 1
    if args.command == "compare":
        a, b = semver.parse(args.a, "first version"), semver.parse(args.b, "second version")
        print(semver.compare(a, b))
        return 0
    if args.command == "sort":
        for v in sort_versions(sys.stdin.read().splitlines()):
            sys.stdout.write(f"{v}\n")
        return 0
    if args.command == "next":
        print(semver.bump(semver.parse(args.version), args.kind, args.pre_id))
        return 0
    raise AssertionError(args.command)  # argparse allows only the commands above


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) == 2 and args[0] == "valid":
        # The hot path (scripts call it in loops): skip argparse, whose import costs more than the check.
        return 0 if semver.is_valid(args[1]) else 1
    from releng import cli

    parser = cli.parser(__doc__, prog="semver-tool")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("valid", help="exit 0 if VERSION is valid SemVer 2.0.0, else 1")
    p.add_argument("version")
    p = sub.add_parser("compare", help="print -1, 0 or 1")
    p.add_argument("a")
    p.add_argument("b")
    sub.add_parser("sort", help="sort versions from stdin by precedence")
    p = sub.add_parser("next", help="print the next version")
    p.add_argument("version")
    p.add_argument("kind", choices=semver.BUMPS)
    p.add_argument("--pre-id", metavar="ID", help="prerelease label (default: rc)")
    return cli.run(_run, parser.parse_args(args))


if __name__ == "__main__":
    raise SystemExit(main())
