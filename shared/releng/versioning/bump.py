"""The version-bump rules: the bump Conventional Commits ask for, the next version, and which release may follow which.

bump-version decides with them and validate-release's "no-skipped-version" gate checks with them, so the rule a
release is made by and the rule it is checked by are one. Pure functions over `releng.semver` versions: no git, no
files. bump-version's start-up path imports this module, so at load time it imports only what that path has
already loaded (semver, errors, typing); `releng.commits` (its `re`) and `releng.config` are imported where used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from releng import semver
from releng.errors import BadInput

if TYPE_CHECKING:
    from releng import git, tag_history

RELEASE_BUMPS = ("patch", "minor", "major")  # weakest first: the order a "next is ..." message lists them in
DEFAULTS: dict[str, Any] = {  # the [versioning] settings
    "tag_prefix": "v",
    "initial_version": "0.1.0",
    "zero_major_breaking": "minor",  # while major is 0, SemVer item 4 allows breaking changes in a minor bump
    "minor_types": ["feat"],
    "patch_types": ["fix", "perf", "refactor", "security", "deprecate", "remove", "revert"],
    "commit_message": "chore(release): {version}",
    "files": [],
}


def settings(cfg: Mapping[str, Any], where: str) -> dict[str, Any]:
    """[versioning] over DEFAULTS, checked: BadInput (exit 2) for a malformed value, before any file is touched."""
    from releng import config

    s = config.merged(DEFAULTS, config.section(cfg, "versioning", where))
    if not isinstance(s["tag_prefix"], str):
        raise BadInput("tag_prefix must be a string", where)
    if s["zero_major_breaking"] not in ("minor", "major"):
        raise BadInput("zero_major_breaking must be 'minor' or 'major'", where)
    if not isinstance(s["files"], list):
        raise BadInput("[[versioning.files]] must be an array of tables", where)
    semver.parse(str(s["initial_version"]), f"{where}: initial_version")
    return s


def require_files(s: Mapping[str, Any], where: str | None, repo: object = ".") -> None:
    """BadInput when no version file is configured (`where`: the config file, None when there is none): a release
    commit would change nothing, and the build number would restart below the one the files already carry (issue
    13). `init-project` writes the list."""
    if not s["files"]:
        what = "[[versioning.files]] lists no version file" if where else \
            "no releng config (releng.toml, or [tool.releng] in pyproject.toml)"
        raise BadInput(f"{what}: a release would change no file (run init-project, or list the files that carry "
                       "the version)", where or str(repo))


class Decision(NamedTuple):
    """What a bump comes to: its kind (major ... release, or "initial"), the new version, the commits that count."""

    kind: str
    version: semver.Version | None  # None: `auto` found nothing releasable
    commits: list[dict[str, Any]]


def infer_bump(entries: Iterable[git.LogEntry], settings: dict[str, Any],
               current: semver.Version) -> tuple[str | None, list[dict[str, Any]]]:
    """The strongest bump the commits ask for (None: nothing releasable) and the commits that count."""
    from releng import commits

    best, counted = 0, []
    minor, patch = set(settings["minor_types"]), set(settings["patch_types"])
    for entry in entries:
        if entry.is_merge:
            continue  # the merged branch's own commits are in the range and decide
        header = commits.HEADER.fullmatch(commits.subject(entry.message))
        if header is None or not header["description"].strip():
            continue
        kind, breaking = header["type"].lower(), header["bang"] is not None
        if not breaking and "BREAKING" in entry.message:  # only then are the footers worth parsing
            parsed = commits.parse(entry.message)
            breaking = parsed is not None and parsed.breaking
        rank = 3 if breaking else 2 if kind in minor else 1 if kind in patch else 0
        if rank == 3 and current.major == 0 and settings["zero_major_breaking"] == "minor":
            rank = 2
        if rank:
            best = max(best, rank)
            counted.append({"sha": entry.sha, "subject": commits.subject(entry.message), "type": kind,
                            "scope": (header["scope"] or "").strip() or None, "breaking": breaking})
    kind = {0: None, 1: "patch", 2: "minor", 3: "major"}[best]
    return kind, counted


def next_version(current: semver.Version, kind: str, pre_id: str | None) -> semver.Version:
    """`kind` is major/minor/patch/prerelease/release; with a pre_id a major/minor/patch bump opens a prerelease."""
    if pre_id and kind in RELEASE_BUMPS:
        return semver.bump(current, "pre" + kind, pre_id)
    return semver.bump(current, kind, pre_id)


def current_version(full: semver.Version | None, core: semver.Version | None, last: tag_history.Release | None,
                    initial: str) -> semver.Version:
    """The version a bump starts from: the version files' (full, or numeric `core`), the last release tag's when
    the files agree with it or say nothing, else `initial`; BadInput when the files are behind the last tag."""
    if last is not None and core is not None and core < last.version.core:
        raise BadInput(f"version files say {full or core} but HEAD is already past tag {last.name}")
    current = full or (last.version if last and core == last.version.core else None) or core
    if current is None:
        current = last.version if last else semver.parse(initial)
    return current


def decide(kind: str, current: semver.Version, last: tag_history.Release | None, since: Iterable[git.LogEntry],
           settings: dict[str, Any], pre_id: str | None = None,
           line: tuple[tag_history.Release | None, Iterable[git.LogEntry]] | None = None) -> Decision:
    """The bump `kind` (or "auto": the commits `since` the last release tag decide) applied to `current`.

    The first release (no tag yet) is the configured initial_version, whatever the commits say. On a prerelease
    line, `line` is the last final release and the commits since it (`promote`); None: `last` is final, or the
    caller knows no more (then the last final is `last` if final, and the commits since it are `since`).
    """
    if kind != "auto":
        return Decision(kind, next_version(current, kind, pre_id), [])
    since = list(since)
    inferred, counted = infer_bump(since, settings, current)
    if last is None:
        return Decision("initial", semver.parse(settings["initial_version"]), counted)
    if current.is_prerelease:
        final, since_final = line or ((None if last.version.is_prerelease else last), since)
        return promote(current, final.version if final else None, since, since_final, settings, pre_id)
    if inferred is None:
        return Decision("auto", None, counted)
    return Decision(inferred, next_version(current, inferred, pre_id), counted)


def promote(current: semver.Version, final: semver.Version | None, since: Iterable[git.LogEntry],
            since_final: Iterable[git.LogEntry], settings: dict[str, Any], pre_id: str | None = None) -> Decision:
    """`auto` on the prerelease line `current` (e.g. 25.0.0-beta.11), `final` the last final release before it.

    The commits since `final` ask for a bump of it; where that lands on the line's core or below (the line was
    opened for it, or further ahead by hand), the answer is the core: 25.0.0, also when the commits since the
    prerelease itself are only chores. A bump past the core (a feat on a patch line) is that bump. With `pre_id`,
    the next prerelease instead: of the line (beta.12, or rc.1 when the label moves on: nothing to release when it
    does not and no commit since `current` asks for a release), or the first of the version past it.
    """
    inferred, counted = infer_bump(since_final, settings, final or current)
    target = next_version(final, inferred, None) if final and inferred else current.core
    if pre_id is None:
        return Decision("release", current.core, counted) if target <= current.core else \
            Decision(inferred or "release", target, counted)
    if target > current.core:
        return Decision(inferred or "prerelease", semver.Version(target.major, target.minor, target.patch,
                                                                  (pre_id, 1)), counted)
    news, counted = infer_bump(since, settings, current)
    if news is None and pre_id == current.prerelease[0]:
        return Decision("auto", None, counted)
    return Decision("prerelease", semver.bump(current, "prerelease", pre_id), counted)


def next_releases(last: semver.Version, *, hotfix: bool = False) -> list[semver.Version]:
    """The releases that may follow `last`: its patch, minor and major bumps (for a hotfix, the patch alone)."""
    return [semver.bump(last, k) for k in (("patch",) if hotfix else RELEASE_BUMPS)]


def is_successor(last: semver.Version, new: semver.Version, *, hotfix: bool = False) -> bool:
    """Whether `new` may be the next release after `last` without skipping one: newer, and one of the next
    releases or a prerelease of one; after a prerelease, also another prerelease of the same version (rc.1 -> rc.2).
    For a hotfix, the patch release (or a prerelease of it) alone."""
    if new <= last:
        return False
    if new.core in next_releases(last, hotfix=hotfix):
        return True
    return not hotfix and last.is_prerelease and new.core == last.core


def check_successor(last: semver.Version | None, new: semver.Version) -> None:
    """Refuse (BadInput) a version that goes backwards from the last tag, or skips one (1.2.3 -> 1.4.0)."""
    if last is None or is_successor(last, new):
        return
    if new <= last:
        raise BadInput(f"{new} would not be newer than the last release tag's {last}")
    options = ", ".join(str(v) for v in next_releases(last))
    raise BadInput(f"{new} would skip a version after {last} (next is one of {options}, or a prerelease of one)")


def next_build(builds: Iterable[int | None], tag_count: int) -> int:
    """Higher than any build number in the files (`builds`, None where a file has none) and than the number of
    release tags: it never repeats, whatever the channel."""
    return max([tag_count, *(b for b in builds if b is not None)]) + 1
