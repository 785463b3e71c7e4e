"""What publish-release decides before and around the transactions of releng.server.layout: the release's files,
the upload id, the next channel manifest, the CDN URLs to purge, and the dry-run plan of every remote change.

Kept apart from the command so that `--dry-run` and the real run make their decisions with the same code: the plan
reads the servers (stat, list, the current manifest) and never writes to them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releng import documents, names, signing, trust
from releng.errors import BadInput, RelengError
from releng.files import sha256_file
from releng.server import channel_store, channels, layout
from releng.server.channel_store import Channel
from releng.server.connect import open_server
from releng.server.layout import CHANNELS, INCOMING, LOCKS, RELEASES, LocalFile
from releng.server.transport import Transport, network_error

NOTES = "RELEASE_NOTES.md"


def local_files(doc: dict[str, Any], folder: Path, doc_path: Path, notes: Path | None,
                sources: Mapping[str, Path] | None = None) -> list[LocalFile]:
    """Every file of the release folder, its name checked, size and sha256 as the document states them.

    Artifacts are found in `folder`, or for a merged release (`merge_documents`) at the path `sources` names.
    """
    from releng import artifacts

    files = []
    for a in doc.get("artifacts") or []:
        name = names.check_name(a.get("path"), "artifact name")
        path = (sources or {}).get(name, folder / name)
        files.append(LocalFile(name, path, int(a["size"]), str(a["sha256"])))
    if not files:
        raise BadInput("the artifacts document lists no artifacts", str(doc_path))
    checksums = doc.get("checksums") or {}
    files.append(LocalFile(artifacts.SUMS, folder / artifacts.SUMS, (folder / artifacts.SUMS).stat().st_size,
                           str(checksums.get("sha256"))))
    extra = [(artifacts.SIG, folder / artifacts.SIG), (artifacts.DOCUMENT, doc_path)]
    for name, path in extra + ([(NOTES, notes)] if notes else []):
        size, digest = sha256_file(path)
        files.append(LocalFile(name, path, size, digest))
    return files


def make_upload_id(files: Sequence[LocalFile]) -> str:
    """The `.incoming` folder's id: a digest of the input, so a rerun of the same input resumes the same upload."""
    return hashlib.sha256("".join(f"{f.name}\0{f.sha256}\n" for f in files).encode()).hexdigest()[:16]


def check_signed(doc: dict[str, Any], folder: Path, trusted: Mapping[str, bytes],
                 role: trust.Role | None = None) -> None:
    """SHA256SUMS is signed by a trusted release key and agrees with the document and the files' sizes.

    `trusted` (key id -> raw public key) holds the signing key and, during a key rotation, the keys configured in
    `manifest.trusted_keys`: a release built before the rotation can still be published. `role`: the release role
    of `manifest.root`, whose threshold SHA256SUMS.sig must then meet (clients check the same), BadInput otherwise.
    """
    from releng import artifacts

    if role is not None:
        sig_text = _read_bytes(folder / artifacts.SIG).decode("ascii", "replace")
        trust.verify_statement(_read_bytes(folder / artifacts.SUMS), sig_text, role,
                               str(folder / artifacts.SUMS))

    if not (doc.get("checksums") or {}).get("signature"):
        raise BadInput("SHA256SUMS is not signed (an --unsigned build cannot be published)", str(folder))
    by_name = {a["path"]: a["sha256"] for a in doc["artifacts"]}
    signature = signing.parse_signature_line(_read_text(folder / artifacts.SIG))
    sums = _read_bytes(folder / artifacts.SUMS)
    keys = list(trusted.values())
    public = next((k for k in keys if signature and signing.verify(k, signature, sums)), keys[0])
    # Hashes are checked while uploading (the file is read once); here: signature, document and sizes.
    artifacts.verify_folder(folder, public, lambda path, size: (size, by_name[path.name]))


def _read_text(path: Path) -> str:
    return _read_bytes(path).decode("ascii", "replace")


def _read_bytes(path: Path) -> bytes:
    from releng import files

    try:
        return files.read_capped(path, 1 << 20, path.name)  # a /dev/zero or a FIFO is refused, never read whole
    except files.Missing:
        return b""  # verify_folder names the missing file


def check_merge_key(key: signing.SigningKey, role: trust.Role) -> None:
    """Merging several builds re-signs SHA256SUMS with `key` alone: with `manifest.root` that is only a valid
    release statement when `key` is a release key and one signature meets the threshold. BadInput otherwise,
    before any upload (build the platforms into one release folder and sign it with the release keys instead)."""
    if trust.full_key_id(key.public_raw) not in role.keys or role.threshold > 1:
        raise BadInput("publishing several artifacts documents re-signs SHA256SUMS with --signing-key, which does "
                       "not meet the release threshold of manifest.root: merge and sign the release at build time")


def merge_documents(inputs: Sequence[tuple[dict[str, Any], Path]], key: signing.SigningKey,
                    out_dir: Path) -> tuple[dict[str, Any], Path, dict[str, Path]]:
    """One release folder from several platforms' artifacts documents (each already checked by check_signed).

    The version and name must agree; artifact names must be unique (the same name with the same sha256 counts once).
    `out_dir` gets a SHA256SUMS over every artifact, its signature by the release key (Ed25519 is deterministic, so
    the same inputs give the same bytes and a rerun stays a no-op) and a merged artifacts.json: commit, tag, tools
    and the top-level platform/arch of the first document, every artifact with its own platform and arch, and in
    `extra.merged_from` each input's platform, arch, commit and document digest. Returns (document, its path,
    {artifact name: local path}).
    """
    from releng import artifacts

    first = inputs[0][0]
    merged: dict[str, artifacts.Artifact] = {}
    sources: dict[str, Path] = {}
    for doc, path in inputs:
        if (doc.get("name"), doc.get("version")) != (first.get("name"), first.get("version")):
            raise BadInput(f"{doc.get('name')} {doc.get('version')} cannot be published with "
                           f"{first.get('name')} {first.get('version')}: one release per run", str(path))
        for a in doc.get("artifacts") or []:
            name = names.check_name(a.get("path"), "artifact name")
            art = artifacts.Artifact(name, a["kind"], a["platform"], a["arch"], int(a["size"]), str(a["sha256"]))
            if merged.setdefault(name, art) != art:
                raise BadInput(f"two artifacts documents list {name} with different bytes", str(path))
            sources.setdefault(name, path.parent / name)
    sums = artifacts.sums_text(list(merged.values())).encode()
    signature = key.sign(sums)
    (out_dir / artifacts.SUMS).write_bytes(sums)
    (out_dir / artifacts.SIG).write_text(signing.signature_line(signature))
    body = artifacts.document(
        name=first["name"], version=first["version"], commit=first.get("commit"), tag=first.get("tag"),
        platform=first["platform"], arch=first["arch"], source_date_epoch=first["source_date_epoch"],
        artifacts=list(merged.values()), sums=sums, signature=signature, key=key, tools=first.get("tools") or {})
    body["extra"] = {"merged_from": [
        {"platform": d["platform"], "arch": d["arch"], "commit": d.get("commit"),
         "artifacts_sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for d, p in inputs]}
    doc_path = out_dir / artifacts.DOCUMENT
    documents.write(doc_path, "artifacts", body)
    return documents.read(doc_path, "artifacts"), doc_path, sources


def release_notes(changes_path: str, version: str, out_dir: Path) -> tuple[Path, str]:
    """RELEASE_NOTES.md for `version`, rendered from the changes document into `out_dir`; (path, text)."""
    from releng import release_notes

    changes = documents.read(changes_path, "changes")
    for release in changes.get("versions", []):
        if release.get("version") == version:
            text = release_notes.render_section(release, {"repo_url": changes.get("repo_url")})
            path = out_dir / NOTES
            path.write_text(text, encoding="utf-8")
            return path, text
    raise BadInput(f"the changes document has no section for {version}", changes_path)


@dataclass(frozen=True)
class NextManifest:
    envelope: bytes
    payload: dict[str, Any]
    action: str  # publish | refresh (a new manifest was signed) | sync (the newest copy goes to mirrors that lag)

    @property
    def fresh(self) -> bool:
        return self.action != "sync"

    @property
    def number(self) -> int:
        return int(self.payload["manifest_number"])


def next_manifest(copies: Sequence[Channel], channel: str, doc: Mapping[str, Any], notes: str,
                  manifest_cfg: Mapping[str, Any], key: signing.SigningKey, base: str) -> NextManifest:
    """The manifest every server should hold after publishing `doc` to `channel` (releng.server.channels.publish).

    Raises channels.NotNewer when the channel already points at a newer version: promote-release moves channels,
    publish never moves one back (the caller warns and leaves the channel alone)."""
    top = channel_store.best(copies)
    offer = channel_store.offer_from_document(doc, notes, manifest_cfg, base)
    change = channels.publish(top.payload if top else None, channel, offer, channel_store.clock(manifest_cfg))
    if change is None:
        assert top is not None and top.envelope is not None and top.payload is not None
        return NextManifest(top.envelope, top.payload, "sync")
    return NextManifest(channel_store.sign(change, key), change.payload, change.action)


def purge_urls(cfg: Mapping[str, Any], fallback_base: str, channel: str, names: Sequence[str]) -> list[str]:
    """The mutable URLs a publish changes (docs/security-properties.md #36): the channel manifest, and for stable
    releases/latest (a bucket's pointer object), releases/latest/ and every file under it (`names`: the release
    folder's files). Never a versioned URL."""
    from releng.server import cdn

    base = cdn.base_url(cfg, fallback_base)
    urls = [f"{base}/{CHANNELS}/{channel}.json"]
    if channel == "stable":
        latest = f"{base}/{RELEASES}/latest"
        urls += [latest, f"{latest}/"] + [f"{latest}/{n}" for n in names]
    return urls


def plan_release(t: Transport, version: str, files: Sequence[LocalFile], upload_id: str, verify: bool) -> list[str]:
    """Every change publishing the release folder would make on one server, read from its current state."""
    folder = layout.release_dir(version)
    if t.lstat(folder) is not None:
        try:
            layout.compare_release(t, version, files, verify)
        except layout.Conflict as e:
            return [f"refuse: {e.what} (nothing changed)"]
        return [f"nothing: {folder}/ already holds these bytes"]
    incoming = f"{INCOMING}/{version}.{upload_id}"
    changes = [f"mkdir {p}" for p in _missing_dirs(t, incoming)]
    for f in files:
        have = t.stat(f"{incoming}/{f.name}")
        resume = f", resuming after {have.size} bytes already there" if have is not None and have.size <= f.size else ""
        changes.append(f"upload {incoming}/{f.name} ({f.size} bytes{resume})")
    check = "size and sha256 (read back)" if verify else "size"
    changes += [f"check the {check} of each uploaded file"]
    changes += [f"mkdir {p}" for p in _missing_dirs(t, LOCKS)]
    return changes + [f"mkdir {LOCKS}/{version} (lock)", f"rename {incoming} -> {folder}",
                      f"rmdir {LOCKS}/{version} (unlock)"]


def plan_channel(t: Transport, channel: str, version: str, nxt: NextManifest, current: Channel) -> list[str]:
    """The changes writing the channel manifest (and for stable, switching releases/latest) would make."""
    if current.envelope == nxt.envelope:
        return [f"nothing: {CHANNELS}/{channel}.json is already manifest {nxt.number}"]
    changes = [f"mkdir {p}" for p in _missing_dirs(t, CHANNELS)]
    changes += [f"mkdir {CHANNELS}/.lock (lock)",
                f"write {CHANNELS}/.{channel}.json.<tmp> ({len(nxt.envelope)} bytes: {version}, manifest_number "
                f"{nxt.number}{'' if nxt.fresh else ', copied from another mirror'}) and rename it over "
                f"{CHANNELS}/{channel}.json",
                f"append a line to {layout.HISTORY} (temp file renamed over it)"]
    if channel == "stable":
        changes.append(f"symlink {RELEASES}/.latest.<tmp> -> {version} and rename it over {RELEASES}/latest")
    return changes + [f"rmdir {CHANNELS}/.lock (unlock)"]


def plan_github(repository: str, doc: dict[str, Any], files: Sequence[LocalFile], channel: str) -> list[str]:
    """The GitHub calls sync_release makes (which of them happen depends on what the release already has)."""
    tag = doc.get("tag") or f"v{doc['version']}"
    kind = "prerelease" if channel in ("dev", "beta") else "release"
    changes = [f"GET /repos/{repository}/releases (find {tag} by listing); POST a draft {kind} for {tag} if none, "
               "PATCH its name/body/prerelease if they differ"]
    changes += [f"upload asset {f.name} ({f.size} bytes) unless an asset of that name has the same sha256"
                for f in files if f.name not in ("artifacts.json", NOTES)]
    return changes + [f"PATCH the release draft=false (publish {tag})"]


def _missing_dirs(t: Transport, rel: str) -> list[str]:
    parts = rel.split("/")
    subs = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return [s for s in subs if t.stat(s) is None]


def check_channels(specs: list[dict[str, Any]], channel: str, trusted: dict[str, bytes]) -> None:
    """Every server's current manifest of `channel` verifies with the trusted keys, before anything is uploaded: a
    release renamed into releases/ is permanent, so a refusal found after the upload (a signing key the servers'
    manifests are not signed with) would leave it there and refuse the right key's publish as "different bytes".
    A server that cannot be reached is left to the upload, which reports it."""
    for spec in specs:
        if spec["transport"] == "local" and not Path(spec["root"]).expanduser().is_dir():
            continue  # a new local root: nothing published there yet
        try:
            t = open_server(spec, create=False)
        except (RelengError, OSError, EOFError):
            continue
        try:
            channel_store.read(t, channel, trusted)
        except RelengError as e:
            if isinstance(e, BadInput):
                raise BadInput(f"{e.what} (nothing was uploaded)", spec["name"]) from None
        except Exception as e:
            if not network_error(e):
                raise
        finally:
            t.close()
