"""Publish a release to every configured update server, then point the channel's manifest at it.

Uploads the files the artifacts document lists, SHA256SUMS and its signature, the document itself and the release
notes (from --changes) into releases/.incoming/<version>.<id>/ on every server (mirrors in parallel), checks their
sizes (and with --verify reads them back and hashes them), renames the folder to releases/<version>/, and only then
writes channels/<channel>.json, a signed DSSE manifest, on every server that holds the release. Publishing the same
bytes again changes nothing; different bytes under a published version are refused. An interrupted upload resumes.
The signing key comes from --signing-key FILE or the variable named by manifest.signing_key_env in the config;
manifest.trusted_keys lists older public keys still trusted during a key rotation.
With a `cdn` section, the channel manifest URL (and for stable, releases/latest/ and every file under it) is purged
after the manifest swap; never a versioned URL. With `github.repository`, the GitHub release of the tag is then
created or updated (prerelease for dev and beta). A failed purge or GitHub sync is named, recorded in the publish
document (cdn_purge, github_release) and exits 2; a rerun does it again.
On a terminal, a progress line shows the upload (per file, and bytes, percent, rate and ETA in total); never with
--quiet or --json, nor when stderr is not a terminal. --dry-run reads each server and prints every change it would
make (mkdir, upload with size, rename, manifest write, history line, latest switch, CDN URLs, GitHub calls).
Exit 0 when every server holds the release and its manifest, 2 otherwise (each failing server is named).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from releng import artifacts, cli, documents, http, names, progress, signing, times
from releng.distribution import publish
from releng.errors import BadInput, RelengError
from releng.server import cdn, channel_store, channels, github, layout
from releng.server.connect import open_server
from releng.server.layout import LocalFile, Outcome
from releng.server.local import LocalTransport
from releng.server.transport import Transport, TransportError, network_error

DEFAULT_CONFIG = Path(__file__).with_name("update_server_config.json")
DEFAULT_ARTIFACTS = "build/release/artifacts.json"


def publish_one(spec: dict[str, Any], version: str, files: list[LocalFile], upload_id: str, verify: bool,
                bar: progress.Progress | None) -> tuple[Transport | None, Outcome, float]:
    start = time.monotonic()
    t: Transport | None = None
    out = Outcome()
    try:
        t = open_server(spec)
        t.progress = bar.hook(spec["name"]) if bar is not None else None
        out = layout.publish_release(t, version, files, upload_id, verify=verify)
    except RelengError as e:
        out.error = e.what if e.where == spec["name"] else str(e)  # the report names the server already
    except Exception as e:
        if not network_error(e):
            raise
        out.error = f"connection lost: {type(e).__name__}: {e}"
    if t is not None:
        out.bytes_sent = t.bytes_sent
    return t, out, time.monotonic() - start


def update_channels(servers: list[tuple[dict[str, Any], Transport, Outcome]], channel: str, cfg: dict[str, Any],
                    key: signing.SigningKey, trusted: dict[str, bytes], doc: dict[str, Any],
                    notes: str) -> dict[str, int]:
    """Write the channel manifest on every server that holds the release; {server name: manifest_number}."""
    version = doc["version"]
    transports = [t for _, t, _ in servers]
    with channel_store.locked(transports):
        copies = channel_store.read_all(transports, channel, trusted)
        try:
            nxt = publish.next_manifest(copies, channel, doc, notes, cfg["manifest"], key,
                                        channel_store.base_url(cfg["manifest"], transports[0]))
        except channels.NotNewer as e:
            cli.warn(e.what)
            return {}
        entry = channel_store.record(nxt.action, nxt.payload, nxt.envelope, names.actor())
        for t, copy in zip(transports, copies, strict=True):
            if copy.envelope != nxt.envelope:
                channel_store.write(t, channel, nxt.envelope, entry)
                if channel == "stable":
                    layout.point_latest(t, version)
        return {spec["name"]: nxt.number for spec, _, _ in servers}


def purge_cdn(args: argparse.Namespace, cfg: dict[str, Any], purger: cdn.Purger | None, t: Transport,
              version: str) -> dict[str, Any] | None:
    """Purge the mutable URLs after the swap on every server (docs/security-properties.md #36); what was asked and
    the error, if any."""
    if purger is None:
        return None
    names = t.listdir(layout.release_dir(version)) if args.channel == "stable" else []
    urls = publish.purge_urls(cfg, t.url("").rstrip("/"), args.channel, names)
    try:
        purger.purge(urls)
    except cdn.CdnError as e:
        error = http.redact(str(e), [purger.token])  # never a credential in the output or publish.json
        cli.error(f"{error} (the publish is done; rerun the same command to purge again)")
        return {"urls": urls, "purged": False, "error": error}
    cli.info(args, f"purged {len(urls)} CDN URLs")
    return {"urls": urls, "purged": True, "error": None}


def sync_github(gh: github.GitHub | None, doc: dict[str, Any], files: list[LocalFile], notes: str,
                channel: str) -> dict[str, Any] | None:
    """Create or update the GitHub release with the artifacts and SHA256SUMS(.sig); its tag and the error, if any."""
    if gh is None:
        return None
    tag = doc.get("tag") or f"v{doc['version']}"
    paths = [f.path for f in files if f.name not in ("artifacts.json", publish.NOTES)]
    try:
        github.sync_release(gh, tag, paths, name=f"{doc['name']} {doc['version']}", body=notes,
                            prerelease=channel in ("dev", "beta"))
    except RelengError as e:
        error = http.redact(str(e), [gh.token])  # never a credential in the output or publish.json
        cli.error(f"GitHub release: {error} (the publish is done; rerun the same command to sync it again)")
        return {"tag": tag, "synced": False, "error": error}
    return {"tag": tag, "synced": True, "error": None}


def dry_run(args: argparse.Namespace, specs: list[dict[str, Any]], cfg: dict[str, Any], key: signing.SigningKey,
            trusted: dict[str, bytes], doc: dict[str, Any], files: list[LocalFile], notes: str) -> int:
    """Print every remote change a real run would make, from each server's current state; change nothing."""
    version, channel, failed = doc["version"], args.channel, False

    def say(where: str, change: str) -> None:
        cli.info(args, f"would {change} on {where}" if not change.startswith("nothing") else f"{where}: {change}",
                 level=-1)

    upload_id = publish.make_upload_id(files)
    ready: dict[str, tuple[Transport, channel_store.Channel]] = {}
    opened: list[Transport] = []
    with tempfile.TemporaryDirectory(prefix="dry-run-") as empty:
        try:
            for spec in specs:
                name = spec["name"]
                try:
                    if spec["transport"] == "local" and not Path(spec["root"]).expanduser().is_dir():
                        say(name, f"mkdir {spec['root']} (the server root)")
                        t: Transport = LocalTransport(name, empty, spec.get("base_url"))
                    else:
                        t = open_server(spec, create=False)
                    opened.append(t)
                    changes = publish.plan_release(t, version, files, upload_id, args.verify)
                    for change in changes:
                        say(name, change)
                    failed |= changes[0].startswith("refuse")
                    ready[name] = (t, channel_store.read(t, channel, trusted))
                except (RelengError, TransportError) as e:
                    cli.error(f"{name}: {e}")
                    failed = True
            nxt = _next_manifest(ready, channel, cfg, key, doc, notes)
            for name, (t, current) in ready.items():
                for change in publish.plan_channel(t, channel, version, nxt, current) if nxt else []:
                    say(name, change)
        finally:
            for t in opened:
                t.close()
    purger, gh = cdn.from_config(cfg), github.from_config(cfg)
    if purger is not None:
        base = cdn.base_url(cfg, specs[0].get("base_url") or "")
        urls = publish.purge_urls(cfg, base, channel, [f.name for f in files])
        say("the CDN", f"purge {len(urls)} URLs (POST zones/{purger.zone_id}/purge_cache): {' '.join(urls)}")
    if gh is not None:
        for change in publish.plan_github(cfg["github"]["repository"], doc, files, channel):
            say("GitHub", change)
    return cli.BAD_INPUT if failed else cli.OK


def _next_manifest(ready: dict[str, tuple[Transport, channel_store.Channel]], channel: str, cfg: dict[str, Any],
                   key: signing.SigningKey, doc: dict[str, Any], notes: str) -> publish.NextManifest | None:
    if not ready:
        return None
    first = next(iter(ready.values()))[0]
    try:
        return publish.next_manifest([c for _, c in ready.values()], channel, doc, notes, cfg["manifest"], key,
                                     channel_store.base_url(cfg["manifest"], first))
    except channels.NotNewer as e:
        cli.warn(e.what)
        return None


def _run(args: argparse.Namespace) -> int:
    cfg = layout.load_config(args.servers)
    channel = names.check_channel(args.channel)
    if channel not in cfg["channels"]:
        raise BadInput(f"unknown channel {channel!r} (configured: {', '.join(cfg['channels'])})")
    inputs = [(documents.read(p, "artifacts"), Path(p)) for p in args.artifacts or [DEFAULT_ARTIFACTS]]
    for doc, path in inputs:  # the shape first: `"artifacts": "x"` or an artifact without sha256 is exit 2
        artifacts.check_document(doc, str(path))
        names.check_version(doc.get("version"))
    specs = [s for s in cfg["servers"] if s.get("enabled", True) and (not args.server or s["name"] in args.server)]
    if not specs:
        raise BadInput("no enabled server matches", args.servers)
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    trusted = channel_store.trusted_keys(key, cfg["manifest"])
    services = cdn.from_config(cfg), github.from_config(cfg)  # settings and tokens checked before any upload
    role = channel_store.release_role(cfg["manifest"])  # manifest.root: its release threshold decides
    for doc, path in inputs:
        publish.check_signed(doc, path.parent, trusted, role)
    if role is not None and len(inputs) > 1:
        publish.check_merge_key(key, role)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:  # merged SHA256SUMS and notes live here till the end
        return _publish(args, cfg, specs, key, trusted, inputs, services, Path(tmp))


def _publish(args: argparse.Namespace, cfg: dict[str, Any], specs: list[dict[str, Any]], key: signing.SigningKey,
             trusted: dict[str, bytes], inputs: list[tuple[dict[str, Any], Path]],
             services: tuple[cdn.Purger | None, github.GitHub | None], tmp: Path) -> int:
    channel, started = args.channel, times.now_text()
    doc, doc_path = inputs[0]
    folder, sources = doc_path.parent, None
    if len(inputs) > 1:  # several platforms' builds: one release folder, one SHA256SUMS signed by the release key
        doc, doc_path, sources = publish.merge_documents(inputs, key, tmp)
    version = doc["version"]
    notes_path, notes = publish.release_notes(args.changes, version, tmp) if args.changes else (None, "")
    files = publish.local_files(doc, doc_path.parent, doc_path, notes_path, sources)
    if args.dry_run:
        return dry_run(args, specs, cfg, key, trusted, doc, files, notes)
    publish.check_channels(specs, channel, trusted)  # a refusal must come before the first byte is written
    upload_id = publish.make_upload_id(files)
    bar = progress.for_args(args, sum(f.size for f in files) * len(specs))
    try:
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            results = list(pool.map(lambda s: publish_one(s, version, files, upload_id, args.verify, bar), specs))
    finally:
        if bar is not None:
            bar.close()
    ready = [(spec, t, out) for spec, (t, out, _) in zip(specs, results, strict=True)
             if t is not None and out.error is None]
    numbers: dict[str, int] = {}
    purged = synced = None
    if ready:
        try:
            numbers = update_channels(ready, channel, cfg, key, trusted, doc, notes)
            if numbers:
                purged = purge_cdn(args, cfg, services[0], ready[0][1], version)
                synced = sync_github(services[1], doc, files, notes, channel)
        except Exception as e:
            if not isinstance(e, RelengError) and not network_error(e):
                raise
            for _, _, out in ready:
                out.error = f"manifest: {e}"
    report = []
    for spec, (t, out, seconds) in zip(specs, results, strict=True):
        status = "failed" if out.error else out.status
        report.append({"name": spec["name"], "status": status, "bytes_sent": out.bytes_sent,
                       "seconds": round(seconds, 3), "error": out.error,
                       "release_url": t.url(f"releases/{version}") + "/" if t else None,
                       "manifest_url": t.url(f"channels/{channel}.json") if t else None,
                       "manifest_number": numbers.get(spec["name"])})
        if out.error:
            cli.error(f"{spec['name']}: {out.error}")
        else:
            cli.info(args, f"{spec['name']}: {status} {version} ({out.bytes_sent} bytes sent in {seconds:.2f} s)")
        if t is not None:
            t.close()
    body: dict[str, Any] = {"version": version, "channel": channel, "started": started, "finished": times.now_text(),
                            "servers": report, "cdn_purge": purged, "github_release": synced}
    if cli.emit(args, "publish", body) is None:
        documents.write(folder / "publish.json", "publish", body)
    late = [r for r in (purged, synced) if r is not None and r["error"]]
    return cli.BAD_INPUT if late or any(r["error"] for r in report) else cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="publish-release")
    cli.add_output(parser, "the releng/publish document")
    cli.add_dry_run(parser)
    cli.add_servers(parser, default=DEFAULT_CONFIG)
    parser.add_argument("--artifacts", action="append", metavar="FILE",
                        help="a releng/artifacts document build-package wrote; repeat to publish several platforms' "
                             f"builds of one version as one release (default: {DEFAULT_ARTIFACTS})")
    parser.add_argument("--changes", metavar="FILE", help="a releng/changes document: release notes")
    parser.add_argument("--channel", required=True, help="the channel whose manifest to point at the release")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    parser.add_argument("--verify", action="store_true", help="read every uploaded file back and hash it")
    parser.add_argument("--server", action="append", metavar="NAME", help="only this server (repeatable)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
