"""promote-release's decision and its application: move a published release along the channels, steer its rollout.

`plan` reads every server (the release folder, the target and previous channels' manifests) and asks
`releng.server.channels` for the transition; it refuses (BadInput) before any lock is taken, and again under the
locks. `apply` signs the decided payload once, writes it where a server's copy differs (a lagging mirror gets the
same bytes), moves `releases/latest` when stable offers the version to everybody, and purges the CDN after every
swap. `--dry-run` runs the same two functions with `dry=True`: they read and never write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from releng import signing
from releng.errors import BadInput
from releng.server import cdn, channel_store, channels, layout
from releng.server.channel_store import Channel
from releng.server.transport import Transport

Say = Callable[[str, int], None]  # (message, verbosity level: 1 shows only with -v, -1 even with -q)
Servers = Sequence[tuple[str, Transport]]


@dataclass(frozen=True, kw_only=True)
class Request:
    version: str
    channel: str
    percent: float | None = None
    halt: bool = False
    hotfix: bool = False
    force: bool = False


@dataclass(frozen=True)
class Decision:
    action: str  # promote | rollout | halt | refresh | unchanged
    change: channels.Change | None  # None: nothing to sign (the newest copy is synced to lagging mirrors)
    copies: list[Channel]  # the target channel's manifest on each server, in config order


def parse_percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"--rollout must be a number 1..100, found {text!r}") from None
    if not 1 <= value <= 100:
        raise BadInput(f"--rollout must be 1..100, found {text}")
    return int(value) if value.is_integer() else value


def plan(cfg: Mapping[str, Any], servers: Servers, trusted: Mapping[str, bytes], req: Request) -> Decision:
    """What promoting means now, read from every server; BadInput when it is refused."""
    transports = [t for _, t in servers]
    for name, t in servers:
        st = t.stat(layout.release_dir(req.version))
        if st is None or not st.is_dir:
            raise BadInput(f"{req.version} is not published on {name} (publish-release first)")
    copies = channel_store.read_all(transports, req.channel, trusted)
    current = channel_store.current(copies)
    clock = channel_store.clock(cfg["manifest"])
    if current is not None and current["version"] == req.version:
        change = channels.steer(current, clock, percent=req.percent, halt=req.halt, force=req.force)
        return Decision(change.action if change else "unchanged", change, copies)
    if req.halt:
        raise BadInput(f"{req.channel} does not offer {req.version}: nothing to halt")
    channels.check_promotable(current, req.channel, req.version)
    chain = cfg["channels"]
    previous = chain[chain.index(req.channel) - 1]
    if not req.hotfix:
        prev = [c.payload for c in channel_store.read_all(transports, previous, trusted)]
        if any(p is None or p["version"] != req.version for p in prev):
            raise BadInput(f"{req.version} is not offered on {previous} (on every server): promote it there "
                           "first, or use --hotfix to skip")
    offer = channel_store.verified_offer(transports, req.version, trusted, cfg["manifest"])
    return Decision("promote", channels.promote(current, req.channel, offer, clock, req.percent), copies)


def apply(cfg: Mapping[str, Any], servers: Servers, key: signing.SigningKey, req: Request, decision: Decision,
          purger: cdn.Purger | None, who: str, *, dry: bool, say: Say) -> dict[str, Any]:
    """Sign and write the decided manifest on every server whose copy differs, move releases/latest, purge the CDN;
    the result body (promote-release's --json)."""
    top = channel_store.best(decision.copies)
    if decision.change is not None:
        envelope, final = channel_store.sign(decision.change, key), decision.change.payload
    else:
        assert top is not None and top.envelope is not None and top.payload is not None
        envelope, final = top.envelope, top.payload
    action = decision.change.action if decision.change is not None else "sync"
    entry = channel_store.record(action, final, envelope, who)
    rel = channel_store.manifest_path(req.channel)
    full = req.channel == "stable" and channels.offers_fully(final)
    report: list[dict[str, Any]] = []
    moved = False
    for (name, t), copy in zip(servers, decision.copies, strict=True):
        changes = []
        if copy.envelope != envelope:
            changes.append(f"write {rel} (manifest_number {final['manifest_number']}) and append to {layout.HISTORY}")
        latest = full and t.readlink(f"{layout.RELEASES}/latest") != req.version
        if latest:
            changes.append(f"point {layout.RELEASES}/latest at {req.version}")
        for change in changes:
            say(f"{'would ' if dry else ''}{change} on {name}", -1 if dry else 1)
        if not dry:
            if copy.envelope != envelope:
                channel_store.write(t, req.channel, envelope, entry)
            if latest:
                layout.point_latest(t, req.version)
                moved = True
        report.append({"name": name, "changes": changes})
    base = cdn.base_url(cfg, servers[0][1].url("").rstrip("/"))
    urls = [f"{base}/{rel}"] + (latest_urls(servers[0][1], base, req.version) if full else [])
    purged: list[str] = []
    purge_error = None
    if purger is not None:
        if dry:
            say(f"would purge {len(urls)} CDN URLs: {' '.join(urls)}", -1)
        else:
            try:
                purged = purger.purge(urls)  # after the swap on every server; a rerun purges again
            except cdn.CdnError as e:
                purge_error = str(e)
    return {"version": req.version, "channel": req.channel, "action": decision.action, "dry_run": dry,
            "manifest_number": final["manifest_number"], "rollout": final["rollout"],
            "latest": req.version if (moved or (full and not dry)) else None, "servers": report, "purged": purged,
            "purge_error": purge_error}


def latest_urls(t: Transport, base: str, version: str) -> list[str]:
    """The cache keys that change when releases/latest moves: the folder and every file under it."""
    names = t.listdir(layout.release_dir(version))
    return [f"{base}/releases/latest", f"{base}/releases/latest/"] + [f"{base}/releases/latest/{n}" for n in names]
