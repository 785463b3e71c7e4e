"""The update server's layout (DESIGN.md) and the transactions on it, over any releng.server.transport.Transport.

```
releases/<version>/                 immutable once published
releases/.incoming/<version>.<id>/  an upload in progress (id: a digest of the inputs, so a rerun resumes it)
releases/.locks/<version>/          held (mkdir) only around the final rename: the mutex between publishers
releases/latest -> <version>        switched by renaming a new symlink over it
channels/<channel>.json             DSSE-signed channel manifests, replaced by one POSIX rename
channels/.lock/                     held while a channel manifest and the history log are rewritten
channels/history.jsonl              one JSON line per manifest change: who, when, channel, version, number, digest
```
Two publishers of one version race only at the rename: each uploads into its own `.incoming` folder, takes the
version's lock, checks that `releases/<version>` is absent and renames. The loser finds the folder there, compares
it with its own input and reports "unchanged" (same bytes) or a conflict (exit 2); nothing it did is visible.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releng import documents, semver
from releng.errors import BadInput, ExternalError
from releng.names import check_channel, check_name, check_version
from releng.server.transport import Transport, TransportError, lock, mkdirs, switch_symlink, write_atomic

RELEASES, INCOMING, LOCKS, CHANNELS = "releases", "releases/.incoming", "releases/.locks", "channels"
HISTORY = "channels/history.jsonl"


class Conflict(ExternalError):
    """The version is already published on a server with different bytes: refused, nothing modified."""


@dataclass(frozen=True)
class LocalFile:
    name: str  # the file name in releases/<version>/
    path: Path
    size: int
    sha256: str


@dataclass
class Outcome:
    status: str = "failed"  # published | unchanged | failed
    bytes_sent: int = 0
    error: str | None = None


def release_dir(version: str) -> str:
    return f"{RELEASES}/{check_version(version)}"


def _incoming(version: str, upload_id: str) -> str:
    return f"{INCOMING}/{check_version(version)}.{check_name(upload_id, 'upload id')}"


def compare_release(t: Transport, version: str, files: Sequence[LocalFile], verify: bool) -> None:
    """Pass when `releases/<version>` holds exactly these files with these bytes; Conflict otherwise.

    Sizes always; SHA256SUMS, its signature, the artifacts document and the notes byte for byte (they are small,
    and SHA256SUMS vouches for every artifact); with `verify`, every artifact is hashed too.
    """
    folder = release_dir(version)
    remote = set(t.listdir(folder))
    differ = sorted(remote ^ {f.name for f in files})
    if differ:
        raise Conflict(f"{folder} is already published with other files ({', '.join(differ[:4])})", t.name)
    for f in files:
        rel = f"{folder}/{f.name}"
        st = t.stat(rel)
        if st is None or st.size != f.size:
            raise Conflict(f"{rel} is already published with different bytes (size)", t.name)
        small = f.size <= 1 << 20
        if small or verify:
            digest = _sha256(t.read_bytes(rel)) if small else t.hash_file(rel)[1]
            if digest != f.sha256:
                raise Conflict(f"{rel} is already published with different bytes", t.name)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def publish_release(t: Transport, version: str, files: Sequence[LocalFile], upload_id: str, *,
                    verify: bool = False) -> Outcome:
    """Upload into `.incoming`, check every file, rename into `releases/<version>`: all or nothing is visible."""
    out = Outcome()
    folder = release_dir(version)
    if getattr(t, "objects", False):
        return _publish_objects(t, version, files, out)
    if t.lstat(folder) is not None:
        compare_release(t, version, files, verify)
        out.status = "unchanged"
        return out
    incoming = _incoming(version, upload_id)
    try:
        _upload(t, incoming, files, out, verify)
    except TransportError:
        if t.lstat(folder) is None:
            raise
        # A publisher of the same input (same .incoming folder) renamed it away first: judge its result below.
        compare_release(t, version, files, verify)
        out.status = "unchanged"
        return out
    mkdirs(t, LOCKS)
    with lock(t, f"{LOCKS}/{version}"):
        if t.lstat(folder) is None:
            t.rename_noreplace(incoming, folder)
            out.status = "published"
            return out
    # Another publisher won the race: our upload stays invisible; judge its result against our input.
    _remove_folder(t, incoming)
    compare_release(t, version, files, verify)
    out.status = "unchanged"
    return out


DOCUMENT = "artifacts.json"  # an object store's release is complete, and listed, once this object exists


def _publish_objects(t: Any, version: str, files: Sequence[LocalFile], out: Outcome) -> Outcome:
    """A bucket (releng.server.s3): no rename, so every object goes straight to `releases/<version>/` as a
    create-only write, artifacts.json last, each checked (size and the sha256 the service verified on upload)
    before the next step. A killed publish leaves objects without artifacts.json: never listed
    (released_versions), resumed by a rerun (objects already stored with our sha256 are skipped, a partial
    multipart upload continues). An object stored with other bytes is a Conflict: nothing replaced."""
    folder = release_dir(version)
    ordered = [f for f in files if f.name != DOCUMENT] + [f for f in files if f.name == DOCUMENT]
    created = False
    for f in ordered:
        rel = f"{folder}/{f.name}"
        have = t.stored(rel)
        if have is None:
            created = True
            sent_before = t.bytes_sent
            up = t.put_file(f.path, rel, f.sha256)
            out.bytes_sent += t.bytes_sent - sent_before
            if up.sha256 != f.sha256 or up.size != f.size:
                raise BadInput(f"{f.path} changed since it was listed (sha256 or size differs from the document)")
            have = t.stored(rel)
        if have != (f.size, f.sha256):
            raise Conflict(f"{rel} is already published with different bytes", t.name)
    extra = sorted(set(t.listdir(folder)) - {f.name for f in files})
    if extra:
        raise Conflict(f"{folder} is already published with other files ({', '.join(extra[:4])})", t.name)
    out.status = "published" if created else "unchanged"
    return out


def _upload(t: Transport, incoming: str, files: Sequence[LocalFile], out: Outcome, verify: bool) -> None:
    mkdirs(t, incoming)
    for f in files:
        sent_before = t.bytes_sent
        up = t.put_file(f.path, f"{incoming}/{f.name}")
        out.bytes_sent += t.bytes_sent - sent_before
        if up.sha256 != f.sha256 or up.size != f.size:
            raise BadInput(f"{f.path} changed since it was listed (sha256 or size differs from the document)")
    for f in files:  # docs/security-properties.md #5: sizes always, sha256 with --verify, all before the rename
        rel = f"{incoming}/{f.name}"
        st = t.stat(rel)
        if st is None or st.size != f.size:
            raise TransportError(f"{rel} is {st.size if st else 'missing'} bytes on the server, expected {f.size}",
                                 t.name)
        if verify and t.hash_file(rel)[1] != f.sha256:
            t.remove(rel)  # the next run uploads it again
            raise TransportError(f"{rel} does not hash to its sha256 on the server (removed; rerun)", t.name)


def _remove_folder(t: Transport, rel: str) -> None:
    for name in t.listdir(rel):
        t.remove(f"{rel}/{name}")
    t.rmdir(rel)


def point_latest(t: Transport, version: str) -> None:
    """Switch `releases/latest` to `version` without a moment where it does not resolve
    (docs/security-properties.md #6)."""
    switch_symlink(t, posixpath.basename(release_dir(version)), f"{RELEASES}/latest")


def _text(v: object) -> bool:
    return isinstance(v, str) and bool(v)


def _number(v: object, low: float, high: float) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and low < v <= high  # NaN is never in range


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TEXT, _BOOL = (_text, "a non-empty string"), (lambda v: isinstance(v, bool), "true or false")
_OPT_TEXT = (lambda v: v is None or _text(v), "a non-empty string or null")
_TEXTS = (lambda v: isinstance(v, list) and all(_text(x) for x in v), "a list of non-empty strings")
_OPT_OBJECT = (lambda v: v is None or isinstance(v, dict), "an object or null")
_ANY = (lambda v: True, "")  # checked with its own words below (name, transport, root, expires_days, channels)
# Every key of update_server_config.json (docs/update-server.md) and its type: an unknown key (a typo) or a wrong type
# is bad input naming it, never silently used ("enabled": "no" was truthy, "cdn": [] meant no CDN: issue 12).
_KEYS: dict[str, dict[str, tuple[Any, str]]] = {
    "": {"servers": _ANY, "channels": _ANY, "manifest": (lambda v: isinstance(v, dict), "an object"),
         "cdn": _OPT_OBJECT, "github": _OPT_OBJECT, "notify": _OPT_OBJECT},
    "servers[]": {"name": _ANY, "enabled": _BOOL, "transport": _ANY, "root": _ANY, "base_url": _OPT_TEXT,
                  "host": _TEXT, "port": (lambda v: _whole(v) and 0 < v < 65536, "a port number 1..65535"),
                  "user": _TEXT, "known_hosts": _TEXT, "key_file": _OPT_TEXT,
                  "timeout": (lambda v: _number(v, 0, 86400), "a number of seconds above 0, at most 86400"),
                  "bucket": _TEXT, "prefix": (lambda v: isinstance(v, str) and "\0" not in v and ".." not in
                                              v.split("/"), "a key prefix without '..'"),
                  "endpoint_url": _OPT_TEXT, "region": _OPT_TEXT},
    "manifest": {"expires_days": _ANY, "signing_key_env": _TEXT, "passphrase_env": _OPT_TEXT, "trusted_keys": _TEXTS,
                 "base_url": _OPT_TEXT, "prefer_kinds": _TEXTS, "root": _TEXT},
    "cdn": {"provider": _OPT_TEXT, "purge_url": _OPT_TEXT, "token_env": _OPT_TEXT, "zone_id": _OPT_TEXT,
            "api_base": _OPT_TEXT, "base_url": _OPT_TEXT, "max_urls_per_request": (_whole, "a whole number")},
    "github": {"repository": _OPT_TEXT, "token_env": _OPT_TEXT, "api_base": _OPT_TEXT,
               "tag_prefix": (lambda v: isinstance(v, str), "a string")},
    "notify": {"webhook_env": _OPT_TEXT, "smtp": _OPT_OBJECT},
    "notify.smtp": {"host": _TEXT, "port": (lambda v: _whole(v) and 0 < v < 65536, "a port number 1..65535"),
                    "user": _OPT_TEXT, "from": _TEXT, "to": _TEXTS, "starttls": _BOOL, "password_env": _OPT_TEXT},
}


def _check_table(table: Mapping[str, Any], kind: str, at: str, where: str) -> None:
    """Unknown keys (with the nearest valid one) and the type of each key of one table of the config."""
    from releng import config

    keys = _KEYS[kind]
    config.check_keys(table, keys, kind or "the update server config", where)
    for key, value in table.items():
        test, words = keys[key]
        if not test(value):
            raise BadInput(f"{at}{key} must be {words}, found {value!r}", where)


# The keys each transport takes beyond name/enabled/transport/base_url/timeout: another transport's key is a mistake.
_KIND_KEYS = {"local": {"root"}, "sftp": {"root", "host", "port", "user", "known_hosts", "key_file"},
              "s3": {"bucket", "prefix", "endpoint_url", "region"}}


def _check_kind_keys(spec: Mapping[str, Any], kind: str, at: str) -> None:
    """Keys of another transport (credentials have no key at all: boto3's chain finds them) are refused."""
    own = _KIND_KEYS[kind] | {"name", "enabled", "transport", "base_url", "timeout"}
    wrong = sorted(k for k in spec if k not in own)
    if wrong:
        raise BadInput(f"{wrong[0]!r} is not a key of a {kind} server (keys: {', '.join(sorted(own))})", at)


def load_config(path: Path | str) -> dict[str, Any]:
    """Read and check update_server_config.json (docs/update-server.md); BadInput naming the bad key."""
    where = str(path)
    cfg = documents.load_json(path, "update server config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("servers"), list) or not cfg["servers"]:
        raise BadInput("the config needs a non-empty \"servers\" list", where)
    _check_table(cfg, "", "", where)
    for section in ("manifest", "cdn", "github", "notify"):
        _check_table(cfg.get(section) or {}, section, f"{section}.", where)
    if isinstance((cfg.get("notify") or {}).get("smtp"), dict):
        _check_table(cfg["notify"]["smtp"], "notify.smtp", "notify.smtp.", where)
    names: set[str] = set()
    for i, spec in enumerate(cfg["servers"]):
        at = f"{where}: servers[{i}]"
        if not isinstance(spec, dict):
            raise BadInput("a server must be an object", at)
        _check_table(spec, "servers[]", f"servers[{i}].", where)
        name = check_name(spec.get("name"), "server name")
        if name in names:
            raise BadInput(f"two servers are named {name!r}", at)
        names.add(name)
        kind, root = spec.get("transport"), spec.get("root")
        if kind not in ("local", "sftp", "s3"):
            raise BadInput(f"transport must be \"local\", \"sftp\" or \"s3\", found {kind!r}", at)
        _check_kind_keys(spec, kind, at)
        if kind == "s3":
            for key in ("bucket", "base_url"):
                if not isinstance(spec.get(key), str) or not spec[key]:
                    raise BadInput(f"an s3 server needs {key!r}", at)
            continue
        if not isinstance(root, str) or not root or "\0" in root or ".." in root.split("/"):
            raise BadInput("root must be a folder path without '..'", at)
        if kind == "sftp":
            if not root.startswith("/"):
                raise BadInput("an sftp root must be an absolute path", at)
            for key in ("host", "user", "known_hosts", "base_url"):
                if not isinstance(spec.get(key), str) or not spec[key]:
                    raise BadInput(f"an sftp server needs {key!r}", at)
    channels = cfg.setdefault("channels", ["dev", "beta", "stable"])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise BadInput("channels must be a list of names", where)
    for c in channels:
        check_channel(c)
    man = cfg.setdefault("manifest", {})
    days = man.setdefault("expires_days", 2)  # the freeze window (issue 15); at most 14
    if not isinstance(days, int | float) or isinstance(days, bool) or not 0 < days <= 14:
        raise BadInput(f"manifest.expires_days must be more than 0 and at most 14, found {days!r}", where)
    man.setdefault("signing_key_env", "RELENG_SIGNING_KEY")
    man.setdefault("prefer_kinds", ["tar.gz", "zip", "tar.zst", "deb", "pkg", "exe"])
    if "root" in man:  # the clients' current root.json, relative to this file's folder (channel_store.load_root)
        man["root"] = str(Path(where).parent / man["root"])
    return cfg


# --- what promote-release and rollback-release both need ------------------------------------------------------------

QUARANTINE = "quarantine"
ROLLBACK_LOG = "rollback_log.jsonl"
NOTES = "RELEASE_NOTES.md"  # as publish-release names the notes in releases/<version>/


def manifest_artifacts(doc: Mapping[str, Any], version: str, base_url: str, kinds: Sequence[str]) -> dict[str, Any]:
    """`<platform>-<arch>` -> {url, size, sha256}, the first of `kinds` winning (as publish-release chooses)."""
    chosen: dict[str, dict[str, Any]] = {}
    rank = {k: i for i, k in enumerate(kinds)}
    for a in sorted(doc["artifacts"], key=lambda a: rank.get(a["kind"], len(rank))):
        chosen.setdefault(f"{a['platform']}-{a['arch']}".lower(), {
            "url": f"{base_url.rstrip('/')}/releases/{version}/{a['path']}", "size": a["size"], "sha256": a["sha256"]})
    return chosen


def release_document(t: Transport, version: str) -> dict[str, Any]:
    """releases/<version>/artifacts.json on one server, checked to be that version's artifacts document."""
    return parse_release_document(release_document_bytes(t, version), version, t.name)


def release_document_bytes(t: Transport, version: str, where: str | None = None) -> bytes:
    rel = f"{release_dir(version)}/artifacts.json"
    if t.stat(rel) is None:
        raise BadInput(f"{rel} is missing", where or t.name)
    return t.read_bytes(rel, 16 << 20)


def parse_release_document(data: bytes, version: str, where: str) -> dict[str, Any]:
    rel = f"{release_dir(version)}/artifacts.json"
    doc = documents.parse_json(data, where, rel)
    if not isinstance(doc, dict) or doc.get("version") != version or not isinstance(doc.get("artifacts"), list):
        raise BadInput(f"{rel} is not the artifacts document of {version}", where)
    return doc


def release_notes(t: Transport, version: str) -> str:
    rel = f"{release_dir(version)}/{NOTES}"
    return t.read_bytes(rel, 1 << 20).decode("utf-8") if t.stat(rel) is not None else ""


def released_versions(t: Transport) -> list[str]:
    """The versions in releases/ (folders with a SemVer name; `latest`, dot-names and stray files skipped)."""
    out = []
    for name in t.listdir(RELEASES):
        st = t.lstat(f"{RELEASES}/{name}")
        if semver.is_valid(name) and st is not None and st.is_dir and not st.is_link and (
                not getattr(t, "objects", False) or t.stat(f"{RELEASES}/{name}/{DOCUMENT}") is not None):
            out.append(name)  # in a bucket, a release without artifacts.json is an unfinished publish
    return out


def quarantined(t: Transport, version: str) -> list[str]:
    """The quarantine folders of `version` (`quarantine/<version>-<utc stamp>`), oldest first."""
    prefix = f"{check_version(version)}-"
    return sorted(f"{QUARANTINE}/{n}" for n in t.listdir(QUARANTINE)
                  if n.startswith(prefix) and n[len(prefix):][:1].isdigit())


def read_jsonl(t: Transport, rel: str) -> list[dict[str, Any]]:
    """The object lines of a JSON-lines file on a server (absent file: none; a garbled line, nested too deeply
    included, is skipped)."""
    if t.stat(rel) is None:
        return []
    out = []
    for line in t.read_bytes(rel, 64 << 20).splitlines():
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def upsert_jsonl(t: Transport, rel: str, key: str, record: Mapping[str, Any]) -> None:
    """Replace the line whose `key` equals the record's (or append one), with one rename: a rerun never duplicates."""
    new = json.dumps(dict(record), sort_keys=True, separators=(",", ":")).encode("utf-8")
    old = t.read_bytes(rel, 64 << 20).splitlines() if t.stat(rel) is not None else []
    lines, found = [], False
    for line in old:
        try:
            same = json.loads(line).get(key) == record[key]
        except (ValueError, RecursionError, AttributeError):
            same = False
        lines.append(new if same else line)
        found = found or same
    write_atomic(t, rel, b"\n".join(lines if found else [*lines, new]) + b"\n")
