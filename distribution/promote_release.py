"""Move a published release along the channels (dev -> beta -> stable) and steer its staged rollout.

`promote-release VERSION --to beta` offers a release that is in releases/<VERSION>/ on every server, and currently
offered on the previous channel, on the next one (skipping a channel, or promoting what the previous channel does not
offer, needs --hotfix). On a channel that already offers VERSION, `--rollout PERCENT` raises (or sets) the rollout
percentage, and resumes a halted rollout; `--halt` halts it (percent kept). Lowering the percentage needs --force.
Every change re-signs the manifest with a higher manifest_number and a fresh expiry window, writes it with one rename
on every server (config order), and appends it to channels/history.jsonl. On stable, releases/latest moves to VERSION
when its rollout reaches 100% (not halted). With a `cdn` section in the config, the manifest URL (and, with stable
at 100%, the releases/latest/... URLs) are then purged; a rerun purges again. --dry-run prints every remote change
and makes none. --json (or --out FILE) gives a plain JSON object, not a releng/ document: version, channel, action
(promote, rollout, halt, refresh, unchanged), manifest_number, rollout, latest, servers (each with its changes), purged.
A manifest that expires within a day is re-signed even when nothing else changes (`refresh`).
`promote-release --refresh` (no VERSION) does that for every channel: the freeze window's job for cron or a
scheduled workflow (manifests expire after manifest.expires_days, 2 by default; docs/update-server.md).
Exit 0 when done (or nothing to change), 2 on bad input or a failing server.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from releng import cli, names, semver, signing
from releng.distribution import promote
from releng.errors import BadInput, ExternalError, RelengError
from releng.server import cdn, channel_store, layout
from releng.server.connect import open_server
from releng.server.transport import Transport, network_error

DEFAULT_CONFIG = Path(__file__).with_name("update_server_config.json")


def _run(args: argparse.Namespace) -> int:
    cfg = layout.load_config(args.servers)
    if args.refresh:
        return _refresh(args, cfg)
    if args.version is None or args.to is None:
        raise BadInput("give VERSION and --to CHANNEL (or --refresh alone)")
    names.check_version(_not_a_tag(args.version))
    channel = names.check_channel(args.to)
    if channel not in cfg["channels"] or cfg["channels"].index(channel) == 0:
        raise BadInput(f"--to must be a channel after {cfg['channels'][0]} (configured: {', '.join(cfg['channels'])})")
    percent = promote.parse_percent(args.rollout) if args.rollout is not None else None
    if args.halt and percent is not None:
        raise BadInput("--halt and --rollout contradict each other (a later --rollout resumes a halted rollout)")
    purger = cdn.from_config(cfg)
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    trusted = channel_store.trusted_keys(key, cfg["manifest"])
    specs = [s for s in cfg["servers"] if s.get("enabled", True)]
    if not specs:
        raise BadInput("no enabled server", args.servers)
    servers: list[tuple[str, Transport]] = []
    try:
        for spec in specs:
            servers.append((spec["name"], _connect(spec)))
        return _promote(args, cfg, servers, trusted, key, percent, purger)
    except Exception as e:
        if isinstance(e, RelengError) or not network_error(e):
            raise
        raise ExternalError(f"connection lost: {type(e).__name__}: {e}") from None
    finally:
        for _, t in servers:
            t.close()


def _refresh(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    """--refresh (issue 15's freeze window): re-sign every channel's manifest that expires within a day, unchanged
    but for a higher number and a new window, with the channel key: the job to run from cron or a schedule.
    With --force every manifest is re-signed (the first run with a new channel key)."""
    if args.version is not None or args.to is not None or args.halt or args.rollout is not None:
        raise BadInput("--refresh takes no VERSION, --to, --rollout or --halt: it re-signs every channel")
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    trusted = channel_store.trusted_keys(key, cfg["manifest"])
    specs = [s for s in cfg["servers"] if s.get("enabled", True)]
    if not specs:
        raise BadInput("no enabled server", args.servers)
    servers: list[Transport] = []
    try:
        for spec in specs:
            servers.append(_connect(spec))
        if args.dry_run:
            report = channel_store.refresh_all(servers, cfg["channels"], key, trusted, cfg["manifest"],
                                               names.actor(), dry=True, force=args.force)
        else:
            with channel_store.locked(servers):
                report = channel_store.refresh_all(servers, cfg["channels"], key, trusted, cfg["manifest"],
                                                   names.actor(), force=args.force)
    finally:
        for t in servers:
            t.close()
    for line in report:
        cli.info(args, f"{line['channel']}: {'would ' if args.dry_run and line['action'] == 'refresh' else ''}"
                       f"{line['action']} (manifest {line['manifest_number']})")
    cli.emit_json(args, {"action": "refresh", "dry_run": bool(args.dry_run), "channels": report})
    return cli.OK


def _not_a_tag(version: str) -> str:
    """`promote-release v0.4.2` is refused (exit 2) naming 0.4.2: releases/ and the channels know versions, and
    guessing at a tag prefix would hide a typo (issue 13: refused, not normalised)."""
    bare = version.lstrip("vV")
    if bare != version and semver.is_valid(bare):
        raise BadInput(f"give the version, not the tag name: {bare} (not {version})")
    return version


def _connect(spec: dict[str, Any]) -> Transport:
    try:
        return open_server(spec)
    except (OSError, EOFError) as e:
        raise ExternalError(f"cannot connect: {e}", spec["name"]) from None


def _promote(args: argparse.Namespace, cfg: dict[str, Any], servers: list[tuple[str, Transport]],
             trusted: dict[str, bytes], key: signing.SigningKey, percent: float | None,
             purger: cdn.Purger | None) -> int:
    req = promote.Request(version=args.version, channel=args.to, percent=percent, halt=args.halt,
                          hotfix=args.hotfix, force=args.force)

    def say(message: str, level: int) -> None:
        cli.info(args, message, level=level)

    decision = promote.plan(cfg, servers, trusted, req)  # refusals before any lock is taken
    if args.dry_run:
        body = promote.apply(cfg, servers, key, req, decision, purger, names.actor(), dry=True, say=say)
    else:
        with channel_store.locked([t for _, t in servers]):
            decision = promote.plan(cfg, servers, trusted, req)
            body = promote.apply(cfg, servers, key, req, decision, purger, names.actor(), dry=False, say=say)
    rollout = body["rollout"]  # the resulting percentage, said for a dry run too (issue 13)
    state = f"{rollout['percent']:g}% of users" + (", halted: no new installs" if rollout["halted"] else "")
    cli.info(args, f"{req.channel}: {'would ' if args.dry_run else ''}{decision.action} {req.version}: offered to "
                   f"{state} (manifest {body['manifest_number']})")
    if body["purge_error"]:
        cli.error(f"{body['purge_error']} (the manifest change is done; rerun the same command to purge again)")
    cli.emit_json(args, body)
    return cli.OK if body["purge_error"] is None else cli.BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="promote-release")
    cli.add_output(parser, "the result (a plain JSON object)")
    cli.add_dry_run(parser)
    cli.add_servers(parser, default=DEFAULT_CONFIG)
    parser.add_argument("version", metavar="VERSION", nargs="?",
                        help="a release already published with publish-release")
    parser.add_argument("--to", metavar="CHANNEL", help="the channel to offer it on (beta, stable); required "
                                                        "with VERSION")
    parser.add_argument("--refresh", action="store_true",
                        help="re-sign every channel's manifest that expires within a day (nothing else changes): "
                             "the freeze window's cron job")
    parser.add_argument("--rollout", metavar="PERCENT", help="rollout percentage 1..100 (default on promote: 100)")
    parser.add_argument("--halt", action="store_true", help="halt the channel's rollout of VERSION")
    parser.add_argument("--hotfix", action="store_true", help="promote without the previous channel offering it")
    parser.add_argument("--force", action="store_true", help="allow lowering the rollout percentage")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
