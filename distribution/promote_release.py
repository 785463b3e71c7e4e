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
Exit 0 when done (or nothing to change), 2 on bad input or a failing server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from releng import cli, semver, signing
from releng.errors import BadInput, ExternalError, RelengError
from releng.server import cdn, layout, manifest
from releng.server.layout import Channel
from releng.server.transport import Transport, network_error, open_server

DEFAULT_CONFIG = Path(__file__).with_name("update_server_config.json")
NOTES = "RELEASE_NOTES.md"  # as publish-release names the notes in releases/<version>/


def parse_percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"--rollout must be a number 1..100, found {text!r}") from None
    if not 1 <= value <= 100:
        raise BadInput(f"--rollout must be 1..100, found {text}")
    return int(value) if value.is_integer() else value


def plan(args: argparse.Namespace, cfg: dict[str, Any], servers: list[tuple[str, Transport]],
         trusted: dict[str, bytes], percent: float | None) -> tuple[str, dict[str, Any] | None, list[Channel]]:
    """(action, new payload or None when nothing changes, current target channels per server); BadInput if refused."""
    version, channel = args.version, args.to
    chain = cfg["channels"]
    for name, t in servers:
        st = t.stat(layout.release_dir(version))
        if st is None or not st.is_dir:
            raise BadInput(f"{version} is not published on {name} (publish-release first)")
    current = [layout.read_channel(t, channel, trusted) for _, t in servers]
    best = max((c.payload for c in current if c.payload), key=lambda p: p["manifest_number"], default=None)
    now = datetime.now(UTC).replace(microsecond=0)
    times = {"issued_at": manifest.format_time(now),
             "expires_at": manifest.format_time(now + timedelta(days=cfg["manifest"]["expires_days"]))}
    if best is not None and best["version"] == version:
        rollout = dict(best["rollout"])
        if manifest.parse_time(best["expires_at"]) <= now + timedelta(days=1):  # item 13: re-sign before it expires
            unchanged: tuple[str, dict[str, Any] | None, list[Channel]] = (
                "refresh", {**best, **times, "manifest_number": best["manifest_number"] + 1}, current)
        else:
            unchanged = ("unchanged", None, current)
        if args.halt:
            if rollout["halted"]:
                return unchanged
            new = {**rollout, "halted": True}
            action = "halt"
        elif percent is not None:
            if percent < rollout["percent"] and not args.force:
                raise BadInput(f"{channel} already offers {version} to {rollout['percent']}%: lowering the rollout "
                               "needs --force (or --halt)")
            if percent == rollout["percent"] and not rollout["halted"]:
                return unchanged
            new = {"percent": percent, "halted": False}
            action = "rollout"
        else:
            return unchanged
        return action, {**best, **times, "manifest_number": best["manifest_number"] + 1, "rollout": new}, current
    if args.halt:
        raise BadInput(f"{channel} does not offer {version}: nothing to halt")
    if best is not None and semver.parse(version) <= semver.parse(best["version"]):
        raise BadInput(f"{channel} offers {best['version']}, not older than {version} (rollbacks: rollback-release)")
    previous = chain[chain.index(channel) - 1]
    if not args.hotfix:
        prev = [layout.read_channel(t, previous, trusted).payload for _, t in servers]
        if any(p is None or p["version"] != version for p in prev):
            raise BadInput(f"{version} is not offered on {previous} (on every server): promote it there first, "
                           "or use --hotfix to skip")
    doc = _release_document(servers, version)
    base_url = cfg["manifest"].get("base_url") or servers[0][1].url("").rstrip("/")
    notes_rel = f"{layout.release_dir(version)}/{NOTES}"
    t0 = servers[0][1]
    notes = t0.read_bytes(notes_rel, 1 << 20).decode("utf-8") if t0.stat(notes_rel) is not None else ""
    payload = manifest.build_manifest(
        channel=channel, version=version, manifest_number=best["manifest_number"] + 1 if best else 1,
        issued_at=now, expires_at=now + timedelta(days=cfg["manifest"]["expires_days"]), notes=notes,
        artifacts=layout.manifest_artifacts(doc, version, base_url, cfg["manifest"]["prefer_kinds"]),
        rollout_percent=100 if percent is None else percent)
    return "promote", payload, current


def _release_document(servers: list[tuple[str, Transport]], version: str) -> dict[str, Any]:
    """releases/<version>/artifacts.json, identical on every server."""
    rel = f"{layout.release_dir(version)}/artifacts.json"
    texts = set()
    for name, t in servers:
        if t.stat(rel) is None:
            raise BadInput(f"{rel} is missing on {name}")
        texts.add(t.read_bytes(rel, 16 << 20))
    if len(texts) != 1:
        raise BadInput(f"{rel} differs between servers: republish with publish-release")
    try:
        doc = json.loads(texts.pop())
    except ValueError:
        raise BadInput(f"{rel} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("version") != version or not isinstance(doc.get("artifacts"), list):
        raise BadInput(f"{rel} is not the artifacts document of {version}")
    return doc


def latest_urls(t: Transport, base: str, version: str) -> list[str]:
    """The cache keys that change when releases/latest moves: the folder and every file under it."""
    names = t.listdir(layout.release_dir(version))
    return [f"{base}/releases/latest/"] + [f"{base}/releases/latest/{n}" for n in names]


def _run(args: argparse.Namespace) -> int:
    cfg = layout.load_config(args.config or DEFAULT_CONFIG)
    layout.check_version(args.version)
    channel = layout.check_channel(args.to)
    if channel not in cfg["channels"] or cfg["channels"].index(channel) == 0:
        raise BadInput(f"--to must be a channel after {cfg['channels'][0]} (configured: {', '.join(cfg['channels'])})")
    percent = parse_percent(args.rollout) if args.rollout is not None else None
    if args.halt and percent is not None:
        raise BadInput("--halt and --rollout contradict each other (a later --rollout resumes a halted rollout)")
    purger = cdn.from_config(cfg)
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    trusted = signing.trusted_keys(key, cfg["manifest"])
    specs = [s for s in cfg["servers"] if s.get("enabled", True)]
    if not specs:
        raise BadInput("no enabled server", str(args.config or DEFAULT_CONFIG))
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


def _connect(spec: dict[str, Any]) -> Transport:
    try:
        return open_server(spec)
    except (OSError, EOFError) as e:
        raise ExternalError(f"cannot connect: {e}", spec["name"]) from None


def _promote(args: argparse.Namespace, cfg: dict[str, Any], servers: list[tuple[str, Transport]],
             trusted: dict[str, bytes], key: signing.SigningKey, percent: float | None,
             purger: cdn.Purger | None) -> int:
    version, channel = args.version, args.to
    action, payload, current = plan(args, cfg, servers, trusted, percent)  # refusals before any lock is taken
    if args.dry_run:
        return _apply(args, servers, key, action, payload, current, purger, cfg, dry=True)
    with layout.channel_locks([t for _, t in servers]):
        action, payload, current = plan(args, cfg, servers, trusted, percent)
        code = _apply(args, servers, key, action, payload, current, purger, cfg, dry=False)
    cli.info(args, f"{channel}: {action} {version}")
    return code


def _apply(args: argparse.Namespace, servers: list[tuple[str, Transport]], key: signing.SigningKey, action: str,
           payload: dict[str, Any] | None, current: list[Channel], purger: cdn.Purger | None, cfg: dict[str, Any],
           dry: bool) -> int:
    version, channel = args.version, args.to
    best = max((c for c in current if c.payload), key=_number, default=None)
    envelope = manifest.sign_envelope(payload, key) if payload is not None else (best.envelope if best else None)
    final = payload if payload is not None else (best.payload if best else None)
    assert envelope is not None and final is not None
    rel = f"{layout.CHANNELS}/{channel}.json"
    record = {"at": manifest.format_time(datetime.now(UTC)), "who": os.environ.get("RELENG_ACTOR") or _who(),
              "action": "sync" if payload is None else action, "channel": channel, "version": version,
              "manifest_number": final["manifest_number"],
              "rollout": final["rollout"], "sha256": manifest.envelope_digest(envelope)}
    full = channel == "stable" and final["rollout"]["percent"] >= 100 and not final["rollout"]["halted"]
    report: list[dict[str, Any]] = []
    moved = False
    for (name, t), cur in zip(servers, current, strict=True):
        changes = []
        if cur.envelope != envelope:
            changes.append(f"write {rel} (manifest_number {final['manifest_number']}) and append to "
                           f"{layout.HISTORY}")
        if full and t.readlink(f"{layout.RELEASES}/latest") != version:
            changes.append(f"point {layout.RELEASES}/latest at {version}")
        for change in changes:
            cli.info(args, f"{'would ' if dry else ''}{change} on {name}", level=-1 if dry else 1)
        if not dry:
            if cur.envelope != envelope:
                layout.write_channel(t, channel, envelope, record)
            if full and t.readlink(f"{layout.RELEASES}/latest") != version:
                layout.point_latest(t, version)
                moved = True
        report.append({"name": name, "changes": changes})
    base = cdn.base_url(cfg, servers[0][1].url("").rstrip("/"))
    urls = [f"{base}/{rel}"] + (latest_urls(servers[0][1], base, version) if full else [])
    purged: list[str] = []
    purge_error = None
    if purger is not None:
        if dry:
            cli.info(args, f"would purge {len(urls)} CDN URLs: {' '.join(urls)}", level=-1)
        else:
            try:
                purged = purger.purge(urls)  # after the swap on every server (item 36); a rerun purges again
            except cdn.CdnError as e:
                purge_error = str(e)
                cli.error(f"{e} (the manifest change is done; rerun the same command to purge again)")
    body = {"version": version, "channel": channel, "action": action, "dry_run": dry,
            "manifest_number": final["manifest_number"], "rollout": final["rollout"],
            "latest": version if (moved or (full and not dry)) else None, "servers": report, "purged": purged,
            "purge_error": purge_error}
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    if args.out and args.out != "-":
        from releng import documents

        documents.write_text_atomic(args.out, text)
    if args.json or args.out == "-":
        sys.stdout.write(text)
    return cli.OK if purge_error is None else cli.BAD_INPUT


def _number(c: Channel) -> int:
    return int(c.payload["manifest_number"]) if c.payload else -1


def _who() -> str:
    import getpass
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="promote-release")
    parser.add_argument("version", metavar="VERSION", help="a release already published with publish-release")
    parser.add_argument("--to", required=True, metavar="CHANNEL", help="the channel to offer it on (beta, stable)")
    parser.add_argument("--rollout", metavar="PERCENT", help="rollout percentage 1..100 (default on promote: 100)")
    parser.add_argument("--halt", action="store_true", help="halt the channel's rollout of VERSION")
    parser.add_argument("--hotfix", action="store_true", help="promote without the previous channel offering it")
    parser.add_argument("--force", action="store_true", help="allow lowering the rollout percentage")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
