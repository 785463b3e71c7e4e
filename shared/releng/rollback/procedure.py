"""Rolling a release back on every update server, in an order no reader can notice
(docs/rollback-runbook.md; docs/security-properties.md #31-#34).

Per server, under `channels/.lock`: (1) each channel manifest offering VERSION is replaced (one rename) by one offering
the previous good release, number + 1, `rollback_of: VERSION`, and channels/history.jsonl gets the change;
(2) `releases/latest`, if it points at VERSION, is switched (a new symlink renamed over it); (3) only then is
`releases/VERSION` renamed to `quarantine/VERSION-<utc stamp>/`. Once: CDN purge, GitHub mark, message
(releng.rollback.notify). Last, one line per rollback in each server's `rollback_log.jsonl`. A failed step leaves
the line
"partial"; a rerun finds it by version, does only what is missing (a lagging server gets the same manifest bytes)
and rewrites that line (same id). rollback_release.py's docstring is the user's view; docs/update-server.md the layout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from releng import names, semver, times
from releng.errors import BadInput, ExternalError, RelengError
from releng.rollback import follow_up, notify
from releng.server import cdn, channel_store, channels, github, layout
from releng.server.channel_store import Channel
from releng.server.connect import open_server
from releng.server.layout import CHANNELS, QUARANTINE, RELEASES, ROLLBACK_LOG
from releng.server.transport import Transport, lock, mkdirs, network_error
from releng.signing import SigningKey

CHECKLIST = "rollback/rollback_checklist.md"
TRIGGERS = ("manual", "watch-health")
Say = Callable[[str], None]


@dataclass
class Server:
    name: str
    t: Transport | None
    error: str | None = None
    changes: list[str] = field(default_factory=list)
    quarantine: str | None = None


@contextmanager
def _failing(s: Server, what: str = "") -> Iterator[None]:
    """A server or network failure marks the server failed (the report names it; a rerun finishes); a bug raises."""
    try:
        yield
    except Exception as e:
        if not (isinstance(e, RelengError) or network_error(e)):
            raise
        s.error = f"{what}{type(e).__name__ + ': ' if not isinstance(e, RelengError) else ''}{e}"


@contextmanager
def connected(cfg: Mapping[str, Any]) -> Iterator[list[Server]]:
    """Every enabled server, connected when it can be (an unreachable one keeps its error); closed on exit (inside
    releng.server.pool.reusing(), an open connection is reused and stays open for the next step)."""
    specs = [spec for spec in cfg["servers"] if spec.get("enabled", True)]
    servers = [Server(spec["name"], None) for spec in specs]
    for s, spec in zip(servers, specs, strict=True):
        with _failing(s, "cannot connect: "):
            s.t = open_server(spec, create=False)  # a rollback never creates a server root
    if not servers:  # load_config refuses an empty list; all of them disabled is possible
        raise BadInput("no enabled server in the config")
    try:
        yield servers
    finally:
        for s in servers:
            if s.t is not None:
                s.t.close()


def _up(servers: Sequence[Server]) -> list[tuple[Server, Transport]]:
    up = [(s, s.t) for s in servers if s.t is not None and s.error is None]
    if not up:
        raise ExternalError("no server can be reached: " + "; ".join(f"{s.name}: {s.error}" for s in servers))
    return up


def was_rolled_back(cfg: Mapping[str, Any], version: str) -> bool:
    """Whether VERSION has a rollback_log.jsonl line or a quarantine folder on any reachable server."""
    names.check_version(version)
    with connected(cfg) as servers:
        return any(any(e.get("from") == version for e in layout.read_jsonl(t, ROLLBACK_LOG))
                   or layout.quarantined(t, version) for _, t in _up(servers))


@contextmanager
def _locked(up: list[tuple[Server, Transport]], take: bool = True) -> Iterator[list[tuple[Server, Transport]]]:
    """channels/.lock on each reachable server (config order); a server that fails here is marked failed.
    `take=False` (dry runs) holds nothing and creates nothing."""
    if not take:
        yield up
        return
    with ExitStack() as stack:
        held = []
        for s, t in up:
            with _failing(s):
                mkdirs(t, CHANNELS)
                stack.enter_context(lock(t, f"{CHANNELS}/.lock"))
                held.append((s, t))
        yield held


def _copies(held: Sequence[tuple[Server, Transport]], channel: str, trusted: Mapping[str, bytes]) -> list[Channel]:
    return channel_store.read_all([t for _, t in held], channel, trusted)


def _offer(cfg: Mapping[str, Any], held: Sequence[tuple[Server, Transport]], version: str,
           trusted: Mapping[str, bytes]) -> channels.Offer:
    """The release facts of releases/<version>/, verified on every server first (nothing is signed unverified)."""
    return channel_store.verified_offer([t for _, t in held], version, trusted, cfg["manifest"])


Target = tuple[str, dict[str, Any], bytes]  # (history action, payload, signed envelope)


def _write_channels(s: Server, t: Transport, targets: Mapping[str, Target], trusted: Mapping[str, bytes], who: str,
                    dry: bool, say: Say, reason: str | None = None) -> None:
    for channel, (action, payload, envelope) in targets.items():
        if not channel_store.needs_write(t, channel, envelope, trusted):
            continue
        change = channel_store.describe(channel, payload)
        s.changes.append(change)
        say(f"{'would write' if dry else 'write'} {change} on {s.name}")
        if not dry:
            channel_store.write(t, channel, envelope, channel_store.record(action, payload, envelope, who, reason))


def _target(change: channels.Change | None, top: Channel, key: SigningKey) -> Target:
    """A decided change signed, or (no change) the newest copy as it is, for the mirrors that lag."""
    if change is not None:
        return change.action, change.payload, channel_store.sign(change, key)
    assert top.payload is not None and top.envelope is not None
    return "sync", top.payload, top.envelope


def halt(cfg: dict[str, Any], version: str, key: SigningKey, *, dry_run: bool = False,
         who: str | None = None) -> list[str]:
    """Halt the rollout of VERSION on every channel that offers it (signed, number + 1, history "halt")."""
    names.check_version(version)
    trusted = channel_store.trusted_keys(key, cfg["manifest"])
    with connected(cfg) as servers, _locked(_up(servers), take=not dry_run) as held:
        targets: dict[str, Target] = {}
        clock = channel_store.clock(cfg["manifest"])
        for channel in cfg["channels"]:
            top = channel_store.best(_copies(held, channel, trusted))
            if top is None or top.payload is None or top.payload["version"] != version:
                continue
            targets[channel] = _target(channels.steer(top.payload, clock, halt=True), top, key)
        for s, t in held:
            _write_channels(s, t, targets, trusted, who or names.actor(), dry_run, lambda _m: None)
        return [c for c, (action, _, _) in targets.items() if action == "halt"]


def revert(cfg: dict[str, Any], channel: str, number: int, key: SigningKey, reason: str, *, dry_run: bool = False,
           who: str | None = None, say: Say | None = None) -> dict[str, Any]:
    """Offer again what channels/history.jsonl entry NUMBER of CHANNEL offered (docs/security-properties.md #34):
    its version and rollout, rebuilt from releases/<version>/, re-signed with the next number (`rollback_of` the
    current version when going back). The latest symlink follows on the last channel at 100%. A summary dict;
    BadInput if refused."""
    names.check_channel(channel)
    trusted, say = channel_store.trusted_keys(key, cfg["manifest"]), say or (lambda _m: None)
    with connected(cfg) as servers, _locked(_up(servers), take=not dry_run) as held:
        entry = next((h for _, t in held for h in layout.read_jsonl(t, layout.HISTORY)
                      if h.get("channel") == channel and h.get("manifest_number") == number), None)
        if entry is None:
            raise BadInput(f"{layout.HISTORY} has no entry {number} for {channel}")
        version = names.check_version(entry.get("version"))
        if any(not (st := t.stat(layout.release_dir(version))) or not st.is_dir for _, t in held):
            raise BadInput(f"{version} is not in {RELEASES}/ on every server (rolled back? publish a fix instead)")
        current = channel_store.current(_copies(held, channel, trusted))
        change = channels.revert(current, channel, _offer(cfg, held, version, trusted),
                                 channel_store.clock(cfg["manifest"]), entry.get("rollout"))
        payload, envelope = change.payload, channel_store.sign(change, key)
        full = channel == cfg["channels"][-1] and channels.offers_fully(payload)
        for s, t in held:
            _write_channels(s, t, {channel: ("revert", payload, envelope)}, trusted, who or names.actor(), dry_run, say,
                            f"revert to {number}: {reason}")
            if full and t.readlink(f"{RELEASES}/latest") != version:
                s.changes.append(f"{RELEASES}/latest -> {version}")
                if not dry_run:
                    layout.point_latest(t, version)
        return {"channel": channel, "reverted_to": number, "version": version, "dry_run": dry_run,
                "manifest_number": payload["manifest_number"], "rollback_of": payload.get("rollback_of"),
                "servers": [{"name": s.name, "error": s.error, "changes": s.changes} for s in servers]}


@dataclass
class Plan:
    id: str
    to: str
    targets: dict[str, tuple[str, dict[str, Any], bytes | None]]  # channel -> (action, payload, envelope)
    move_latest: bool
    quarantine: bool
    pending: dict[str, Any] | None
    taken: list[str] = field(default_factory=list)  # versions a hotfix must not reuse (notify.hotfix_version)
    rollouts: dict[str, str] = field(default_factory=dict)  # channel -> where its re-offered rollout comes from


def _plan(cfg: Mapping[str, Any], held: list[tuple[Server, Transport]], version: str, channel: str | None,
          trusted: Mapping[str, bytes], started: datetime, halted_first: Sequence[str] = ()) -> Plan:
    """What this run has to do; BadInput (before any change) when the rollback is refused."""
    logs = [e for _, t in held for e in layout.read_jsonl(t, ROLLBACK_LOG)]
    pending = max((e for e in logs if e.get("from") == version and e.get("status") == "partial"),
                  key=lambda e: str(e.get("at")), default=None)
    scope = [channel] if channel else list(cfg["channels"])
    stable = cfg["channels"][-1]
    current = {c: _copies(held, c, trusted) for c in scope}
    offered, synced = [], {}
    for c, cur in current.items():
        best = channel_store.best(cur)
        if best is None or best.payload is None:
            continue
        if best.payload["version"] == version:
            offered.append(c)
        elif best.payload.get("rollback_of") == version and (pending or any(x.envelope != best.envelope
                                                                            for x in cur)):
            synced[c] = best
    if channel and channel not in offered and channel not in synced:
        raise BadInput(f"{channel} does not offer {version}: nothing to roll back there")
    full = channel is None or channel == stable
    move_latest = full and any(t.readlink(f"{RELEASES}/latest") == version for _, t in held) or bool(
        pending and pending.get("latest"))  # a rerun purges what the first run moved
    present = [t for _, t in held if (st := t.lstat(layout.release_dir(version))) and st.is_dir]
    if channel is None:
        quarantine = bool(present)
    else:  # one channel: quarantine only when no channel (nor latest) offers VERSION any more
        others = [c for c in cfg["channels"] if c != channel]
        still = any((p := channel_store.current(_copies(held, c, trusted))) is not None and p["version"] == version
                    for c in others)
        latest_left = not full and any(t.readlink(f"{RELEASES}/latest") == version for _, t in held)
        quarantine = bool(present) and not still and not latest_left
    if not (offered or synced or move_latest or quarantine or pending):
        if any(layout.quarantined(t, version) for _, t in held):
            raise BadInput(f"{version} is already rolled back (in {QUARANTINE}/, and no channel offers it)")
        raise BadInput(f"{version} is not published on any reachable server (nothing to roll back)")
    to = str(pending["to"]) if pending else next((str(b.payload["version"]) for b in synced.values() if b.payload),
                                                 None)
    if to is None:
        to = previous_good(held, version, logs, no_prerelease=move_latest or stable in offered)
    targets: dict[str, tuple[str, dict[str, Any], bytes | None]] = {
        c: ("sync", b.payload, b.envelope) for c, b in synced.items() if b.payload}
    clock, offer = channel_store.clock(cfg["manifest"]), _offer(cfg, held, to, trusted) if offered else None
    history = [h for _, t in held for h in layout.read_jsonl(t, layout.HISTORY)]
    rollouts: dict[str, str] = {}
    for c in offered:  # the channel's own earlier rollout of TO (percent, halted), not 100% (issue 13)
        top = channel_store.current(current[c])
        assert top is not None and offer is not None
        if c in halted_first:  # a dry run after halt(dry_run=True): the real halt takes a number first
            top = {**top, "manifest_number": int(top["manifest_number"]) + 1}
        earlier = channels.previous_rollout(history, c, to)
        rollouts[c] = f"its rollout on {c} before {version}" if earlier else f"{c} never offered {to}: everybody"
        targets[c] = ("rollback", channels.roll_back(top, offer, clock, earlier).payload, None)
    rid = str(pending["id"]) if pending else f"{version}-{started:%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"
    taken = follow_up.taken([t for _, t in held], version, logs)
    return Plan(rid, to, targets, move_latest, quarantine, pending, taken, rollouts)


def previous_good(held: Sequence[tuple[Server, Transport]], version: str, logs: Sequence[Mapping[str, Any]], *,
                  no_prerelease: bool) -> str:
    """The newest release on every server lower than VERSION and never rolled back; BadInput when there is none."""
    bad, top = {str(e.get("from")) for e in logs}, semver.parse(version)
    everywhere = set.intersection(*(set(layout.released_versions(t)) for _, t in held))
    fit = [v for v in map(semver.parse, everywhere - bad) if v < top and not (no_prerelease and v.is_prerelease)]
    if not fit:
        raise BadInput(f"nothing to fall back to: no release older than {version} that was not rolled back is on "
                       "every server")
    return str(max(fit))


def rollback(cfg: dict[str, Any], version: str, reason: str, key: SigningKey, *, channel: str | None = None,
             dry_run: bool = False, trigger: str = "manual", figures: Mapping[str, Any] | None = None,
             who: str | None = None, say: Say | None = None, halted_first: Sequence[str] = ()) -> dict[str, Any]:
    """Roll VERSION back on every configured server; the body of the `releng/rollback` document (module doc).
    `halted_first`: with dry_run, the channels a dry halt() just said it would halt, so the manifest numbers
    predicted are those the real run writes (halt, then rollback: two numbers)."""
    names.check_version(version)
    if channel is not None and names.check_channel(channel) not in cfg["channels"]:
        raise BadInput(f"--channel must be one of {', '.join(cfg['channels'])}, found {channel!r}")
    if not reason.strip() or trigger not in TRIGGERS:
        raise BadInput(f"a rollback needs a --reason and a trigger in {', '.join(TRIGGERS)}")
    say, who = say or (lambda _m: None), who or names.actor()
    purger, gh, notifier = cdn.from_config(cfg), github.from_config(cfg), notify.from_config(cfg)  # checked first
    trusted = channel_store.trusted_keys(key, cfg["manifest"])
    t_start, started = time.monotonic(), times.utc_now()
    with connected(cfg) as servers:  # an unreachable server is named in the body (and by the script) at the end
        with _locked(_up(servers), take=not dry_run) as held:
            plan = _plan(cfg, _up([s for s, _ in held]), version, channel, trusted, started,
                         halted_first if dry_run else ())
            targets = {c: (a, p, e if e is not None else channel_store.sign(channels.Change(a, p), key))
                       for c, (a, p, e) in plan.targets.items()}
            for c, note in sorted(plan.rollouts.items()):
                say(f"{c}: {'would offer' if dry_run else 'offer'} {plan.to} to "
                    f"{follow_up.rollout_text(plan.targets[c][1]['rollout'])} ({note})")
            for s, t in held:
                with _failing(s):
                    _server_steps(s, t, plan, targets, trusted, version, who, started, dry_run, say)
                if s.error:
                    say(f"{s.name} failed: {s.error}")
        steps = _global_steps(cfg, servers, plan, version, reason, who, purger, gh, notifier, dry_run, say)
        body = _body(cfg, servers, plan, version, reason, trigger, figures, who, started, steps, targets, dry_run,
                     channel)
        body["duration_s"] = round(time.monotonic() - t_start, 3)
        if not dry_run:
            _write_log(servers, body, plan)
    return body


def _server_steps(s: Server, t: Transport, plan: Plan, targets: Mapping[str, tuple[str, dict[str, Any], bytes]],
                  trusted: Mapping[str, bytes], version: str, who: str, started: datetime, dry: bool,
                  say: Say) -> None:
    _write_channels(s, t, targets, trusted, who, dry, say)  # 1. nobody is offered VERSION any more
    if plan.move_latest and t.readlink(f"{RELEASES}/latest") == version:  # 2. latest moves off it
        s.changes.append(f"{RELEASES}/latest -> {plan.to}")
        say(f"{'would point' if dry else 'point'} {RELEASES}/latest at {plan.to} on {s.name}")
        if not dry:
            layout.point_latest(t, plan.to)
    folder = layout.release_dir(version)
    st = t.lstat(folder)
    if plan.quarantine and st is not None and st.is_dir:  # 3. only then does the folder move
        dest, n = f"{QUARANTINE}/{version}-{started:%Y%m%dT%H%M%SZ}", 1
        while t.lstat(dest if n == 1 else f"{dest}.{n}") is not None:  # the same second: .2, .3, ...
            n += 1
        dest = dest if n == 1 else f"{dest}.{n}"
        s.changes.append(f"{folder} -> {dest}/")
        say(f"{'would move' if dry else 'move'} {folder} to {dest}/ on {s.name}")
        if not dry:
            mkdirs(t, QUARANTINE)
            t.rename_noreplace(folder, dest)
        s.quarantine = dest


def _global_steps(cfg: Mapping[str, Any], servers: Sequence[Server], plan: Plan, version: str, reason: str, who: str,
                  purger: cdn.Purger | None, gh: github.GitHub | None, notifier: notify.Notifier | None, dry: bool,
                  say: Say) -> dict[str, dict[str, Any]]:
    """CDN purge (mutable URLs only, after every swap), GitHub mark and message: releng.rollback.notify.announce."""
    up = [t for s in servers if (t := s.t) is not None and s.error is None]
    base = cdn.base_url(cfg, up[0].url("").rstrip("/")) if up else ""
    urls = [f"{base}/{CHANNELS}/{c}.json" for c in plan.targets]
    if plan.move_latest and up:
        urls += [f"{base}/{RELEASES}/latest", f"{base}/{RELEASES}/latest/"] + [f"{base}/{RELEASES}/latest/{n}"
                                                  for n in up[0].listdir(layout.release_dir(plan.to))]
    prefix = (cfg.get("github") or {}).get("tag_prefix", "v")
    news = notify.News(version=version, to=plan.to, reason=reason, who=who, tag=f"{prefix}{version}",
                       channels=sorted(plan.targets), hotfix=notify.hotfix_command(plan.to, prefix, plan.taken),
                       checklist=CHECKLIST)
    return notify.announce(news, urls, purger=purger, gh=gh, notifier=notifier,
                           earlier=(plan.pending or {}).get("steps", {}), purge_again=any(s.changes for s in servers),
                           dry=dry, say=say)


def _body(cfg: Mapping[str, Any], servers: Sequence[Server], plan: Plan, version: str, reason: str, trigger: str,
          figures: Mapping[str, Any] | None, who: str, started: datetime, steps: dict[str, dict[str, Any]],
          targets: Mapping[str, tuple[str, dict[str, Any], bytes]], dry: bool, channel: str | None) -> dict[str, Any]:
    earlier = dict((plan.pending or {}).get("servers") or {})
    # A server done in an earlier run and unreachable now is still done: its files do not change while it is down.
    done = {s.name: not s.error or (s.t is None and earlier.get(s.name, {}).get("status") == "done")
            for s in servers}
    failed = [n for n, ok in done.items() if not ok] + [n for n, r in steps.items() if r["status"] == "failed"]
    status = "dry-run" if dry else "partial" if failed else "complete"
    prefix = (cfg.get("github") or {}).get("tag_prefix", "v")
    return {
        "id": plan.id, "version": version, "to": plan.to, "scope": channel or "all", "channels": sorted(targets),
        "reason": reason, "trigger": trigger, "who": who, "started_at": times.format_time(started),
        "first_started_at": (plan.pending or {}).get("at") or times.format_time(started), "dry_run": dry,
        "status": status, "failed": failed, "figures": dict(figures or {}),
        "manifests": [{"channel": c, "action": a, "version": p["version"], "manifest_number": p["manifest_number"],
                       "rollout": {"percent": p["rollout"]["percent"], "halted": p["rollout"]["halted"]},
                       **({"rollout_from": plan.rollouts[c]} if c in plan.rollouts else {})}
                      for c, (a, p, _) in sorted(targets.items())],
        "latest": plan.to if plan.move_latest else None,
        "servers": [{"name": s.name, "status": "done" if done[s.name] else "failed", "error": s.error,
                     "changes": s.changes, "quarantine": s.quarantine or earlier.get(s.name, {}).get("quarantine")}
                    for s in servers],
        "steps": steps,
        "follow_up": {"hotfix": notify.hotfix_command(plan.to, prefix, plan.taken), "checklist": CHECKLIST,
                      "yank": follow_up.yank_hint(cfg, version)},
    }


def _write_log(servers: Sequence[Server], body: Mapping[str, Any], plan: Plan) -> None:
    """One line per rollback on every server that is done (rewritten in place by a rerun: never a duplicate)."""
    line = {k: body[k] for k in ("id", "who", "reason", "to", "channels", "trigger", "duration_s", "status", "figures",
                                 "latest")}
    line.update({"at": body["first_started_at"], "from": body["version"], "last_run_at": body["started_at"],
                 "servers": {s["name"]: {k: s[k] for k in ("status", "error", "quarantine")} for s in body["servers"]},
                 "steps": {n: {"status": "done" if r["status"] == "done-earlier" else r["status"]}
                           for n, r in body["steps"].items()}})
    for s in servers:
        if s.t is not None and not s.error:
            with _failing(s, f"cannot write {ROLLBACK_LOG}: "), lock(s.t, f"{CHANNELS}/.lock"):
                layout.upsert_jsonl(s.t, ROLLBACK_LOG, "id", line)
