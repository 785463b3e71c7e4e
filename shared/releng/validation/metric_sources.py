"""What release-metrics reads: release tags from git, the update server's records, an adoption snapshot.

Readers only: nothing here writes. Each returns plain frozen records that `releng.validation.metrics` turns into KPIs,
so
the computation is tested without a repository or a server. The server's logs are read tolerantly (unknown fields
and actions are ignored: other tools add to them), but a line that is not a JSON object, or a record without the
few fields a KPI needs, is refused with BadInput naming the file and line: a wrong number is worse than none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from releng import commits, documents, git, semver
from releng.errors import BadInput
from releng.server.layout import HISTORY
from releng.server.transport import Transport

ROLLBACK_LOG = "rollback_log.jsonl"  # at the server root (DESIGN.md), one line per rollback (rollback-release)
_HOTFIX_REF = re.compile(r"(?:^|/)hotfix/")
_VERSION_IN_NAME = re.compile(r"\d+\.\d+\.\d+")
_LOG_LIMIT = 64 << 20


@dataclass(frozen=True)
class Release:
    """A final (non-prerelease) release tag and the commits that went into it."""

    tag: str
    version: str
    at: int  # tagger date (annotated) or committer date (lightweight), Unix seconds
    commit: str
    annotated: bool
    title: str  # the tag message's subject, or the commit's: untrusted text
    previous: str | None  # the next lower final release
    commits: int  # commits in previous..tag (all commits reachable from the tag for the first release)
    first_commit_at: int | None
    hotfix_signals: tuple[str, ...]  # why git says it is a hotfix: a hotfix/* branch, a merge, the tag message


@dataclass(frozen=True)
class Fix:
    """A fix commit that landed after a release without being in it (a post-release bug)."""

    sha: str
    at: int
    subject: str


@dataclass(frozen=True)
class ChannelChange:
    at: int
    channel: str
    version: str
    action: str
    percent: float | None
    halted: bool
    rollback_of: str | None


@dataclass(frozen=True)
class Rollback:
    at: int
    from_version: str
    to_version: str | None
    reason: str
    who: str
    duration_s: float | None
    channels: tuple[str, ...]  # empty: every channel that offered it


@dataclass(frozen=True)
class ServerRecords:
    name: str
    history: tuple[ChannelChange, ...]
    rollbacks: tuple[Rollback, ...]
    published: frozenset[str]
    quarantined: frozenset[str]
    latest: str | None
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Adoption:
    counts: dict[str, float]  # version -> sessions (or update checks) in the snapshot
    at: int | None
    source: str


def parse_time(value: object, where: str) -> int:
    """RFC 3339 (`Z` or an offset, fractions allowed) or Unix seconds, as Unix seconds; BadInput otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp())
    raise BadInput(f"not an RFC 3339 time: {value!r}", where)


# --- git --------------------------------------------------------------------------------------------------------


def read_releases(repo: Path, prefix: str = "v", bug_types: tuple[str, ...] = ("fix",),
                  bug_window_s: int = 14 * 86400) -> tuple[list[Release], dict[str, list[Fix]], list[str]]:
    """Final release tags oldest to newest with their ranges, the fix commits after each within the window, and
    a warning for each tag skipped (not `<prefix><SemVer>`) for the script to print.

    A git process per release (its range, the commits after it), none per commit.
    """
    found = git.tags(repo, prefix)
    finals = [t for t in found if not t.version.is_prerelease]
    titles = _tag_titles(repo)
    releases: list[Release] = []
    fixes: dict[str, list[Fix]] = {}
    previous: git.Tag | None = None
    for tag in finals:
        revs = [f"refs/tags/{previous.name}..refs/tags/{tag.name}"] if previous else [f"refs/tags/{tag.name}"]
        entries = list(git.log(repo, revs))
        signals: list[str] = []
        if tag.version.patch > 0:
            signals.extend(_hotfix_signals(repo, tag, entries, titles.get(tag.name, "")))
        releases.append(Release(
            tag=tag.name, version=str(tag.version), at=tag.timestamp, commit=tag.commit, annotated=tag.annotated,
            title=titles.get(tag.name, ""), previous=str(previous.version) if previous else None,
            commits=len(entries), first_commit_at=min((e.timestamp for e in entries), default=None),
            hotfix_signals=tuple(signals)))
        fixes[str(tag.version)] = _fixes_after(repo, tag, bug_types, bug_window_s)
        previous = tag
    return releases, fixes, found.warnings


def _tag_titles(repo: Path) -> dict[str, str]:
    out = git.run(repo, "for-each-ref", "--format=%(refname:strip=2)%00%(contents:subject)", "refs/tags")
    titles: dict[str, str] = {}
    for line in out.split("\n"):
        name, _, subject = line.partition("\0")
        if name:
            titles[name] = subject
    return titles


def _hotfix_signals(repo: Path, tag: git.Tag, entries: list[git.LogEntry], title: str) -> list[str]:
    signals = []
    out = git.run(repo, "for-each-ref", f"--contains={tag.commit}", "--format=%(refname:strip=2)",
                  "refs/heads/", "refs/remotes/")
    core = str(tag.version.core)
    # hotfix/1.2.2 cut from v1.2.1 contains v1.2.1 too: a branch named for another version is not this one's
    branches = [b for b in out.split("\n") if b and _HOTFIX_REF.search(b)
                and _VERSION_IN_NAME.findall(b) in ([], [core])]
    if branches:
        signals.append(f"on branch {branches[0]}")
    merged = [commits.subject(e.message) for e in entries if e.is_merge and "hotfix/" in e.message]
    if merged:
        signals.append(f"merge: {merged[0]}")
    if "hotfix" in title.lower():
        signals.append("tag message says hotfix")
    return signals


def _fixes_after(repo: Path, tag: git.Tag, bug_types: tuple[str, ...], window_s: int) -> list[Fix]:
    """Fix commits on any ref, not in `tag`, committed within the window after it."""
    start, end = tag.timestamp, tag.timestamp + window_s
    found = []
    for e in git.log(repo, ["--all", f"^refs/tags/{tag.name}"], "--no-merges", f"--since=@{start - 1}"):
        if not start <= e.timestamp <= end:
            continue
        header = commits.HEADER.fullmatch(commits.subject(e.message))
        if header is not None and header["type"].lower() in bug_types:
            found.append(Fix(e.sha, e.timestamp, commits.subject(e.message)))
    return found


# --- the update server ------------------------------------------------------------------------------------------


def read_server(t: Transport, channels: tuple[str, ...] = ()) -> ServerRecords:
    """The history log, the rollback log, and what releases/ and quarantine/ hold on one server."""
    history = tuple(_history(t)) if t.stat(HISTORY) is not None else ()
    rollbacks = tuple(_rollbacks(t)) if t.stat(ROLLBACK_LOG) is not None else ()
    published = frozenset(n for n in _listdir(t, "releases") if n != "latest" and semver.is_valid(n))
    quarantine = _listdir(t, "quarantine")
    known = sorted({*published, *(c.version for c in history), *(r.from_version for r in rollbacks)},
                   key=len, reverse=True)
    quarantined = {v for v in (_quarantined_version(name, known) for name in quarantine) if v}
    latest = t.readlink("releases/latest") if t.lstat("releases/latest") is not None else None
    order = list(channels or ("dev", "beta", "stable"))
    extra = [c for c in dict.fromkeys(c.channel for c in history) if c not in order]
    return ServerRecords(t.name, history, rollbacks, published, frozenset(quarantined),
                         latest.rstrip("/").rsplit("/", 1)[-1] if latest else None,
                         (*order[:-1], *extra, order[-1]))  # the last channel stays the stable one


def _quarantined_version(name: str, known: list[str]) -> str | None:
    """quarantine/<version>-<stamp>: the longest known version the name starts with, else the part before the stamp."""
    for v in known:
        if name.startswith(f"{v}-"):
            return v
    head = name.rsplit("-", 1)[0]
    return head if semver.is_valid(head) else None


def _listdir(t: Transport, rel: str) -> list[str]:
    st = t.stat(rel)
    if st is None or not st.is_dir:
        return []
    return [n for n in t.listdir(rel) if not n.startswith(".")]


def _lines(t: Transport, rel: str) -> list[tuple[str, dict[str, Any]]]:
    data = t.read_bytes(rel, _LOG_LIMIT)
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        where = f"{t.name}: {rel} line {n}"
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadInput(f"corrupt log: not JSON ({e})", where) from None
        if not isinstance(record, dict):
            raise BadInput("corrupt log: a line must be a JSON object", where)
        out.append((where, record))
    return out


def _text(record: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadInput(f"corrupt log: {key!r} must be a non-empty string, found {value!r}", where)
    return value


def _history(t: Transport) -> list[ChannelChange]:
    changes = []
    for where, r in _lines(t, HISTORY):
        rollout: dict[str, Any] = r["rollout"] if isinstance(r.get("rollout"), dict) else {}
        percent = rollout.get("percent")
        changes.append(ChannelChange(
            at=parse_time(r.get("at"), where), channel=str(_text(r, "channel", where)),
            version=str(_text(r, "version", where)), action=str(r.get("action") or "change"),
            percent=float(percent) if isinstance(percent, int | float) and not isinstance(percent, bool) else None,
            halted=rollout.get("halted") is True, rollback_of=_text(r, "rollback_of", where, required=False)))
    return changes


def _rollbacks(t: Transport) -> list[Rollback]:
    found = []
    for where, r in _lines(t, ROLLBACK_LOG):
        duration = r.get("duration_s")
        if duration is not None and (not isinstance(duration, int | float) or isinstance(duration, bool)
                                     or duration < 0):
            raise BadInput(f"corrupt log: duration_s must be a number of seconds, found {duration!r}", where)
        channels = r.get("channels")
        names = tuple(str(c) for c in channels) if isinstance(channels, list) else ()
        to = r.get("to")
        found.append(Rollback(
            at=parse_time(r.get("at"), where), from_version=str(_text(r, "from", where)),
            to_version=to if isinstance(to, str) and to else None, reason=str(r.get("reason") or ""),
            who=str(r.get("who") or ""), duration_s=None if duration is None else float(duration),
            channels=tuple(c for c in names if c)))
    return found


# --- adoption ---------------------------------------------------------------------------------------------------

_COUNT_KEYS = ("sessions", "update_checks", "clients", "checks")


def read_adoption(path: Path | str) -> Adoption:
    """watch-health's feed shape `{"versions": {"1.2.0": {"sessions": N}}}` (or `update_checks`, or a bare N)."""
    where = str(path)
    doc = documents.load_json(path, "adoption file")
    versions = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(versions, dict):
        raise BadInput('corrupt adoption file: expected {"versions": {"<version>": {"sessions": N}}}', where)
    counts: dict[str, float] = {}
    for version, entry in versions.items():
        value = entry if not isinstance(entry, dict) else next(
            (entry[k] for k in _COUNT_KEYS if k in entry), None)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise BadInput(f"corrupt adoption file: {version!r} needs a count ({', '.join(_COUNT_KEYS)})", where)
        counts[str(version)] = float(value)
    at = doc.get("at")
    return Adoption(counts, None if at is None else parse_time(at, where), where)
