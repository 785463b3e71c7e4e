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
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from releng import documents, git, semver
from releng.errors import BadInput
from releng.server.layout import HISTORY
from releng.server.transport import Transport
from releng.validation import release_graph

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
    """Final release tags oldest to newest with their ranges, the fix commits after each within the window (each
    fix once, as `releng.validation.metrics` counts it), and a warning for each tag skipped (not
    `<prefix><SemVer>`) for the script to print.

    One `git log --all` (a fix on any branch counts), with the tags, their messages and the branches listed beside
    it; every range, containment and window is answered from that graph (`releng.validation.release_graph`),
    never by a git process per release: that grew with releases x history (issue 14).
    """
    with ThreadPoolExecutor(1) as pool:  # waits for the listings on leaving: no thread left behind
        listing = pool.submit(_listings, repo, prefix)
        graph = release_graph.Graph(_while_releases(git.log(repo, ["--all"]), listing), bug_types)
        found, titles, branches = listing.result()
    warnings = list(found.warnings)
    finals = []
    for tag in found:
        if tag.version.is_prerelease:
            continue
        if graph.commit(tag.commit) is None:
            warnings.append(f"ignoring tag {tag.name!r}: it names no commit")
        else:
            finals.append(tag)
    hotfix_branches = _hotfix_branches(graph, finals, branches)
    releases: list[Release] = []
    previous: git.Tag | None = None
    for tag in finals:
        tip = graph.index[tag.commit]
        members = graph.range(tip, graph.index[previous.commit] if previous else None)
        title = titles.get(tag.name, "")
        signals: list[str] = []
        if tag.version.patch > 0:
            if tag.name in hotfix_branches:
                signals.append(f"on branch {hotfix_branches[tag.name]}")
            merged = [c for c in members if c in graph.hotfix_merges]
            if merged:
                signals.append(f"merge: {graph.hotfix_merges[min(merged)]}")  # the newest, as git log lists it
            if "hotfix" in title.lower():
                signals.append("tag message says hotfix")
        releases.append(Release(
            tag=tag.name, version=str(tag.version), at=tag.timestamp, commit=tag.commit, annotated=tag.annotated,
            title=title, previous=str(previous.version) if previous else None, commits=len(members),
            first_commit_at=min((graph.times[c] for c in members), default=None), hotfix_signals=tuple(signals)))
        previous = tag
    return releases, _fixes_after(graph, finals, bug_window_s), warnings


def _fixes_after(graph: release_graph.Graph, finals: list[git.Tag], window_s: int) -> dict[str, list[Fix]]:
    """Release version -> the fix commits dated within its window that it does not contain, each fix counted
    once: for the newest release (by tag time, the lower version on a tie) it followed. Newest first, so a fix
    already counted is never walked to again (2,000 releases x the fixes in each window was 560,000 records)."""
    fixes: dict[str, list[Fix]] = {str(t.version): [] for t in finals}
    taken: set[int] = set()
    shas, times = graph.shas, graph.times
    for tag in sorted(finals, key=lambda t: -t.timestamp):  # stable: by precedence on a tie
        found = graph.fixes_after(graph.index[tag.commit], tag.timestamp, tag.timestamp + window_s, taken)
        taken.update(c for c, _ in found)
        fixes[str(tag.version)] = [Fix(shas[c], times[c], subject) for c, subject in found]
    return fixes


def _listings(repo: Path, prefix: str) -> tuple[git.Tags, dict[str, str], list[tuple[str, str]]]:
    """The release tags, every tag's message subject, and the hotfix branches (name, tip) in refname order."""
    found = git.tags(repo, prefix)
    out = git.run(repo, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/heads/",
                  "refs/remotes/")
    branches = [(name, sha) for line in out.split("\n") for name, _, sha in [line.partition("\0")]
                if name and _HOTFIX_REF.search(name)]
    return found, _tag_titles(repo), branches


def _while_releases(log: Generator[git.LogEntry, None, None], listing: Future[Any]) -> Iterator[git.LogEntry]:
    """The log, stopped early (git killed) once the listing has come and holds no final release: nothing to
    measure in the rest of a long history."""
    for n, entry in enumerate(log):
        if n % 1024 == 1023 and listing.done() and listing.exception() is None \
                and not any(not t.version.is_prerelease for t in listing.result()[0]):
            log.close()
            return
        yield entry


def _tag_titles(repo: Path) -> dict[str, str]:
    out = git.run(repo, "for-each-ref", "--format=%(refname:strip=2)%00%(contents:subject)", "refs/tags")
    titles: dict[str, str] = {}
    for line in out.split("\n"):
        name, _, subject = line.partition("\0")
        if name:
            titles[name] = subject
    return titles


def _hotfix_branches(graph: release_graph.Graph, finals: list[git.Tag],
                     branches: list[tuple[str, str]]) -> dict[str, str]:
    """Patch release tag -> the first hotfix branch (refname order) that contains it; a branch named for a
    version is only that version's: hotfix/1.2.2, cut from v1.2.1, contains v1.2.1 too."""
    patches = [t for t in finals if t.version.patch > 0]
    out: dict[str, str] = {}
    for name, sha in branches:
        tip = graph.commit(sha)
        if tip is None:
            continue
        named = _VERSION_IN_NAME.findall(name)
        if len(named) > 1:
            continue
        candidates = [t for t in patches if t.name not in out and (not named or str(t.version.core) == named[0])]
        inside = graph.reached(tip, {graph.index[t.commit] for t in candidates})
        for t in candidates:
            if graph.index[t.commit] in inside:
                out[t.name] = name
    return out


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
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise BadInput(f"corrupt log: not JSON ({reason})", where) from None
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
