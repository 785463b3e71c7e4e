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

from releng import names, times
from releng.server import channels, layout, manifest
from releng.server.layout import CHANNELS, HISTORY
from releng.server.transport import Transport, lock, mkdirs, write_atomic

if TYPE_CHECKING:
    from releng.signing import SigningKey

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
    return channels.Offer(version, layout.manifest_artifacts(doc, version, base, manifest_cfg["prefer_kinds"]), notes)


def offer_on_server(t: Transport, version: str, manifest_cfg: Mapping[str, Any], base: str) -> channels.Offer:
    """The release facts of releases/<version>/ on one server (its artifacts document and notes)."""
    return offer_from_document(layout.release_document(t, version), layout.release_notes(t, version),
                               manifest_cfg, base)


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
