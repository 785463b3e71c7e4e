"""Roll a bad release back on every update server, in seconds, without a reader ever seeing a broken file.

`rollback-release --servers F VERSION --reason TEXT` does, on every configured server (config order), under
channels/.lock: every channel manifest that offers VERSION is replaced by a signed manifest offering the previous
good release, with a higher manifest_number and `rollback_of: VERSION` (clients that installed VERSION accept it);
each change is appended to channels/history.jsonl; `releases/latest`, if it points at VERSION, is switched to the
previous good release by renaming a new symlink over it; then `releases/VERSION` is renamed to
`quarantine/VERSION-<utc stamp>/` (kept, never deleted). Then, once: the CDN purges the changed manifests and
`releases/latest/...` (config `cdn`), the GitHub release of vVERSION is titled "(rolled back)" and made a
prerelease (config `github`), and a message goes to a Slack-compatible webhook and/or by SMTP mail (config
`notify`). Last, one JSON line (who, when, reason, from, to, channels, duration, per-server result) goes to
rollback_log.jsonl at each server's root, and the follow-up is printed: the hotfix branch command and the
lessons-learned template (rollback/rollback_checklist.md).

The previous good release is the newest version in releases/ (on every reachable server) lower than VERSION, never
rolled back before, and not a prerelease when stable or releases/latest changes. Each channel offers it again with
the rollout (percent, halted) that channel last offered it with (channels/history.jsonl), 100% when it never did;
the report says which. The hotfix hint names the next free patch on its line (no release, quarantined release or
rollback log knows it: bump-version accepts it on that branch), and the `changelog:` line how CHANGELOG.md marks
VERSION [YANKED]. `--channel C` rolls back C only;
releases/VERSION is then quarantined only when no other channel (nor releases/latest) still offers it.

Idempotent: when a server is down, or the CDN, GitHub or the webhook fails, the rest is done, the report and the
log line (status "partial") name what failed, and the same command run again finishes the job (a lagging server
gets the same manifest bytes: no number is skipped; the log line is rewritten, never duplicated).
--dry-run prints every step and changes nothing. --json / --out FILE write the `releng/rollback` document.
Exit 0 when complete, 2 on bad input (nothing changed) or when a step failed (rerun to finish).

`rollback-release --channel C --revert-to NUMBER --reason TEXT` (no VERSION) reverts one channel to any entry of
channels/history.jsonl (docs/security-properties.md #34): the version and rollout that entry offered, rebuilt from
releases/<version>/ and re-signed with the next manifest_number (`rollback_of` the current version when that goes
back); releases/latest follows on stable at 100%. --json / --out give a plain JSON summary (channel, reverted_to,
version, manifest_number, rollback_of, servers).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from releng import cli, names, signing
from releng.errors import BadInput
from releng.rollback import follow_up, procedure
from releng.server import layout

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "distribution" / "update_server_config.json"


def _run(args: argparse.Namespace) -> int:
    if (args.version is None) == (args.revert_to is None) or (args.revert_to is not None and not args.channel):
        raise BadInput("give VERSION to roll back, or --channel C --revert-to NUMBER (not both)")
    if args.version is not None:
        names.check_version(args.version)
    cfg = layout.load_config(args.servers)
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    if args.revert_to is not None:
        return _revert(args, cfg, key)
    body = procedure.rollback(cfg, args.version, args.reason, key, channel=args.channel, dry_run=args.dry_run,
                             say=lambda m: cli.info(args, m, level=-1 if args.dry_run else 0))
    cli.emit(args, "rollback", body)
    for s in body["servers"]:
        if s["status"] == "failed":
            cli.error(f"{s['name']}: {s['error']} (rerun the same command when it is back)")
    for name, step in body["steps"].items():
        if step["status"] == "failed":
            cli.error(f"{name}: {step['error']} (rerun the same command to retry)")
    if body["status"] == "dry-run":
        return cli.BAD_INPUT if body["failed"] else cli.OK
    done = "rolled back" if body["status"] == "complete" else "PARTLY rolled back"
    follow = body["follow_up"]
    offers = "; ".join(f"{m['channel']} offers {m['version']} to {follow_up.rollout_text(m['rollout'])}"
                       + (f" ({m['rollout_from']})" if m.get("rollout_from") else "") for m in body["manifests"])
    cli.info(args, f"{args.version} {done} to {body['to']} on {', '.join(body['channels']) or 'no channel'} "
                   f"in {body['duration_s']:.2f} s" + (f"\n{offers}" if offers else "")
                   + f"\nnext: {follow['hotfix']} (then bump-version patch on that branch)"
                   f"\nchangelog: {follow['yank']}"
                   f"\nthen: write the lessons learned (template: {follow['checklist']})")
    return cli.OK if body["status"] == "complete" else cli.BAD_INPUT


def _revert(args: argparse.Namespace, cfg: dict[str, Any], key: signing.SigningKey) -> int:
    body = procedure.revert(cfg, args.channel, args.revert_to, key, args.reason, dry_run=args.dry_run,
                           say=lambda m: cli.info(args, m, level=-1 if args.dry_run else 0))
    cli.emit_json(args, body)
    failed = [s for s in body["servers"] if s["error"]]
    for s in failed:
        cli.error(f"{s['name']}: {s['error']} (rerun the same command when it is back)")
    return cli.BAD_INPUT if failed else cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="rollback-release")
    cli.add_output(parser, "the releng/rollback document (with --revert-to: a plain JSON summary)")
    cli.add_dry_run(parser)
    cli.add_servers(parser, default=DEFAULT_CONFIG)
    parser.add_argument("version", metavar="VERSION", nargs="?", help="the release to roll back")
    parser.add_argument("--reason", required=True, help="why (goes to the log, the notification and GitHub)")
    parser.add_argument("--channel", metavar="C", help="roll back this channel only (default: every channel)")
    parser.add_argument("--revert-to", type=int, metavar="NUMBER",
                        help="with --channel: offer again what history entry NUMBER of that channel offered")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
