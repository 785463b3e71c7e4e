"""Every change a channel manifest goes through, as pure functions: (current manifest, release facts, action) in,
the next manifest payload out.

The channel manifest is the one document a compromised server, a replay or a racing publisher attacks
(docs/update-server.md, docs/update-client.md), so its state machine has one owner: this module decides, and
`releng.server.channel_store` locks, verifies, signs, writes and appends the history. publish-release,
promote-release, rollback-release and watch-health all go through both; none of them builds a payload itself.

Rules every transition keeps (docs/update-client.md): `manifest_number` grows by one on every change, whatever the
action; each new payload has a fresh validity window (`issued_at` = now, `expires_at` = now + the configured days);
a manifest that expires within REFRESH_BEFORE is re-signed even when nothing else changes (`refresh`). A
transition that changes nothing returns `None` (the newest signed copy is then synced to mirrors that lag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from releng import semver, times
from releng.errors import BadInput
from releng.server import manifest

REFRESH_BEFORE = timedelta(days=1)  # re-sign a manifest this long before it expires
FULL = {"percent": 100, "halted": False}
ACTIONS = ("publish", "promote", "rollout", "halt", "refresh", "rollback", "revert")


@dataclass(frozen=True)
class Offer:
    """What a manifest says about the release it offers: read from releases/<version>/ on the servers."""

    product: str  # the project name (artifacts.json's `name`)
    version: str
    artifacts: Mapping[str, Mapping[str, Any]]  # `<platform>-<arch>` -> {url, size, sha256}
    notes: str = ""
    statement_sha256: str | None = None  # sha256 of the release's signed SHA256SUMS, as verified (issue 15)


@dataclass(frozen=True)
class Clock:
    """The moment a transition is decided and the validity window it gives the new manifest."""

    now: datetime
    expires_days: float

    @property
    def expires(self) -> datetime:
        return self.now + timedelta(days=self.expires_days)


@dataclass(frozen=True)
class Change:
    """A decided transition: the action recorded in the history and the unsigned payload to sign."""

    action: str
    payload: dict[str, Any]


def newest(payloads: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The payload with the highest manifest_number among the servers' copies of one channel."""
    known = [dict(p) for p in payloads if p is not None]
    return max(known, key=lambda p: int(p["manifest_number"]), default=None)


def stale(payload: Mapping[str, Any], clock: Clock) -> bool:
    """Whether the manifest expires within REFRESH_BEFORE: it must be re-signed on the next change or check."""
    return times.parse_time(payload["expires_at"]) <= clock.now + REFRESH_BEFORE


def _number(current: Mapping[str, Any] | None) -> int:
    return int(current["manifest_number"]) + 1 if current is not None else 1


def _offer(channel: str, offer: Offer, current: Mapping[str, Any] | None, clock: Clock,
           rollout: Mapping[str, Any], rollback_of: str | None = None) -> dict[str, Any]:
    return manifest.build_manifest(
        product=offer.product, channel=channel, version=offer.version, manifest_number=_number(current),
        issued_at=clock.now,
        expires_at=clock.expires, artifacts=offer.artifacts, notes=offer.notes, rollout_percent=rollout["percent"],
        halted=bool(rollout["halted"]), rollback_of=rollback_of, release_statement_sha256=offer.statement_sha256)


def _reissue(current: Mapping[str, Any], clock: Clock, **fields: Any) -> dict[str, Any]:
    """The current payload with a new number and validity window (and the given fields changed)."""
    return {**current, "manifest_number": _number(current), "issued_at": times.format_time(clock.now),
            "expires_at": times.format_time(clock.expires), **fields}


def refresh(current: Mapping[str, Any] | None, clock: Clock) -> Change | None:
    """Re-sign an unchanged manifest that is about to expire; None when it is fresh enough (or absent)."""
    if current is None or not stale(current, clock):
        return None
    return Change("refresh", _reissue(current, clock))


def publish(current: Mapping[str, Any] | None, channel: str, offer: Offer, clock: Clock) -> Change | None:
    """publish-release: offer a newly published release on its first channel, at 100%.

    None when the channel already offers it (refreshed when stale). BadInput when the channel offers a newer
    version: publish never moves a channel back (promote-release and rollback-release do, on purpose)."""
    if current is not None and current["version"] == offer.version:
        return refresh(current, clock)
    if current is not None and semver.parse(offer.version) < semver.parse(current["version"]):
        raise NotNewer(f"channel {channel} already points at {current['version']}, newer than {offer.version}: "
                       "manifest left as it is (promote-release moves channels)")
    return Change("publish", _offer(channel, offer, current, clock, FULL))


class NotNewer(BadInput):
    """publish-release found a newer version on the channel: the channel is left alone (a warning, not a failure)."""


def check_promotable(current: Mapping[str, Any] | None, channel: str, version: str) -> None:
    """A promotion only moves a channel forward: BadInput when it offers `version` or a newer one already."""
    if current is not None and semver.parse(version) <= semver.parse(current["version"]):
        raise BadInput(f"{channel} offers {current['version']}, not older than {version} "
                       "(rollbacks: rollback-release)")


def promote(current: Mapping[str, Any] | None, channel: str, offer: Offer, clock: Clock,
            percent: float | None = None) -> Change:
    """promote-release onto a channel that does not offer the version yet (at `percent`, default 100%)."""
    check_promotable(current, channel, offer.version)
    rollout = FULL if percent is None else {"percent": percent, "halted": False}
    return Change("promote", _offer(channel, offer, current, clock, rollout))


def steer(current: Mapping[str, Any], clock: Clock, *, percent: float | None = None, halt: bool = False,
          force: bool = False) -> Change | None:
    """Change the rollout of the version a channel offers: a new percentage (which also resumes a halted rollout;
    lowering it needs `force`) or a halt (percent kept). None (or a refresh) when nothing changes."""
    rollout = dict(current["rollout"])
    if halt:
        if rollout.get("halted") is True:
            return refresh(current, clock)
        return Change("halt", _reissue(current, clock, rollout={**rollout, "halted": True}))
    if percent is None:
        return refresh(current, clock)
    if percent < rollout["percent"] and not force:
        raise BadInput(f"{current['channel']} already offers {current['version']} to {rollout['percent']}%: "
                       "lowering the rollout needs --force (or --halt)")
    if percent == rollout["percent"] and not rollout["halted"]:
        return refresh(current, clock)
    return Change("rollout", _reissue(current, clock, rollout={"percent": percent, "halted": False}))


def roll_back(current: Mapping[str, Any], offer: Offer, clock: Clock,
              rollout: Mapping[str, Any] | None = None) -> Change:
    """rollback-release: replace the offer of a bad version by an older release, `rollback_of` the bad one, so
    clients that installed it accept the downgrade (docs/update-client.md)."""
    bad = str(current["version"])
    if semver.parse(offer.version) >= semver.parse(bad):
        raise BadInput(f"cannot roll {bad} back to {offer.version}: not an older release")
    return Change("rollback", _offer(str(current["channel"]), offer, current, clock, rollout or FULL,
                                     rollback_of=bad))


def previous_rollout(history: Iterable[Mapping[str, Any]], channel: str, version: str) -> dict[str, Any] | None:
    """The rollout (percent, halted) CHANNEL last offered VERSION with, from channels/history.jsonl lines: what a
    rollback to VERSION offers again there (issue 13: a release that had reached 50% of stable goes back to 50%,
    not 100%). None when the channel never offered VERSION (or the line has no well-formed rollout)."""
    lines = [h for h in history if h.get("channel") == channel and h.get("version") == version
             and isinstance(h.get("manifest_number"), int)]
    if not lines:
        return None
    rollout = max(lines, key=lambda h: int(h["manifest_number"])).get("rollout")
    return {"percent": rollout["percent"], "halted": rollout["halted"]} if _rollout_or_full(rollout) is rollout \
        else None


def revert(current: Mapping[str, Any] | None, channel: str, offer: Offer, clock: Clock,
           rollout: Mapping[str, Any] | None) -> Change:
    """Offer again what a history entry offered (its version and rollout), `rollback_of` the current version when
    that goes back."""
    older = current is not None and semver.parse(offer.version) < semver.parse(current["version"])
    rollback_of = str(current["version"]) if current is not None and older else None
    return Change("revert", _offer(channel, offer, current, clock, _rollout_or_full(rollout),
                                   rollback_of=rollback_of))


def _rollout_or_full(rollout: object) -> Mapping[str, Any]:
    """A well-formed rollout as it is; anything else (an old history line without one) offers to everybody."""
    if isinstance(rollout, Mapping) and isinstance(rollout.get("halted"), bool) and \
            manifest.rollout_threshold({**rollout, "halted": False}) is not None:
        return rollout
    return FULL


def offers_fully(payload: Mapping[str, Any]) -> bool:
    """The manifest offers its version to everybody (stable at 100%, not halted: releases/latest follows it)."""
    rollout = payload.get("rollout") or {}
    return rollout.get("halted") is False and rollout.get("percent", 0) >= 100
