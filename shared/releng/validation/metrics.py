"""Release KPIs from tags, channel history and the rollback log: the body of the `releng/metrics` document.

Pure: `measure()` takes what `releng.validation.metric_sources` read and a clock, and returns the document body,
so every
number is tested on hand-built records as well as on real repositories. The rules behind each number (what a
hotfix is, where a time starts, how a summary aggregates) are in README.md under `release-metrics`; in short:

- time to release: a regular release's tag time minus its oldest commit not in the previous release (the first
  release has no previous one, so no value); summary: the median.
- hotfix: a patch release cut from a `hotfix/*` branch (or merged from one, or so named in its tag message), or
  tagged after a rollback of a release of the same major.minor line. Hotfix time runs from that rollback (else
  from the first fix commit after the bad release: the hotfix's oldest commit not in it; else that release's tag)
  to the hotfix first reaching stable in the channel history (else, without server records, its tag); summary:
  the median.
- rollback time: how long the bad release stayed out (issue 13; not the rollback command's own run time, kept as
  `duration_s`): from its first manifest on a channel (channel history) to the manifest that rolled it back there
  (else the rollback log's time), measured on the furthest channel in the channel order it was rolled back on
  (stable before beta before dev), each channel's figure kept in `rollback_times`; summary: the median.
- post-release bugs: fix commits that landed within the bug window after a release without being in it, each
  counted once, for the newest release out when it landed; summary: the mean.
- rollback rate: releases rolled back (log, `rollback_of` in the history, or quarantine) / releases, in percent.
- 7-day adoption: the newest release that was not rolled back, its share of the adoption snapshot.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from releng import semver, times
from releng.validation.metric_sources import Adoption, Fix, Release, Rollback, ServerRecords

DAY, HOUR = 86400, 3600


@dataclass(frozen=True)
class Kpi:
    id: str
    title: str
    op: str  # "<" or ">"
    target: float
    unit: str  # "s", "count", "percent"
    target_text: str
    aggregate: str


KPIS = (
    Kpi("time_to_release", "Time to release", "<", 28 * DAY, "s", "< 4 weeks", "median"),
    Kpi("hotfix_time", "Hotfix time", "<", 4 * HOUR, "s", "< 4 hours", "median"),
    Kpi("rollback_time", "Rollback time", "<", 1 * HOUR, "s", "< 1 hour", "median"),
    Kpi("post_release_bugs", "Post-release bugs", "<", 3, "count", "< 3 per release", "mean"),
    Kpi("rollback_rate", "Rollback rate", "<", 5, "percent", "< 5%", "rate"),
    Kpi("adoption_7d", "7-day adoption", ">", 50, "percent", "> 50%", "newest"),
)


def iso(ts: int | float | None) -> str | None:
    return None if ts is None else times.format_time(datetime.fromtimestamp(int(ts), UTC))


def meets(kpi: Kpi, value: float) -> bool:
    return value < kpi.target if kpi.op == "<" else value > kpi.target


def measure(releases: Sequence[Release], fixes: Mapping[str, Sequence[Fix]], server: ServerRecords | None,
            adoption: Adoption | None, *, now: int, since_days: int | None = None, bug_window_days: int = 14,
            repository: str = "", tag_prefix: str = "v", project: str | None = None) -> dict[str, Any]:
    """The metrics document's body (no schema stamp). `project`: the name the dashboard is titled with."""
    start = None if since_days is None else now - since_days * DAY
    rollbacks = sorted(server.rollbacks if server else (), key=lambda r: r.at)
    rolled_back = _rolled_back(server)
    bugs = _attribute_fixes(releases, fixes)
    channels = _channel_states(server)
    tag_at = {r.version: r.at for r in releases}
    rows = [_row(r, server, rollbacks, rolled_back, bugs.get(r.version, []), channels.get(r.version, {}),
                 previous_at=tag_at.get(r.previous or ""), now=now, window=bug_window_days * DAY,
                 on_stable=_first_on_stable(server, r.version))
            for r in releases if start is None or r.at >= start]
    events = [_rollback_row(r, server) for r in rollbacks if start is None or r.at >= start]
    newest = max((row for row in rows if not row["rolled_back"]), key=lambda row: _key(row["version"]),
                 default=None)
    if adoption is not None:
        total = sum(adoption.counts.values())
        for row in rows:
            row["adoption_percent"] = _round(100 * adoption.counts.get(row["version"], 0) / total) if total else None
    kpis = [_kpi(k, rows, events, server, adoption, newest) for k in KPIS]
    message = None
    if not releases:
        message = f"no releases yet: no {tag_prefix}<SemVer> release tag, nothing to measure"
    elif not rows:
        message = f"no release tagged in the last {since_days} days, nothing to measure"
    return {
        "generated_at": iso(now),
        "repository": repository,
        "project": project or None,
        "tag_prefix": tag_prefix,
        "since": iso(start),
        "bug_window_days": bug_window_days,
        "sources": {"server": server.name if server else None, "adoption": adoption.source if adoption else None,
                    "adoption_at": iso(adoption.at) if adoption else None},
        "channels": list(server.channels) if server else [],
        "releases": rows,
        "rollbacks": events,
        "summary": {
            "releases": len(rows), "hotfixes": sum(1 for r in rows if r["hotfix"]), "rollbacks": len(events),
            "newest": newest["version"] if newest else None, "message": message,
            "passed": sum(1 for k in kpis if k["status"] == "pass"),
            "failed": sum(1 for k in kpis if k["status"] == "fail"),
        },
        "kpis": kpis,
    }


def _key(version: str) -> tuple[object, ...]:
    return semver.parse(version).precedence_key()


def _round(x: float) -> float:
    return round(x, 2)


def _rolled_back(server: ServerRecords | None) -> set[str]:
    if server is None:
        return set()
    found = {r.from_version for r in server.rollbacks} | set(server.quarantined)
    found |= {c.rollback_of for c in server.history if c.rollback_of}
    return found


def _attribute_fixes(releases: Sequence[Release], fixes: Mapping[str, Sequence[Fix]]) -> dict[str, list[Fix]]:
    """Each fix once, for the newest release (by tag time) it followed without being in it."""
    at = {r.version: r.at for r in releases}
    owner: dict[str, tuple[int, str, Fix]] = {}
    for version, found in fixes.items():
        for fix in found:
            best = owner.get(fix.sha)
            if best is None or at.get(version, 0) > best[0]:
                owner[fix.sha] = (at.get(version, 0), version, fix)
    out: dict[str, list[Fix]] = {}
    for _, version, fix in sorted(owner.values(), key=lambda o: o[2].at):
        out.setdefault(version, []).append(fix)
    return out


def _channel_states(server: ServerRecords | None) -> dict[str, dict[str, dict[str, Any]]]:
    """version -> channel -> {first_at, state: current|superseded|rolled-back, percent, halted}, from the history."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if server is None:
        return out
    current: dict[str, str] = {}
    for c in server.history:
        if not semver.is_valid(c.version):
            continue
        was = current.get(c.channel)
        if was is not None and was != c.version:
            backwards = c.rollback_of == was or semver.parse(c.version) < semver.parse(was)
            out[was][c.channel]["state"] = "rolled-back" if backwards else "superseded"
        entry = out.setdefault(c.version, {}).setdefault(c.channel, {"first_at": iso(c.at), "percent": None,
                                                                     "halted": False})
        entry.update(state="current", halted=c.halted)
        if c.percent is not None:
            entry["percent"] = c.percent
        elif entry["percent"] is None:
            entry["percent"] = 100.0  # publish records carry no rollout: a published channel offers it to all
        current[c.channel] = c.version
    return out


def _state(version: str, server: ServerRecords | None, rolled_back: set[str],
           channels: Mapping[str, Mapping[str, Any]]) -> str | None:
    if server is None:
        return None
    if version in rolled_back:
        return "rolled-back"
    stable = channels.get(server.channels[-1]) if server.channels else None
    if stable is not None and stable["state"] == "current":
        if stable["halted"]:
            return "halted"
        return "live" if (stable["percent"] or 0) >= 100 else "rolling-out"
    if server.latest == version:
        return "live"  # releases/latest: what every client outside a newer staged rollout runs
    states = {c["state"] for c in channels.values()}
    if "superseded" in states and (stable is not None or "current" not in states):
        return "superseded"
    if "current" in states:
        return "testing"
    return "published" if version in server.published else "unpublished"


def _first_on_stable(server: ServerRecords | None, version: str) -> int | None:
    """When VERSION's first manifest on stable (the last channel) was written; None without such a record."""
    if server is None or not server.channels:
        return None
    return min((c.at for c in server.history if c.channel == server.channels[-1] and c.version == version),
               default=None)


def _row(r: Release, server: ServerRecords | None, rollbacks: Sequence[Rollback], rolled_back: set[str],
         bugs: Sequence[Fix], channels: dict[str, dict[str, Any]], *, previous_at: int | None, now: int,
         window: int, on_stable: int | None = None) -> dict[str, Any]:
    v = semver.parse(r.version)
    # a rollback of this X.Y line since the previous release (an older one was answered by an older hotfix)
    same_line = [b for b in rollbacks if (previous_at or 0) <= b.at <= r.at and semver.is_valid(b.from_version)
                 and (p := semver.parse(b.from_version)).major == v.major and p.minor == v.minor and p < v]
    signals = list(r.hotfix_signals)
    if v.patch > 0 and same_line:
        signals.append(f"after the rollback of {same_line[-1].from_version}")
    hotfix = v.patch > 0 and bool(signals)
    hotfix_time = hotfix_from = hotfix_to = None
    if hotfix:
        end, hotfix_to = (on_stable, "stable") if on_stable is not None else (r.at, "tag")
        if same_line:
            hotfix_time, hotfix_from = end - same_line[-1].at, "rollback"
        elif r.first_commit_at is not None and r.previous is not None:
            hotfix_time, hotfix_from = end - r.first_commit_at, "first-fix"
        elif previous_at is not None:
            hotfix_time, hotfix_from = end - previous_at, "release"
        if hotfix_time is None:
            hotfix_to = None
    ttr = r.at - r.first_commit_at if r.previous is not None and r.first_commit_at is not None else None
    first_publish = min((c["first_at"] for c in channels.values()), default=None)
    return {
        "version": r.version, "tag": r.tag, "tagged_at": iso(r.at), "annotated": r.annotated, "title": r.title,
        "commit": r.commit, "previous": r.previous, "commits": r.commits,
        "first_commit_at": iso(r.first_commit_at), "time_to_release_s": None if ttr is None else max(0, ttr),
        "hotfix": hotfix, "hotfix_signals": signals if hotfix else [],
        "hotfix_time_s": None if hotfix_time is None else max(0, hotfix_time), "hotfix_from": hotfix_from,
        "hotfix_to": hotfix_to,
        "post_release_bugs": len(bugs), "bug_window_open": now < r.at + window,
        "fixes": [{"sha": f.sha, "committed_at": iso(f.at), "subject": f.subject} for f in bugs],
        "first_published_at": first_publish, "channels": channels,
        "state": _state(r.version, server, rolled_back, channels),
        "rolled_back": r.version in rolled_back, "latest": server is not None and server.latest == r.version,
        "adoption_percent": None,
    }


def _rollback_row(r: Rollback, server: ServerRecords | None) -> dict[str, Any]:
    """One rollback; its time is how long the bad release was out on each channel (module doc), from records."""
    history = server.history if server else ()
    order = list(server.channels) if server else []
    undone = {c.channel: c.at for c in reversed(history) if c.rollback_of == r.from_version and c.at >= r.at}
    times_on: dict[str, float] = {}
    for channel in r.channels or tuple(undone):
        first = min((c.at for c in history if c.channel == channel and c.version == r.from_version
                     and c.at <= undone.get(channel, r.at)), default=None)
        if first is not None:
            times_on[channel] = float(max(0, undone.get(channel, r.at) - first))
    furthest = max(times_on, key=lambda c: order.index(c) if c in order else -1, default=None)
    published = [c.at for c in history if c.version == r.from_version and c.at <= r.at]
    return {
        "at": iso(r.at), "from": r.from_version, "to": r.to_version, "reason": r.reason, "who": r.who,
        "channels": list(r.channels), "duration_s": r.duration_s,
        "rollback_time_s": times_on[furthest] if furthest else None,
        "measured_from": "first-offer" if furthest else None, "measured_on": furthest, "rollback_times": times_on,
        "exposure_s": r.at - min(published) if published else None,
    }


def _kpi(k: Kpi, rows: list[dict[str, Any]], events: list[dict[str, Any]], server: ServerRecords | None,
         adoption: Adoption | None, newest: dict[str, Any] | None) -> dict[str, Any]:
    values: list[float] = []
    value: float | None = None
    detail = ""
    if k.id == "time_to_release":
        values = [r["time_to_release_s"] for r in rows if not r["hotfix"] and r["time_to_release_s"] is not None]
        detail = "regular releases after the first" if values else "no regular release after the first yet"
    elif k.id == "hotfix_time":
        values = [r["hotfix_time_s"] for r in rows if r["hotfix_time_s"] is not None]
        detail = "hotfix releases" if values else "no hotfix release"
    elif k.id == "rollback_time":
        values = [e["rollback_time_s"] for e in events if e["rollback_time_s"] is not None]
        detail = ("rollbacks" if values else "no rollback server given" if server is None
                  else "rollbacks without a channel history of the version" if events else "no rollback")
    elif k.id == "post_release_bugs":
        values = [r["post_release_bugs"] for r in rows]
        open_ = sum(1 for r in rows if r["bug_window_open"])
        detail = (f"{open_} release(s) still inside the bug window" if open_ else "releases") if rows \
            else "no release yet"
    elif k.id == "rollback_rate":
        if server is None:
            detail = "needs the update server's records (--server-root or --servers)"
        elif rows:
            value = _round(100 * sum(1 for r in rows if r["rolled_back"]) / len(rows))
            detail = f"{sum(1 for r in rows if r['rolled_back'])} of {len(rows)} releases rolled back"
    elif k.id == "adoption_7d":
        if adoption is None:
            detail = "needs an adoption snapshot (--adoption FILE)"
        elif newest is not None and newest["adoption_percent"] is not None:
            value = newest["adoption_percent"]
            detail = f"share of {newest['version']} in the snapshot"
            if adoption.at is not None:
                tagged = datetime.fromisoformat(newest["tagged_at"]).timestamp()
                detail += f", taken {(adoption.at - tagged) / DAY:.1f} days after its tag"
        else:
            detail = "no sessions in the snapshot" if newest is not None else "no release to measure"
    if values:
        value = _round(statistics.median(values) if k.aggregate == "median" else statistics.fmean(values))
    status = "no-data" if value is None else ("pass" if meets(k, value) else "fail")
    return {
        "id": k.id, "title": k.title, "unit": k.unit, "aggregate": k.aggregate,
        "target": {"op": k.op, "value": k.target, "text": k.target_text},
        "value": value, "status": status, "measured": len(values) if values else (0 if value is None else 1),
        "met": sum(1 for x in values if meets(k, x)) if values else (None if value is None else int(meets(k, value))),
        "detail": detail,
    }


def duration_text(seconds: float) -> str:
    """A duration for people: seconds, minutes, hours or days, whichever reads best."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


def value_text(unit: str, value: float | None) -> str:
    if value is None:
        return "–"
    if unit == "s":
        return duration_text(value)
    if unit == "percent":
        return f"{value:.1f}%"
    return f"{value:.2f}".rstrip("0").rstrip(".")
