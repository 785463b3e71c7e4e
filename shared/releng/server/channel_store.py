"""The one place that reads, locks, verifies, signs and writes channel manifests, and appends their history.

`releng.server.channels` decides what the next manifest says; this module is everything around that decision:
- read: every copy of `channels/<channel>.json` is verified with the trusted keys before its payload is used
  (a copy that does not verify is BadInput: never trusted, never skipped);
- lock: `channels/.lock` on every server, taken in config order so two writers cannot deadlock;
- release facts: what a manifest says about a release comes from `releases/<version>/` on the server;
- sign and write: one rename replaces the manifest (docs/update-server.md), then one history line is appended;
- history: every line of `channels/history.jsonl` has the same fields whatever the action (HISTORY_FIELDS).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from releng import artifacts, files, names, signing, times, trust
from releng.errors import BadInput
from releng.server import channels, layout, manifest
from releng.server.layout import CHANNELS, HISTORY
from releng.server.transport import Transport, lock, mkdirs, write_atomic

if TYPE_CHECKING:
    from releng.signing import SigningKey

SUMS_CAP = 1 << 20  # SHA256SUMS of a release: a line per artifact
MANIFEST_CAP = 64 << 10  # a manifest of every platform is ~2 KiB: more is not a manifest
HISTORY_CAP = 64 << 20
HISTORY_FIELDS = ("at", "who", "action", "channel", "version", "manifest_number", "rollout", "rollback_of", "reason",
                  "sha256")


@dataclass(frozen=True)
class Channel:
    """One server's copy of a channel manifest: the envelope's bytes and its verified payload (None: absent)."""

    envelope: bytes | None
    payload: dict[str, Any] | None


def manifest_path(channel: str) -> str:
    return f"{CHANNELS}/{names.check_channel(channel)}.json"


def read(t: Transport, channel: str, trusted: Mapping[str, bytes]) -> Channel:
    """The current manifest of `channel` on one server, verified with the trusted keys (None when absent)."""
    rel = manifest_path(channel)
    if t.stat(rel) is None:
        return Channel(None, None)
    data = t.read_bytes(rel, MANIFEST_CAP)
    return Channel(data, manifest.verify_envelope(data, trusted, f"{t.name}: {rel}"))


def read_all(servers: Sequence[Transport], channel: str, trusted: Mapping[str, bytes]) -> list[Channel]:
    return [read(t, channel, trusted) for t in servers]


def best(copies: Sequence[Channel]) -> Channel | None:
    """The copy with the highest manifest_number (the one every mirror should hold)."""
    return max((c for c in copies if c.payload is not None),
               key=lambda c: int((c.payload or {})["manifest_number"]), default=None)


def current(copies: Sequence[Channel]) -> dict[str, Any] | None:
    top = best(copies)
    return top.payload if top is not None else None


@contextmanager
def locked(servers: Sequence[Transport]) -> Iterator[None]:
    """Hold `channels/.lock` on every server, in the given (config) order."""
    with ExitStack() as stack:
        for t in servers:
            mkdirs(t, CHANNELS)
            stack.enter_context(lock(t, f"{CHANNELS}/.lock"))
        yield


def clock(manifest_cfg: Mapping[str, Any], now: datetime | None = None) -> channels.Clock:
    """Now (whole seconds, UTC) and the configured validity window (`manifest.expires_days`)."""
    moment = (now or times.utc_now()).replace(microsecond=0)
    return channels.Clock(moment, float(manifest_cfg["expires_days"]))


def base_url(manifest_cfg: Mapping[str, Any], t: Transport) -> str:
    """Where clients fetch artifacts: `manifest.base_url`, else the first server's own URL."""
    return str(manifest_cfg.get("base_url") or t.url("")).rstrip("/")


def offer_from_document(doc: Mapping[str, Any], notes: str, manifest_cfg: Mapping[str, Any],
                        base: str, statement_sha256: str | None = None) -> channels.Offer:
    """The release facts a manifest carries, from an artifacts document. `statement_sha256`: the sha256 of the
    SHA256SUMS that was verified (default: the document's `checksums.sha256`, which publish-release checked
    against the local SHA256SUMS and its signature)."""
    version = str(doc["version"])
    statement = statement_sha256 or (doc.get("checksums") or {}).get("sha256")
    return channels.Offer(str(doc["name"]), version,
                          layout.manifest_artifacts(doc, version, base, manifest_cfg["prefer_kinds"]), notes,
                          statement if isinstance(statement, str) else None)


def verified_offer(servers: Sequence[Transport], version: str, trusted: Mapping[str, bytes],
                   manifest_cfg: Mapping[str, Any]) -> channels.Offer:
    """The release facts of releases/<version>/, verified on every server before any manifest offering it is signed.

    Nothing is signed that was not verified (docs/update-server.md): a server account without the key could
    otherwise edit artifacts.json and have the next promote, rollback or watch-health sign a manifest pointing
    clients at its own bytes. On each server: SHA256SUMS.sig verifies over SHA256SUMS with a trusted key, every
    artifact of artifacts.json is a safe file name named `<product>-<version>-<platform>-<arch>.<kind>` (so the
    signed names bind product, version and platform), is listed in the signed sums with the same sha256, and has
    that size on the server; and artifacts.json and SHA256SUMS are byte-identical on every server. With
    `manifest.root` set, SHA256SUMS.sig must meet that root's release threshold instead of matching a trusted key.
    The offer names the verified SHA256SUMS by its sha256 (`release_statement_sha256`). BadInput (exit 2)
    otherwise."""
    role = release_role(manifest_cfg)
    texts = {verified_release(t, version, trusted, role) for t in servers}
    if len(texts) != 1:
        raise BadInput(f"{layout.release_dir(version)}/artifacts.json or {artifacts.SUMS} differs between servers: "
                       "republish with publish-release")
    data, statement = texts.pop()
    doc = layout.parse_release_document(data, version, servers[0].name)
    return offer_from_document(doc, layout.release_notes(servers[0], version), manifest_cfg,
                               base_url(manifest_cfg, servers[0]), statement)


def verified_release(t: Transport, version: str, trusted: Mapping[str, bytes],
                     role: trust.Role | None = None) -> tuple[bytes, str]:
    """releases/<version>/artifacts.json of one server, after checking it against the signed SHA256SUMS, and the
    sha256 of those SHA256SUMS bytes. `role`: the root's release role (else a trusted key must have signed)."""
    folder, where = layout.release_dir(version), t.name
    sums = _read(t, f"{folder}/{artifacts.SUMS}", SUMS_CAP)
    sig_text = _read(t, f"{folder}/{artifacts.SIG}", 4096).decode("ascii", "replace")
    if role is not None:
        try:
            trust.verify_statement(sums, sig_text, role, f"{folder}/{artifacts.SUMS}")
        except trust.TrustError as e:
            raise BadInput(f"{e.what}: refusing to sign a manifest for this release "
                           f"({folder}/{artifacts.SUMS}.sig, manifest.root)", where) from None
    else:
        signature = signing.parse_signature_line(sig_text)
        if signature is None or not any(signing.verify(k, signature, sums) for k in trusted.values()):
            raise BadInput(f"{folder}/{artifacts.SUMS}.sig does not verify with a trusted key: refusing to sign a "
                           "manifest for this release", where)
    try:
        listed = artifacts.parse_sums(sums.decode("ascii"), f"{folder}/{artifacts.SUMS}")
    except (UnicodeDecodeError, artifacts.Failed) as e:
        raise BadInput(f"{folder}/{artifacts.SUMS} is malformed: {e}", where) from None
    data = layout.release_document_bytes(t, version)
    doc = layout.parse_release_document(data, version, where)
    product = doc.get("name")
    if not names.is_safe_name(product):
        raise BadInput(f"{folder}/artifacts.json names no valid product ({product!r})", where)
    for a in doc["artifacts"]:
        if not isinstance(a, dict) or not all(isinstance(a.get(k), str) for k in ("path", "kind", "platform", "arch")):
            raise BadInput(f"{folder}/artifacts.json: an artifact needs path, kind, platform and arch", where)
        name = a["path"]
        if not names.is_safe_name(name):
            raise BadInput(f"{folder}/artifacts.json names an unsafe file {name!r} ({names.RULE})", where)
        if name != f"{product}-{version}-{a['platform']}-{a['arch']}.{a['kind']}":
            raise BadInput(f"{folder}/artifacts.json: {name!r} is not the name of a {product} {version} "
                           f"{a['platform']}-{a['arch']} {a['kind']}", where)
        if listed.get(name) != a.get("sha256"):
            raise BadInput(f"{folder}/artifacts.json: {name} does not match the signed {artifacts.SUMS}", where)
        st = t.stat(f"{folder}/{name}")
        if st is None or st.is_dir or st.size != a.get("size"):
            raise BadInput(f"{folder}/{name} is missing or not the size artifacts.json gives", where)
    return data, hashlib.sha256(sums).hexdigest()


# --- manifest.root: the server tools trust what the clients' root trusts (issue 15) ----------------------------


def load_root(manifest_cfg: Mapping[str, Any]) -> trust.Root | None:
    """The root document `manifest.root` names (layout.load_config made the path absolute), verified by its own
    root keys and not expired; None when the setting is absent (then `manifest.trusted_keys` decides)."""
    path = manifest_cfg.get("root")
    if not path:
        return None
    try:
        data = files.read_capped(path, trust.MAX_ROOT_BYTES, "manifest.root")
    except files.Missing:
        raise BadInput("manifest.root names no file", str(path)) from None
    root = trust.verify_self(data, str(path))
    trust.check_fresh(root, times.utc_now(), str(path))
    return root


def release_role(manifest_cfg: Mapping[str, Any]) -> trust.Role | None:
    """Whose signatures over SHA256SUMS count: the release role of `manifest.root` (None: trusted keys)."""
    root = load_root(manifest_cfg)
    return root.roles["release"] if root is not None else None


def trusted_keys(key: SigningKey, manifest_cfg: Mapping[str, Any]) -> dict[str, bytes]:
    """signing.trusted_keys, after checking that `key` (the channel key that will sign manifests) is one of the
    channel keys of `manifest.root` when that is set: nothing is signed by a key clients won't trust. Every tool
    that signs manifests calls this before writing anything; BadInput (exit 2) otherwise."""
    root = load_root(manifest_cfg)
    if root is not None and trust.full_key_id(key.public_raw) not in root.roles["channel"].keys:
        raise BadInput(f"the signing key {key.key_id} is not a channel key of root version {root.version}: "
                       "nothing signed by a key clients won't trust", str(manifest_cfg["root"]))
    return signing.trusted_keys(key, dict(manifest_cfg))


def _read(t: Transport, rel: str, cap: int) -> bytes:
    if t.stat(rel) is None:
        raise BadInput(f"{rel} is missing", t.name)
    return t.read_bytes(rel, cap)


def sign(change: channels.Change, key: SigningKey) -> bytes:
    """The envelope of a decided change (sign_envelope re-checks the payload and the expiry policy first)."""
    return manifest.sign_envelope(change.payload, key)


def record(action: str, payload: Mapping[str, Any], envelope: bytes, who: str, reason: str | None = None,
           at: datetime | None = None) -> dict[str, Any]:
    """The history line of a manifest change: the same fields (HISTORY_FIELDS) for every action."""
    return {"at": times.format_time(at or times.utc_now()), "who": who, "action": action,
            "channel": payload["channel"], "version": payload["version"],
            "manifest_number": payload["manifest_number"], "rollout": payload["rollout"],
            "rollback_of": payload.get("rollback_of"), "reason": reason, "sha256": manifest.envelope_digest(envelope)}


def needs_write(t: Transport, channel: str, envelope: bytes, trusted: Mapping[str, bytes]) -> bool:
    return read(t, channel, trusted).envelope != envelope


def write(t: Transport, channel: str, envelope: bytes, entry: Mapping[str, Any]) -> None:
    """Replace the manifest with one rename, then append its history line (the caller holds the lock)."""
    write_atomic(t, manifest_path(channel), envelope)
    append_history(t, entry)


def append_history(t: Transport, entry: Mapping[str, Any]) -> None:
    old = t.read_bytes(HISTORY, HISTORY_CAP) if t.stat(HISTORY) is not None else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps({k: entry.get(k) for k in HISTORY_FIELDS}, sort_keys=True, separators=(",", ":"))
    write_atomic(t, HISTORY, old + line.encode("utf-8") + b"\n")


def describe(channel: str, payload: Mapping[str, Any], fresh: bool = True) -> str:
    """One line for a report or a dry run: what writing this manifest changes."""
    of = f", rollback_of {payload['rollback_of']}" if payload.get("rollback_of") else ""
    copied = "" if fresh else ", copied from another mirror"
    return f"{manifest_path(channel)}: offer {payload['version']} (number {payload['manifest_number']}{of}{copied})"


def refresh_all(servers: Sequence[Transport], channel_names: Sequence[str], key: SigningKey,
                trusted: Mapping[str, bytes], manifest_cfg: Mapping[str, Any], who: str, *,
                dry: bool = False, force: bool = False) -> list[dict[str, Any]]:
    """The freeze window's cron job (issue 15): re-sign each channel's unchanged manifest that expires within
    `channels.REFRESH_BEFORE` with a higher number and a fresh window, on every server, under the lock (the caller
    holds it unless `dry`). `force` re-signs every manifest however fresh (a new channel key after a rotation).
    One entry per channel: {channel, action: refresh|fresh|absent, manifest_number}."""
    report = []
    tick = clock(manifest_cfg)
    for channel in channel_names:
        payload = current(read_all(servers, channel, trusted))
        change = channels.refresh(payload, tick)
        if change is None and force and payload is not None:
            change = channels.Change("refresh", {**payload, "manifest_number": payload["manifest_number"] + 1,
                                                 "issued_at": times.format_time(tick.now),
                                                 "expires_at": times.format_time(tick.expires)})
        if change is None:
            report.append({"channel": channel, "action": "absent" if payload is None else "fresh",
                           "manifest_number": None if payload is None else payload["manifest_number"]})
            continue
        if not dry:
            envelope = sign(change, key)
            entry = record("refresh", change.payload, envelope, who, at=tick.now)
            for t in servers:
                write(t, channel, envelope, entry)
        report.append({"channel": channel, "action": "refresh",
                       "manifest_number": change.payload["manifest_number"]})
    return report
