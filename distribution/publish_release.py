"""Publish a release to every configured update server, then point the channel's manifest at it.

Uploads the files the artifacts document lists, SHA256SUMS and its signature, the document itself and the release
notes (from --changes) into releases/.incoming/<version>.<id>/ on every server (mirrors in parallel), checks their
sizes (and with --verify reads them back and hashes them), renames the folder to releases/<version>/, and only then
writes channels/<channel>.json, a signed DSSE manifest, on every server that holds the release. Publishing the same
bytes again changes nothing; different bytes under a published version are refused. An interrupted upload resumes.
The signing key comes from --signing-key FILE or the variable named by manifest.signing_key_env in the config.
With a `cdn` section, the channel manifest URL (and for stable, releases/latest/ and every file under it) is purged
after the manifest swap; never a versioned URL. A failed purge is named (exit 2); a rerun purges again. With
`github.repository`, the GitHub release of the tag is then created or updated (prerelease for dev and beta).
Exit 0 when every server holds the release and its manifest, 2 otherwise (each failing server is named).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from releng import cdn, cli, documents, github, semver, server_layout, signing
from releng.errors import BadInput, RelengError
from releng.server_layout import LocalFile, Outcome
from releng.transport import Transport, hash_local, open_server

DEFAULT_CONFIG = Path(__file__).with_name("update_server_config.json")
NOTES = "RELEASE_NOTES.md"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_files(doc: dict[str, Any], folder: Path, doc_path: Path, notes: Path | None) -> list[LocalFile]:
    """Every file of the release folder, its name checked, size and sha256 as the document states them."""
    from releng import artifacts

    files = []
    for a in doc.get("artifacts") or []:
        name = server_layout.check_name(a.get("path"), "artifact name")
        files.append(LocalFile(name, folder / name, int(a["size"]), str(a["sha256"])))
    if not files:
        raise BadInput("the artifacts document lists no artifacts", str(doc_path))
    checksums = doc.get("checksums") or {}
    files.append(LocalFile(artifacts.SUMS, folder / artifacts.SUMS, (folder / artifacts.SUMS).stat().st_size,
                           str(checksums.get("sha256"))))
    extra = [(artifacts.SIG, folder / artifacts.SIG), (artifacts.DOCUMENT, doc_path)]
    for name, path in extra + ([(NOTES, notes)] if notes else []):
        size, digest = hash_local(path)
        files.append(LocalFile(name, path, size, digest))
    return files


def make_upload_id(files: Sequence[LocalFile]) -> str:
    """The `.incoming` folder's id: a digest of the input, so a rerun of the same input resumes the same upload."""
    return hashlib.sha256("".join(f"{f.name}\0{f.sha256}\n" for f in files).encode()).hexdigest()[:16]


def check_signed(doc: dict[str, Any], folder: Path, key: signing.SigningKey) -> None:
    """SHA256SUMS is signed by the release key and agrees with the document and the files' sizes."""
    from releng import artifacts

    if not (doc.get("checksums") or {}).get("signature"):
        raise BadInput("SHA256SUMS is not signed (an --unsigned build cannot be published)", str(folder))
    by_name = {a["path"]: a["sha256"] for a in doc["artifacts"]}
    # Hashes are checked while uploading (the file is read once); here: signature, document and sizes.
    artifacts.verify_folder(folder, key.public_raw, lambda path, size: (size, by_name[path.name]))


def release_notes(changes_path: str, version: str, out_dir: Path) -> tuple[Path, str]:
    from releng import keepachangelog

    changes = documents.read(changes_path, "changes")
    for release in changes.get("versions", []):
        if release.get("version") == version:
            text = keepachangelog.render_section(release, {"repo_url": changes.get("repo_url")})
            path = out_dir / NOTES
            path.write_text(text, encoding="utf-8")
            return path, text
    raise BadInput(f"the changes document has no section for {version}", changes_path)


def publish_one(spec: dict[str, Any], version: str, files: list[LocalFile], upload_id: str,
                verify: bool) -> tuple[Transport | None, Outcome, float]:
    start = time.monotonic()
    t: Transport | None = None
    out = Outcome()
    try:
        t = open_server(spec)
        out = server_layout.publish_release(t, version, files, upload_id, verify=verify)
    except RelengError as e:
        out.error = e.what if e.where == spec["name"] else str(e)  # the report names the server already
    except Exception as e:
        if not network_error(e):
            raise
        out.error = f"connection lost: {type(e).__name__}: {e}"
    if t is not None:
        out.bytes_sent = t.bytes_sent
    return t, out, time.monotonic() - start


def network_error(e: BaseException) -> bool:
    """A dropped connection or a failing server (reported per server), as opposed to a bug (exit 3)."""
    return isinstance(e, OSError | EOFError) or type(e).__module__.startswith("paramiko")


def manifest_artifacts(doc: dict[str, Any], version: str, base_url: str, kinds: list[str]) -> dict[str, Any]:
    """`<platform>-<arch>` -> {url, size, sha256}; when a platform has several kinds, the first in `kinds` wins."""
    chosen: dict[str, dict[str, Any]] = {}
    rank = {k: i for i, k in enumerate(kinds)}
    for a in sorted(doc["artifacts"], key=lambda a: rank.get(a["kind"], len(rank))):
        key = f"{a['platform']}-{a['arch']}".lower()
        chosen.setdefault(key, {"url": f"{base_url.rstrip('/')}/releases/{version}/{a['path']}",
                                "size": a["size"], "sha256": a["sha256"]})
    return chosen


def update_channels(servers: list[tuple[dict[str, Any], Transport, Outcome]], args: argparse.Namespace,
                    cfg: dict[str, Any], key: signing.SigningKey, doc: dict[str, Any], notes: str) -> dict[str, int]:
    """Write the channel manifest on every server that holds the release; {server name: manifest_number}."""
    from releng import manifest

    version, channel = doc["version"], args.channel
    trusted = {key.key_id: key.public_raw}
    numbers: dict[str, int] = {}
    with server_layout.channel_locks([t for _, t, _ in servers]):
        current = {spec["name"]: server_layout.read_channel(t, channel, trusted) for spec, t, _ in servers}
        known = [c for c in current.values() if c.payload is not None]
        best = max(known, key=lambda c: c.payload["manifest_number"] if c.payload else -1, default=None)
        now = datetime.now(UTC).replace(microsecond=0)
        fresh = best is not None and best.payload is not None and \
            manifest.parse_time(best.payload["expires_at"]) > now + timedelta(days=1)
        if best is not None and best.payload is not None and best.payload["version"] == version and fresh:
            envelope, number = best.envelope, best.payload["manifest_number"]  # copy it to mirrors that lag
        elif best is None or best.payload is None or semver.parse(version) >= semver.parse(best.payload["version"]):
            number = best.payload["manifest_number"] + 1 if best is not None and best.payload is not None else 1
            base_url = cfg["manifest"].get("base_url") or servers[0][1].url("").rstrip("/")
            payload = manifest.build_manifest(
                channel=channel, version=version, manifest_number=number, issued_at=now,
                expires_at=now + timedelta(days=cfg["manifest"]["expires_days"]), notes=notes,
                artifacts=manifest_artifacts(doc, version, base_url, cfg["manifest"]["prefer_kinds"]))
            envelope = manifest.sign_envelope(payload, key, now=now)
        else:
            assert best.payload is not None
            cli.warn(f"channel {channel} already points at {best.payload['version']}, newer than {version}: "
                     "manifest left as it is (promote-release moves channels)")
            return {}
        assert envelope is not None
        record = {"at": _now(), "who": os.environ.get("RELENG_ACTOR") or _who(), "action": "publish",
                  "channel": channel, "version": version, "manifest_number": number,
                  "sha256": manifest.envelope_digest(envelope)}
        for spec, t, _ in servers:
            if current[spec["name"]].envelope != envelope:
                server_layout.write_channel(t, channel, envelope, record)
                if channel == "stable":
                    server_layout.point_latest(t, version)
            numbers[spec["name"]] = number
    return numbers


def purge_cdn(args: argparse.Namespace, cfg: dict[str, Any], purger: cdn.Purger | None, t: Transport,
              version: str) -> str | None:
    """Purge the mutable URLs after the swap on every server (item 36); the error, None when purged or no CDN."""
    if purger is None:
        return None
    base = cdn.base_url(cfg, t.url("").rstrip("/"))
    urls = [f"{base}/{server_layout.CHANNELS}/{args.channel}.json"]
    if args.channel == "stable":
        names = t.listdir(server_layout.release_dir(version))
        urls += [f"{base}/{server_layout.RELEASES}/latest/"] + [f"{base}/{server_layout.RELEASES}/latest/{n}"
                                                               for n in names]
    try:
        purger.purge(urls)
    except cdn.CdnError as e:
        cli.error(f"{e} (the publish is done; rerun the same command to purge again)")
        return str(e)
    cli.info(args, f"purged {len(urls)} CDN URLs")
    return None


def sync_github(gh: github.GitHub | None, doc: dict[str, Any], files: list[LocalFile], notes: str,
                channel: str) -> str | None:
    """Create or update the GitHub release with the artifacts and SHA256SUMS(.sig); the error, None when done."""
    if gh is None:
        return None
    paths = [f.path for f in files if f.name not in ("artifacts.json", NOTES)]
    try:
        github.sync_release(gh, doc.get("tag") or f"v{doc['version']}", paths, name=f"{doc['name']} {doc['version']}",
                            body=notes, prerelease=channel in ("dev", "beta"))
    except RelengError as e:
        cli.error(f"GitHub release: {e} (the publish is done; rerun the same command to sync it again)")
        return str(e)
    return None


def _who() -> str:
    import getpass
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}"


def _run(args: argparse.Namespace) -> int:
    cfg = server_layout.load_config(args.config or DEFAULT_CONFIG)
    channel = server_layout.check_channel(args.channel)
    if channel not in cfg["channels"]:
        raise BadInput(f"unknown channel {channel!r} (configured: {', '.join(cfg['channels'])})")
    doc_path = Path(args.artifacts)
    doc = documents.read(doc_path, "artifacts")
    version = server_layout.check_version(doc.get("version"))
    for a in doc.get("artifacts") or []:
        server_layout.check_name(a.get("path"), "artifact name")
    specs = [s for s in cfg["servers"] if s.get("enabled", True) and (not args.server or s["name"] in args.server)]
    if not specs:
        raise BadInput("no enabled server matches", str(args.config or DEFAULT_CONFIG))
    key = signing.load_release_key(args.signing_key, cfg["manifest"])
    purger, gh = cdn.from_config(cfg), github.from_config(cfg)
    folder = doc_path.parent
    check_signed(doc, folder, key)
    started = _now()
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        notes_path, notes = release_notes(args.changes, version, Path(tmp)) if args.changes else (None, "")
        files = local_files(doc, folder, doc_path, notes_path)
        upload_id = make_upload_id(files)
        if args.dry_run:
            for spec in specs:
                cli.info(args, f"would publish {version} ({len(files)} files) to {spec['name']} ({channel})", level=-1)
            if purger is not None:
                cli.info(args, f"would purge the CDN URLs of channels/{channel}.json"
                         + (" and releases/latest/" if channel == "stable" else ""), level=-1)
            return cli.OK
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            results = list(pool.map(lambda s: publish_one(s, version, files, upload_id, args.verify), specs))
    ready = [(spec, t, out) for spec, (t, out, _) in zip(specs, results, strict=True)
             if t is not None and out.error is None]
    numbers: dict[str, int] = {}
    purge_error = None
    if ready:
        try:
            numbers = update_channels(ready, args, cfg, key, doc, notes)
            if numbers:
                purge_error = purge_cdn(args, cfg, purger, ready[0][1], version)
                purge_error = sync_github(gh, doc, files, notes, channel) or purge_error
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
    body = {"version": version, "channel": channel, "started": started, "finished": _now(), "servers": report}
    if cli.emit(args, "publish", body) is None:
        documents.write(folder / "publish.json", "publish", body)
    return cli.BAD_INPUT if purge_error or any(r["error"] for r in report) else cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="publish-release")
    parser.add_argument("--artifacts", default="build/release/artifacts.json", metavar="FILE",
                        help="the releng/artifacts document build-package wrote (default: %(default)s)")
    parser.add_argument("--changes", metavar="FILE", help="a releng/changes document: release notes")
    parser.add_argument("--channel", required=True, help="the channel whose manifest to point at the release")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (never the key itself)")
    parser.add_argument("--verify", action="store_true", help="read every uploaded file back and hash it")
    parser.add_argument("--server", action="append", metavar="NAME", help="only this server (repeatable)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
