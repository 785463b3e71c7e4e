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

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from releng import artifacts, names, signing, times
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
                        base: str) -> channels.Offer:
    """The release facts a manifest carries, from an artifacts document."""
    version = str(doc["version"])
    return channels.Offer(str(doc["name"]), version,
                          layout.manifest_artifacts(doc, version, base, manifest_cfg["prefer_kinds"]), notes)


def verified_offer(servers: Sequence[Transport], version: str, trusted: Mapping[str, bytes],
                   manifest_cfg: Mapping[str, Any]) -> channels.Offer:
    """The release facts of releases/<version>/, verified on every server before any manifest offering it is signed.

    Nothing is signed that was not verified (docs/update-server.md): a server account without the key could
    otherwise edit artifacts.json and have the next promote, rollback or watch-health sign a manifest pointing
    clients at its own bytes. On each server: SHA256SUMS.sig verifies over SHA256SUMS with a trusted key, every
    artifact of artifacts.json is a safe file name named `<product>-<version>-<platform>-<arch>.<kind>` (so the
    signed names bind product, version and platform), is listed in the signed sums with the same sha256, and has
    that size on the server; and artifacts.json is byte-identical on every server. BadInput (exit 2) otherwise."""
    texts = {verified_release(t, version, trusted) for t in servers}
    if len(texts) != 1:
        raise BadInput(f"{layout.release_dir(version)}/artifacts.json differs between servers: republish with "
                       "publish-release")
    doc = layout.parse_release_document(texts.pop(), version, servers[0].name)
    return offer_from_document(doc, layout.release_notes(servers[0], version), manifest_cfg,
                               base_url(manifest_cfg, servers[0]))


def verified_release(t: Transport, version: str, trusted: Mapping[str, bytes]) -> bytes:
    """releases/<version>/artifacts.json of one server, after checking it against the signed SHA256SUMS."""
    folder, where = layout.release_dir(version), t.name
    sums = _read(t, f"{folder}/{artifacts.SUMS}", SUMS_CAP)
    signature = signing.parse_signature_line(_read(t, f"{folder}/{artifacts.SIG}", 4096).decode("ascii", "replace"))
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
    return data


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
