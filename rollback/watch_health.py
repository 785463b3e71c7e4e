"""Watch crash telemetry and roll back a released version whose crash rate is too high.

`watch-health --servers F --feed FILE_OR_URL` reads a crash feed from a file, `-` (stdin) or an http(s) URL (at most
4 MiB, 10 s in all): {"versions": {"1.2.0": {"sessions": N, "crashes": M, "clients": K}}}, where clients counts
distinct client ids. A version that a channel offers (and releases/ holds) is rolled back when crashes/sessions is
above --threshold (strictly) with at least --min-sessions sessions and --min-clients distinct clients: its rollout
is halted on every channel first (one signed manifest write), then the whole rollback runs as rollback-release does
it (quarantine, releases/latest, channel manifests with rollback_of, CDN, GitHub, notifications), recorded in
rollback_log.jsonl with trigger "watch-health" and the figures used. A smaller sample is never acted on, and a
version is acted on once: one already rolled back (a rollback_log.jsonl line or a quarantine folder on any server)
is skipped, in later runs too. Versions the servers do not offer are reported and ignored.

One line per version goes to stderr: version, sessions, clients, crashes, crash rate, verdict (rollback, healthy,
too few sessions, too few clients, not offered, already rolled back). --json prints one JSON object per check on
stdout (one line each): feed, threshold, min_sessions, min_clients, dry_run, versions (each with its figures,
verdict and channels), acted (versions rolled back), rollbacks (each rollback's releng/rollback body).
--once checks once (cron, CI); otherwise it checks every --interval seconds until interrupted (Ctrl-C: exit 130),
warning and going on when the feed or a server fails. --dry-run prints what it would do and changes nothing.
Exit 0 when it rolled a version back (or would, with --dry-run), 1 when nothing needed doing, 2 on bad input or
when a rollback was refused or left partial (rerun `rollback-release VERSION` to finish it), or when a dry
run could not reach every server.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from releng import cli, signing
from releng.errors import BadInput, RelengError
from releng.rollback import health, procedure
from releng.server import channel_store, layout, pool


def policy(args: argparse.Namespace) -> health.Policy:
    if args.min_sessions < 1:
        raise BadInput(f"--min-sessions must be at least 1, found {args.min_sessions}")
    if args.min_clients < 0:
        raise BadInput(f"--min-clients must be 0 or more, found {args.min_clients}")
    return health.Policy(health.parse_threshold(args.threshold), args.min_sessions, args.min_clients)


def reason(decision: health.Decision, rule: health.Policy) -> str:
    s = decision.sample
    return (f"watch-health: crash rate {health.format_rate(s.rate)} above {health.format_rate(rule.threshold)} "
            f"({s.crashes} crashes in {s.sessions} sessions from {s.clients} clients)")


def check(args: argparse.Namespace, cfg: dict[str, Any], key: signing.SigningKey, rule: health.Policy,
          acted: set[str]) -> int:
    """Read the feed once, decide, act; 0 acted, 1 nothing to do, 2 a rollback refused or partial.

    The steps (offered, was_rolled_back, halt, rollback) each open the servers: inside transport_pool.reusing() they
    share one connection per server for the check (a handshake per step was most of its time); the next check
    connects afresh, so a long-running watcher holds no connection between checks."""
    feed = health.read_feed(args.feed, timeout=args.feed_timeout)
    done: list[str] = []
    bodies: list[dict[str, Any]] = []
    failed = False
    with pool.reusing():
        offered = health.offered(cfg, channel_store.trusted_keys(key, cfg["manifest"])) if feed else {}
        decisions = health.decide_all(feed, rule, offered,
                                      lambda v: v in acted or procedure.was_rolled_back(cfg, v))
        for d in decisions:
            cli.info(args, health.line(d))
        for d in decisions:
            if d.verdict != health.ROLLBACK:
                continue
            version = d.sample.version
            if not args.dry_run:
                acted.add(version)  # never twice in one process, even when the servers refuse it
            try:
                failed |= not _act(args, cfg, key, rule, d, bodies)
                done.append(version)
            except RelengError as e:
                failed = True
                cli.error(f"rollback of {version} failed: {e} "
                          "(a human decides now: see rollback/rollback_checklist.md)")
    body = {"feed": args.feed, "threshold": float(rule.threshold), "min_sessions": rule.min_sessions,
            "min_clients": rule.min_clients, "dry_run": bool(args.dry_run),
            "versions": [health.as_json(d, rule) for d in decisions], "acted": done, "rollbacks": bodies}
    cli.emit_json(args, body, indent=None)  # --json: one line per check
    if failed:
        return cli.BAD_INPUT
    return cli.OK if done else cli.NEGATIVE


def _act(args: argparse.Namespace, cfg: dict[str, Any], key: signing.SigningKey, rule: health.Policy,
         decision: health.Decision, bodies: list[dict[str, Any]]) -> bool:
    """Halt, then roll back one version; False when the rollback is left partial."""
    version, dry = decision.sample.version, bool(args.dry_run)
    would, why, figures = "would " if dry else "", reason(decision, rule), health.figures(decision, rule)
    halted = procedure.halt(cfg, version, key, dry_run=dry)
    if halted:
        cli.info(args, f"{version}: {would}halt the rollout on {', '.join(halted)}", level=-1)
    body = procedure.rollback(cfg, version, why, key, dry_run=dry, trigger="watch-health", figures=figures,
                             say=lambda m: cli.info(args, f"  {m}"), halted_first=halted)
    bodies.append(body)
    if body.get("status") == "partial" or (dry and body.get("failed")):  # a dry run that could not reach a server
        failed = [s["name"] for s in body.get("servers", []) if s.get("status") == "failed"]
        cli.error(f"rollback of {version} is partial (failed: {', '.join(failed) or 'a CDN, GitHub or notify step'}):"
                  f" rerun `rollback-release --servers {args.servers} {version} --reason ...` to finish it")
        return False
    cli.info(args, f"{version}: {would}roll back to {body.get('to')} ({body.get('status')})", level=-1)
    return True


def _run(args: argparse.Namespace) -> int:
    rule = policy(args)
    if not 0 < args.interval <= 86400:  # NaN fails too; inf would crash time.sleep (exit 3)
        raise BadInput(f"--interval must be more than 0 seconds and at most a day (86400), found {args.interval}")
    cfg = layout.load_config(args.servers)
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    channel_store.trusted_keys(key, cfg["manifest"])  # a key clients won't trust is refused before any round
    acted: set[str] = set()
    if args.once:
        return check(args, cfg, key, rule, acted)
    while True:
        try:
            check(args, cfg, key, rule, acted)
        except RelengError as e:  # a watcher outlives a flaky feed or server: say so and look again
            cli.warn(f"{e} (checking again in {args.interval:g} s)")
        time.sleep(args.interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="watch-health")
    cli.add_output(parser, "one JSON object per check")
    cli.add_dry_run(parser)
    cli.add_servers(parser)
    parser.add_argument("--feed", required=True, metavar="FILE_OR_URL", help="crash telemetry: a file, - or a URL")
    parser.add_argument("--feed-timeout", type=health.feed_timeout, default=health.FEED_TIMEOUT, metavar="S",
                        help="seconds an http(s) feed may take in all (default 10)")
    parser.add_argument("--once", action="store_true", help="check once and exit (cron, CI)")
    parser.add_argument("--threshold", default="1%", metavar="RATE",
                        help="act above this crash rate: 1%%, 0.5%% or a fraction like 0.01 (default 1%%)")
    parser.add_argument("--min-sessions", type=int, default=500, metavar="N",
                        help="never act on fewer sessions of a version (default 500)")
    parser.add_argument("--min-clients", type=int, default=100, metavar="N",
                        help="never act on fewer distinct clients of a version (default 100)")
    parser.add_argument("--interval", type=float, default=300.0, metavar="S",
                        help="seconds between checks without --once (default 300)")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
