"""Which commits go into which changelog section: tags to releases, commits to the release that first contains
them, prereleases folded into their release or not, reverts cancelled within a release.

gen-changelog reads the history (one `git log`, the tag listing beside it; in update mode only what follows a
release the changelog has, and the older commits its reverts name) and hands it here; everything below is
decided from that, with no git and no clock (the caller says what "today" is), so the plan is tested from made-up
histories. A commit belongs to the lowest release tag whose history contains it (by containment, not by date or
by the order of a linear log), so merged branches land where they were released.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from releng import commits, git, semver
from releng.changelog import entries as entry_rules

if TYPE_CHECKING:
    from releng import keepachangelog

UNRELEASED, DATE = "unreleased", "%Y-%m-%d"
_SHA = re.compile(r"\b[0-9a-f]{7,64}\b")


class History:
    """Every commit reachable from HEAD (or only those after a release, `since`), newest first: each message
    becomes its entry as it comes.

    `tags` is called once the log has been read, so that a tag listing can run beside the log; the tags kept are
    those in the history, one per precedence; a warning for each other one is in `warnings`.
    """

    def __init__(self, log: Iterable[git.LogEntry], tags: Callable[[], Iterable[git.Tag]],
                 cfg: Mapping[str, Any], since: str | None = None) -> None:
        """`since`: the log is `HEAD ^<since>`, the history after that tag (update mode reads only what is new since
        a release the changelog has); `base` is then that tag, None if the listing has no such SemVer tag, and the
        tags older than it are not in the log and need no warning."""
        self.shas: list[str] = []
        self.index: dict[str, int] = {}
        self.parents: list[tuple[str, ...]] = []
        self.entries: list[dict[str, Any] | None] = []  # None: merge commits and hidden ones
        self.reverts: dict[int, list[str]] = {}  # commit -> the shas it reverts
        self.more: dict[int, list[dict[str, Any]]] = {}  # commit -> its entries after the first (squashed_commits)
        self.warnings: list[str] = []
        self._short: dict[str, list[int]] | None = None  # sha[:7] -> commits, built when a revert names a short sha
        self.outside = -1  # commits from here on were read only as what a revert names (`add_reverted`)
        # several messages in one commit (changelog.squashed_commits): a rule of its own, the common one stays quick
        self._cfg, self._entry = cfg, self._split if cfg.get("squashed") else entry_rules.entry
        self._read(log)
        listed = list(tags())
        self.base = next((t for t in listed if t.name == since), None) if since is not None else None
        self.tags: list[git.Tag] = []  # by precedence, each contained in HEAD
        self.elsewhere: list[str] = []  # the other tags; with a `base`, only those newer than it
        for tag in listed:
            same = self.tags and self.tags[-1].version == tag.version
            if tag.commit in self.index and not same:
                self.tags.append(tag)
            elif same:
                self.warnings.append(f"ignoring tag {tag.name!r}: same precedence as {self.tags[-1].name!r}")
            elif self.base is None or tag.version > self.base.version:
                self.elsewhere.append(tag.name)
        if self.elsewhere:  # one line, not one per tag: a project with maintenance branches has dozens
            self.warnings.append(not_in_history(self.elsewhere))

    def _read(self, log: Iterable[git.LogEntry]) -> None:
        index, add_sha, add_parents, add_entry = self.index, self.shas.append, self.parents.append, self.entries.append
        entry, cfg, reverts = self._entry, self._cfg, self.reverts
        for i, e in enumerate(log, len(self.shas)):  # the hot loop: 100,000 commits in well under a second
            index[e.sha] = i
            add_sha(e.sha)
            add_parents(e.parents)
            add_entry(None if len(e.parents) > 1 else entry(e.sha, e.message, cfg))
            if e.message.startswith(("Revert", "revert", "Reapply")) and (targets := reverted(e.message)):
                reverts[i] = targets

    def unknown_reverted(self) -> list[str]:
        """The shas reverts name that are not in the log read: with a `base`, commits released before it."""
        return list(dict.fromkeys(sha for targets in self.reverts.values() for sha in targets
                                  if self.find(sha) is None))

    def add_reverted(self, log: Iterable[git.LogEntry]) -> None:
        """Commits from before `base` that reverts name: known for what they say, never members of a section."""
        if self.outside < 0:
            self.outside = len(self.shas)
        self._read(e for e in log if e.sha not in self.index)
        self._short = None

    def _split(self, sha: str, message: str, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first entry of the commit being read (the last sha added); the others go to `more`."""
        found = entry_rules.split(sha, message, cfg)
        if len(found) > 1:
            self.more[len(self.shas) - 1] = found[1:]
        return found[0] if found else None

    def find(self, sha: str, near: set[int] | frozenset[int] = frozenset()) -> int | None:
        """The commit a full or abbreviated sha names: for an abbreviated one, one of `near` first, else the newest
        that starts with it (a prefix table is built on the first such question: reverts are few)."""
        if len(sha) >= 40:
            return self.index.get(sha)
        if len(sha) < 7:
            return None
        if self._short is None:
            self._short = {}
            for i, full in enumerate(self.shas):
                self._short.setdefault(full[:7], []).append(i)
        found = [i for i in self._short.get(sha[:7], ()) if self.shas[i].startswith(sha)]
        close = [i for i in found if i in near]
        return close[0] if close else found[0] if found else None

    def owners(self) -> list[int]:
        """Each commit's lowest tag (index in `tags`), -1 (untagged) or -2 (from before `base`); walks stop at owned
        commits: linear, whatever the tags."""
        owner = [-1] * len(self.shas)
        if self.outside >= 0:  # read only for a revert: never a section's, and no walk goes through them
            owner[self.outside:] = [-2] * (len(self.shas) - self.outside)
        index, parents = self.index, self.parents
        for t, tag in enumerate(self.tags):
            stack = [index[tag.commit]]
            while stack:
                c = stack.pop()
                if owner[c] == -1:
                    owner[c] = t
                    for p in parents[c]:
                        if (i := index.get(p)) is not None and owner[i] == -1:  # None: beyond a shallow clone
                            stack.append(i)
        return owner

    def stale(self, version: semver.Version) -> bool:
        """Whether `version` is untagged and older than the latest tag: its section would sit above newer ones."""
        return bool(self.tags) and version < self.tags[-1].version and all(t.version != version for t in self.tags)


@dataclass(eq=False)
class Release:
    """A section: a release (its tag possibly not made yet) or Unreleased, with its commits newest first."""

    key: str  # "unreleased" or the version
    version: semver.Version | None
    tag: str | None
    date: str | None
    members: list[int] = field(default_factory=list)
    folded: set[str] = field(default_factory=set)  # the prereleases folded into it
    previous: str | None = None  # the tag of the section below it


def plan(h: History, target: tuple[semver.Version, str] | None, fold: bool, today: int = 0) -> list[Release]:
    """The sections, newest first: Unreleased, then one per release (or per prerelease not folded).

    `target` (version, tag name) is a release being made: when it has no tag yet, the untagged commits go into its
    section, dated `today` (Unix time), instead of Unreleased.
    """
    finals = {t.version: t for t in h.tags if not t.version.is_prerelease}
    unreleased = section = Release(UNRELEASED, None, None, None)  # `section` gets the untagged commits
    if target and all(t.version != target[0] for t in h.tags):
        section = Release(str(target[0]), target[0], target[1], time.strftime(DATE, time.gmtime(today)))
    by_key = {section.key: section}
    owners: list[Release] = []
    for tag in h.tags:
        v = tag.version
        folds = fold and v.is_prerelease and (v.core in finals or v.core == section.version)
        core = v.core if folds else v
        release = by_key.get(str(core))
        if release is None:
            final = finals.get(core, tag)  # a folded section takes its release's tag and date
            date = time.strftime(DATE, time.gmtime(final.timestamp))
            release = by_key[str(core)] = Release(str(core), core, final.name, date)
        if folds:
            release.folded.add(str(v))
        owners.append(release)
    for c, t in enumerate(h.owners()):
        if t != -2:
            (owners[t] if t >= 0 else section).members.append(c)
    releases = [r for r in by_key.values() if r.version]
    base = [Release(str(h.base.version), h.base.version, h.base.name, None)] if h.base else []  # compared, not kept
    chain = sorted([*releases, *base], key=lambda r: r.version.precedence_key() if r.version else (), reverse=True)
    for newer, older in zip(chain, chain[1:], strict=False):
        newer.previous = older.tag
    unreleased.previous = chain[0].tag if chain else None
    return [unreleased, *(r for r in chain if r not in base)]


def to_write(sections: list[Release], target: semver.Version | None,
             old: keepachangelog.Changelog) -> list[Release]:
    """The sections a run writes into the changelog `old`: Unreleased, the `target` version's, and releases newer
    than any the file has (new tags); never those the file starts after, which it was written without."""
    newest = max((s.version for s in old.sections if s.version), default=None)
    return [s for s in sections if s.key in (UNRELEASED, str(target) if target else "") or s.version is not None
            and not old.find(s.version) and (newest is None or s.version > newest)]


def entries(h: History, members: list[int]) -> list[dict[str, Any]]:
    """The entries of one release's commits (newest first): a revert and what it reverts within the release cancel
    out; a revert of a commit released earlier says what it takes back (`entries.reverting`), whichever of git's
    and Conventional Commits' forms it has."""
    dropped = set[int]()
    earlier: dict[int, dict[str, Any]] = {}  # a revert of a commit released before -> the entry it makes
    if h.reverts:
        inside = set(members)
        for c in members:  # newest first: a revert of a revert frees the original before its turn
            if c in h.reverts and c not in dropped:
                found = [i for sha in h.reverts[c] if (i := h.find(sha, inside)) is not None]
                hits = [i for i in found if i in inside]
                dropped.update(hits, [c] if hits else [])
                if not hits and found and (made := _reverting(h, c, found[0])) is not None:
                    earlier[c] = made
    if not (dropped or earlier or h.more):
        return [e for c in members if (e := h.entries[c]) is not None]
    out: list[dict[str, Any]] = []
    for c in members:
        if c in dropped:
            continue
        e = h.entries[c]
        if c in earlier:
            e = earlier[c]
        if e is not None:
            out.append(e)
        if c in h.more:
            out.extend(h.more[c])
    return out


def versions(h: History, sections: list[Release]) -> list[dict[str, Any]]:
    """The `versions` of the releng/changes document for `sections` (their `url` left for the caller to link);
    the document calls the unreleased one "Unreleased", whatever the changelog's heading says."""
    return [{"version": str(s.version) if s.version else "Unreleased", "date": s.date, "tag": s.tag,
             "previous_tag": s.previous, "url": None, "entries": entries(h, s.members)} for s in sections]


def _reverting(h: History, c: int, target: int) -> dict[str, Any] | None:
    """The entry of revert `c` of `target`, released before: what `target` added is removed (else changed back);
    a revert of a revert lists the original again (git 2.43 calls it `Reapply "..."`)."""
    first = h.find(h.reverts[target][0]) if target in h.reverts else None
    if first is not None and (original := h.entries[first]) is not None:
        return {**original, "commit": h.shas[c]}
    reverted_entry = h.entries[target]
    return None if reverted_entry is None else entry_rules.reverting(h.entries[c], h.shas[c], reverted_entry)


def reverted(message: str) -> list[str]:
    """The shas (full or abbreviated) a commit reverts: the `This reverts commit <sha>` lines of git's
    `Revert "..."` (and `Reapply "..."`, its revert of a revert) and of a `revert: ...` / `revert(scope): ...` commit
    alike, and a revert's `Refs: <sha>`
    footers (Conventional Commits' own example); [] for any other commit."""
    if commits.revert_target(message)[1] is not None:
        return commits.reverted_shas(message)
    parsed = commits.parse(message)
    if parsed is None or parsed.type != "revert":
        return []
    refs = [s for value in parsed.footer_values("Refs") for s in _SHA.findall(value)]
    return list(dict.fromkeys([*commits.reverted_shas(message), *refs]))


def not_in_history(names: list[str], shown: int = 3) -> str:
    """One warning for the tags HEAD cannot reach (other branches), the newest few named."""
    if len(names) == 1:
        return f"ignoring tag {names[0]!r}: not in the history of HEAD"
    newest = ", ".join(repr(n) for n in reversed(names[-shown:]))
    rest = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"ignoring {len(names)} tags not in the history of HEAD (on other branches): {newest}{rest}"
