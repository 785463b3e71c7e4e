"""Release tags and the history since them, from ONE `git log HEAD` beside one tag listing (HistoryQuery).

Split from releng.git (the plumbing it builds on): what a version bump and the changelog's Unreleased section need
to know, read so that git stops as soon as every unreleased commit's ancestry has met a release tag.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import NamedTuple

from releng import semver
from releng.errors import RelengError
from releng.git import _LOG_FORMAT, LogEntry, _entry, _Stream, run  # noqa: PLC2701 - its own plumbing


class Release(NamedTuple):
    name: str
    version: semver.Version
    commit: str


class History(NamedTuple):
    """What a version bump needs to know: all release tags, the last one reachable, the commits since it; and the
    same for final releases alone (a prerelease line turns into its release from the commits since the last final).
    """

    tags: frozenset[str]  # every release tag's name, reachable or not
    last: Release | None
    since: list[LogEntry]
    warnings: list[str]  # one per tag skipped (not <prefix><SemVer>), for the script to print
    last_final: Release | None = None  # the highest final (not prerelease) release tag reachable from HEAD
    since_final: list[LogEntry] | None = None  # the commits no final release contains (`since` when the same)


_TAG_FIELDS = "%00".join(["%(refname:strip=2)", "%(objecttype)", "%(objectname)", "%(*objectname)", "%(*objecttype)"])
_SLOP = 5  # commits older than every unreleased one read before stopping, as git's own range walks do


def _release_tags(repo: Path | str, output: str, prefix: str, warnings: list[str]) -> dict[str, list[str]]:
    """Commit -> the release tags on it, from a for-each-ref listing (thousands of tags in an old project: the
    common X.Y.Z is told apart without a full SemVer parse); other tags are skipped, with a line in `warnings`."""
    on: dict[str, list[str]] = {}
    nested: list[tuple[str, str]] = []
    cut = len(prefix)
    for line in output.split("\n"):
        if not line:
            continue
        name, objtype, obj, peeled, peeled_type = line.split("\0")
        if not name.startswith(prefix) or not (_plain(name[cut:]) or semver.is_valid(name[cut:])):
            warnings.append(f"ignoring tag {name!r}: not {prefix}<SemVer>")
        elif objtype == "tag" and peeled_type == "tag":  # a tag of a tag: %(*objectname) peeled one level only
            nested.append((name, peeled))
        else:
            on.setdefault(peeled if objtype == "tag" else obj, []).append(name)
    if nested:
        answers = run(repo, "cat-file", "--batch-check=%(objectname)",
                      input="".join(f"{obj}^{{commit}}\n" for _, obj in nested)).split("\n")
        for (name, obj), sha in zip(nested, answers, strict=False):
            on.setdefault(sha if sha and " " not in sha else obj, []).append(name)
    return on


def _plain(text: str) -> bool:
    """X.Y.Z without leading zeros: most release tags, told apart without a full SemVer parse."""
    parts = text.split(".")
    return len(parts) == 3 and all(p.isascii() and p.isdigit() and (p[0] != "0" or p == "0") for p in parts)


class HistoryQuery:
    """The highest release tag reachable from HEAD and the commits since it (that no release reachable from HEAD
    contains: gen-changelog's Unreleased), newest first.

    Starting the query launches `git log HEAD` and the tag listing side by side while the caller imports and reads
    files. The log needs no refs, so it streams at once (`describe` or `--not --tags` first spend a while loading
    and peeling thousands of tags: bench/README.md); it is read until every unreleased commit's ancestry has met a
    release tag.
    git lists commits newest first by committer date, a parent after a child: once a commit older than every
    unreleased one has come, all newer ones have, so reading stops (a few commits later, as git's own range walks
    do for skewed clocks). A parent seen dated after its child makes it read the whole history instead.
    """

    def __init__(self, repo: Path | str, prefix: str = "v") -> None:
        self.repo, self.prefix = repo, prefix
        self._listing = _Stream(repo, ["git", "-C", str(repo), "for-each-ref", f"--format={_TAG_FIELDS}", "refs/tags"])
        self._log = _Stream(repo, ["git", "-C", str(repo), "-c", "log.showSignature=false", "log", "-z",
                                   "--no-color", f"--format={_LOG_FORMAT}", "HEAD", "--"])

    def close(self) -> None:
        """Stop the git processes of a query whose result is not wanted (or already read); idempotent."""
        self._listing.close()
        self._log.close()

    def result(self) -> History:
        records = self._log.records()
        early: list[LogEntry] = []  # parsed while the listing runs; classified once it has come
        for record in records:
            early.append(_entry(record))
            if len(early) % 128 == 0 and self._listing.proc and self._listing.proc.poll() is not None:
                break
        warnings: list[str] = []
        try:
            on = _release_tags(self.repo, self._listing.text(), self.prefix, warnings)
        except RelengError:
            self.close()
            raise
        names = frozenset(n for found in on.values() for n in found)
        cut = len(self.prefix)
        finals = {c: kept for c, found in on.items()
                  if (kept := [n for n in found if _plain(n[cut:]) or not semver.parse(n[cut:]).is_prerelease])}
        cuts = [_Cut(on)] + ([_Cut(finals)] if finals != on else [])  # prereleases: read on to the last final
        parents: dict[str, tuple[str, ...]] = {}
        child_time: dict[str, int] = {}  # the earliest date of a seen child of each commit not seen yet
        skewed = False
        for e in itertools.chain(early, map(_entry, records)):
            parents[e.sha] = e.parents
            skewed = skewed or e.timestamp > child_time.pop(e.sha, e.timestamp)
            for p in e.parents:
                child_time[p] = min(child_time.get(p, e.timestamp), e.timestamp)
            for c in cuts:
                c.add(e, parents)
            if not skewed and all(c.done() for c in cuts):
                break  # every unreleased commit's ancestry has met a release (or HEAD is one)
        last, since = cuts[0].result(parents, cut)
        last_final, since_final = cuts[-1].result(parents, cut) if len(cuts) > 1 else (last, since)
        return History(names, last, since, warnings, last_final, since_final)


class _Cut:
    """The commits no release tag of `on` (commit -> names) contains, sorted as the log streams (HistoryQuery)."""

    oldest: int | None

    def __init__(self, on: dict[str, list[str]]) -> None:
        self.on, self.oldest, self.older = on, None, 0
        self.released: set[str] = set()  # commits under a release tag seen so far
        self.unreleased: list[LogEntry] = []  # so far; some may turn out to be released
        self.awaited: set[str] = set()  # parents of unreleased commits not seen yet

    def add(self, e: LogEntry, parents: dict[str, tuple[str, ...]]) -> None:
        self.awaited.discard(e.sha)
        if e.sha in self.on or e.sha in self.released:
            self.released.update(e.parents)
            self.older += self.oldest is not None and e.timestamp < self.oldest
        else:
            self.unreleased.append(e)
            self.awaited.update(p for p in e.parents if p not in parents)
            if self.oldest is None or e.timestamp < self.oldest:
                self.oldest, self.older = e.timestamp, 0

    def done(self) -> bool:
        return not self.awaited and (self.older >= _SLOP or self.oldest is None and bool(self.released))

    def result(self, parents: dict[str, tuple[str, ...]], cut: int) -> tuple[Release | None, list[LogEntry]]:
        """The highest release on the boundary and the commits since it, newest first."""
        tagged = [c for c in parents if c in self.on]
        below = _ancestors_within(tagged, parents)
        since = [e for e in self.unreleased if e.sha not in below]
        boundary = {p for e in since for p in e.parents if p in self.on} if since else set(tagged[:1])
        found = [Release(n, semver.parse(n[cut:]), c) for c in boundary for n in self.on[c]]
        return (max(found, key=lambda r: r.version.precedence_key()) if found else None), since


def history(repo: Path | str, prefix: str = "v") -> History:
    return HistoryQuery(repo, prefix).result()


def _ancestors_within(starts: list[str], graph: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in graph:
            continue
        seen.add(sha)
        stack.extend(graph[sha])
    return seen
