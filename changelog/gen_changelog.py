"""Write CHANGELOG.md (Keep a Changelog 1.1.0) and the releng/changes document from git history and SemVer tags.

  gen-changelog                   rewrite the Unreleased section and add sections for new tags; keep the rest
  gen-changelog --version 1.3.0   write [1.3.0]: the commits since the last tag, dated today (or by its tag)
  gen-changelog --version-file build/release/version.json   the same, the version from bump-version's document
  gen-changelog --full            regenerate the whole file from every tag
  gen-changelog --json            also print the releng/changes document (entries per version)

changelog_config.yml maps commit types and footers to categories. Breaking changes come first; merge commits are
left out, not their branches' commits; a revert and what it reverts cancel out within a release; `Changelog: text`
replaces the subject (`skip` drops it); prereleases fold into their release. build/release/version.json, if there,
names the default --version. Every section a run doesn't regenerate is kept byte for byte.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import cli, commits, config, documents, git, keepachangelog, semver
from releng.changelog import settings
from releng.errors import BadInput

UNRELEASED, DATE = "Unreleased", "%Y-%m-%d"
_NUMBER = re.compile(r"(?<![\w/&\[])#(\d+)\b")
_SHA = re.compile(r"\b[0-9a-f]{7,64}\b")
_REFS = re.compile(r"^(?:refs|closes|fixes|resolves)(?::| #) *(.*)", re.IGNORECASE | re.MULTILINE)  # footers or not
SKIP = ("skip", "-", "none")
FORK_ENTRIES = 20_000  # a changes document this big is encoded by a forked child while the changelog is rendered


class History:
    """Every commit reachable from HEAD, newest first (one `git log`): each message becomes its entry as it comes."""

    def __init__(self, repo: Path, prefix: str, cfg: dict[str, Any]) -> None:
        self.shas: list[str] = []
        self.index: dict[str, int] = {}
        self.parents: list[tuple[str, ...]] = []
        self.entries: list[dict[str, Any] | None] = []  # None: merge commits and hidden ones
        self.reverts: dict[int, list[str]] = {}  # commit -> the shas it reverts
        index, add_sha, add_parents, add_entry = self.index, self.shas.append, self.parents.append, self.entries.append
        listing = (pool := ThreadPoolExecutor(1)).submit(git.tags, repo, prefix)  # ~50 ms, beside the log
        for i, e in enumerate(git.log(repo)):  # the hot loop: 100,000 commits in well under a second
            index[e.sha] = i
            add_sha(e.sha)
            add_parents(e.parents)
            add_entry(None if len(e.parents) > 1 else _entry(e.sha, e.message, cfg))
            if e.message.startswith(('Revert "', "revert")) and (targets := _reverted(e.message)):
                self.reverts[i] = targets
        pool.shutdown()  # waits for the listing, so no thread is left (documents.dumps_soon may fork)
        self.tags: list[git.Tag] = []  # by precedence, each contained in HEAD
        for tag in listing.result():
            same = self.tags and self.tags[-1].version == tag.version
            if tag.commit in self.index and not same:
                self.tags.append(tag)
            else:
                cli.warn(f"ignoring tag {tag.name!r}: " + (f"same precedence as {self.tags[-1].name!r}" if same
                                                            else "not in the history of HEAD"))

    def owners(self) -> list[int]:
        """Each commit's lowest tag (index in `tags`) or -1; walks stop at owned commits: linear, whatever the tags."""
        owner = [-1] * len(self.shas)
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


def plan(h: History, target: tuple[semver.Version, str] | None, fold: bool) -> list[Release]:
    """The sections, newest first: Unreleased, then one per release (or per prerelease not folded)."""
    finals = {t.version: t for t in h.tags if not t.version.is_prerelease}
    unreleased = section = Release("unreleased", None, None, None)  # `section` gets the untagged commits
    if target and all(t.version != target[0] for t in h.tags):
        today = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())  # reproducible builds' "now"
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
        (owners[t] if t >= 0 else section).members.append(c)
    releases = sorted((r for r in by_key.values() if r.version),
                      key=lambda r: r.version.precedence_key() if r.version else (), reverse=True)
    for newer, older in zip(releases, releases[1:], strict=False):
        newer.previous = older.tag
    unreleased.previous = releases[0].tag if releases else None
    return [unreleased, *releases]


def entries(h: History, members: list[int]) -> list[dict[str, Any]]:
    """The entries of one release's commits (newest first), reverts within the release cancelled."""
    dropped = set[int]()
    if h.reverts:
        inside = set(members)
        for c in members:  # newest first: a revert of a revert frees the original before its turn
            if c in h.reverts and c not in dropped:
                hits = [i for sha in h.reverts[c] for i in ([h.index.get(sha)] if len(sha) >= 40 else
                         [j for j in members if h.shas[j].startswith(sha)][:1]) if i in inside]
                dropped.update(hits, [c] if hits else [])
    return [e for c in members if (e := h.entries[c]) is not None and c not in dropped]


def _reverted(message: str) -> list[str]:
    sha, _ = commits.revert_target(message)  # git's form, else Conventional Commits': `revert: ...` + `Refs: <sha>`
    parsed = None if sha else commits.parse(message)
    refs = parsed.footer_values("Refs") if parsed and parsed.type == "revert" else []
    return [sha] if sha else [s for value in refs for s in _SHA.findall(value)]


def _entry(sha: str, message: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The entry one commit makes, or None; this runs for every commit, so the common case is quick."""
    header, _, rest = message.partition("\n")
    m = commits.HEADER.fullmatch(header.rstrip())
    if m is None or not m["description"].strip():
        return _odd(sha, message, cfg)
    kind, scope, bang, description = m.group("type", "scope", "bang", "description")
    kind, description = kind.lower(), description.strip()
    category = cfg["types"].get(kind)
    footers: tuple[commits.Footer, ...] = ()
    if rest and cfg["hint"].search(rest):  # a footer that changes the entry: parse them all
        footers = commits.split_body_footers(rest.replace("\r\n", "\n").strip("\n"))[1]
    elif category is None and bang is None:
        return None
    refs = _numbers(description) if "#" in description else []
    text, note, breaking, breaking_text = description, "", bang is not None, None
    for line in _REFS.findall(rest) if "s:" in rest or "S:" in rest or "s #" in rest or "S #" in rest else ():
        refs += [int(line)] if line.isdigit() else _numbers(line)
    for f in footers:
        token = f.token.lower()
        if f.token in commits.BREAKING_TOKENS:
            breaking, breaking_text = True, breaking_text or f.value
        elif token == "changelog" and f.value.strip():
            if f.value.strip().lower() in SKIP:
                return None
            text = f.value.strip()
        elif token in cfg["footer_map"] and not note:
            category, note = cfg["footer_map"][token], f.value.strip()
    if note and note.lower() not in ("yes", "true", "y"):
        text = f"{text}: {note}"
    if category is None and not breaking:
        return None  # a hidden type; its breaking changes are listed all the same, under Changed
    return _make(category or "Changed", scope.strip() or None if scope else None, text, kind, sha, refs,
                 breaking, (breaking_text or description) if breaking else None)


def _odd(sha: str, message: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """Non-conventional commits: git's own reverts, else the `other_heading` category or nothing."""
    if commits.is_merge(message) or commits.is_autosquash(message):
        return None
    types, (_, reverted) = cfg["types"], commits.revert_target(message)
    inner = commits.parse(reverted) if reverted else None
    if inner and types.get(inner.type):  # it reverts a released commit: a change users see
        category = "Removed" if types[inner.type] == "Added" else "Changed"
        return _make(category, inner.scope, f'Revert "{inner.description}"', "revert", sha, [])
    category = types.get("revert") if reverted else cfg["changelog"].get("other_heading")
    text = commits.subject(message)
    return _make(category, None, text, None, sha, _numbers(text)) if category else None


def _numbers(text: str) -> list[int]:
    return [int(n) for n in _NUMBER.findall(text)] if "#" in text else []


def _make(category: str, scope: str | None, text: str, kind: str | None, sha: str, refs: list[int],
          breaking: bool = False, breaking_text: str | None = None) -> dict[str, Any]:
    return {"category": category, "scope": scope, "text": text, "breaking": breaking, "breaking_text": breaking_text,
            "refs": list(dict.fromkeys(refs)) if len(refs) > 1 else refs, "commit": sha, "type": kind}


def _target(args: argparse.Namespace, repo: Path, prefix: str) -> tuple[semver.Version, str, bool] | None:
    """The version whose section to write, its tag name, and whether it came from the default document."""
    value, path, default = args.version, args.version_file, repo / "build" / "release" / "version.json"
    if value is not None and value.lower() == UNRELEASED.lower():
        return None
    if value is not None and path is None:
        bare = value[len(prefix):] if prefix and value.startswith(prefix) else value
        if semver.is_valid(bare):
            return semver.parse(bare), prefix + bare, False
        if value != "-" and not Path(value).is_file():
            raise BadInput(f"--version: not a SemVer version, 'unreleased', '-' or a version document: {value!r}")
        path = value
    if path is None and not default.is_file():
        return None
    doc, where = documents.read(path or default, "version"), str(path or default)
    version = semver.parse(doc.get("version", ""), where)  # BadInput when it has none
    return version, str(doc.get("tag") or doc.get("tag_name") or f"{prefix}{version}"), path is None


def _settings(repo: Path, explicit: str | None) -> tuple[dict[str, Any], str]:
    cfg = dict(settings.load(repo, explicit))
    prefix = config.section(config.load(repo, explicit), "versioning").get("tag_prefix", "v")
    if not isinstance(prefix, str):
        raise BadInput("[versioning] tag_prefix must be a string", "config")
    tokens = ["BREAKING[ -]CHANGE", "changelog", *map(re.escape, cfg.get("footers") or {})]
    cfg["hint"] = re.compile(rf"^(?:{'|'.join(tokens)})(?:: | #)", re.IGNORECASE | re.MULTILINE)
    cfg["footer_map"] = {k.lower(): v for k, v in (cfg.get("footers") or {}).items() if v}
    return cfg, prefix


def _run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve() if args.repo else git.toplevel()
    if git.head(repo) is None:
        raise BadInput("the repository has no commits yet: nothing to write a changelog from", str(repo))
    cfg, prefix = _settings(repo, args.config)
    ccfg, unreleased = cfg["changelog"], str(cfg["changelog"].get("unreleased_heading") or UNRELEASED)
    to_stdout = args.changelog == "-"
    path = Path(args.changelog) if args.changelog and not to_stdout else repo / "CHANGELOG.md"
    before, old = keepachangelog.read(path, unreleased, sections=not (args.full or to_stdout))  # bad input: fail early
    found = _target(args, repo, prefix)
    h = History(repo, prefix, cfg)
    target = found[:2] if found else None
    if found and h.tags and found[0] < h.tags[-1].version and all(t.version != found[0] for t in h.tags):
        if not found[2]:
            raise BadInput(f"version {found[0]} is older than the latest tag {h.tags[-1].name}")
        cli.warn(f"ignoring build/release/version.json: {found[0]} is older than the tag {h.tags[-1].name}")
        target = None
    # Unreleased, the --version section, and releases newer than the file's (new tags); not those it starts after
    newest = max((s.version for s in old.sections if s.version), default=None)
    chosen = [s for s in plan(h, target, bool(ccfg.get("fold_prereleases", True)))
              if s.key in ("unreleased", str(target[0]) if target else "") or s.version is not None
              and not old.find(s.version) and (newest is None or s.version > newest)]
    versions: list[dict[str, Any]] = [{"version": str(s.version) if s.version else UNRELEASED, "date": s.date,
                                       "tag": s.tag, "previous_tag": s.previous, "url": None,
                                       "entries": entries(h, s.members)} for s in chosen]
    for release in versions:
        release["url"] = keepachangelog.link(release, ccfg)
    body = {"repo_url": ccfg.get("repo_url") or None, "tag_prefix": prefix, "versions": versions}
    document = documents.dumps_soon("changes", body, sum(len(v["entries"]) for v in versions) >= FORK_ENTRIES)
    new = [(s.key, keepachangelog.render_section(v, ccfg, unreleased), v["url"])
           for s, v in zip(chosen, versions, strict=True)]
    result = keepachangelog.update(old, new, {v for s in chosen for v in s.folded}, unreleased)
    if args.dry_run:
        diff = difflib.unified_diff((before or "").splitlines(True), result.splitlines(True), str(path), str(path))
        (sys.stderr if args.json else sys.stdout).writelines(diff)
    elif to_stdout:
        sys.stdout.write(result)
    elif result != before:
        documents.write_text_atomic(path, result)
    del h, new, result, before, old  # room for the document's text: 13 MB for 100,000 commits
    text = document()  # --out FILE, else (not with --dry-run) the default place; the same bytes for --json
    dest = args.out if args.out or args.dry_run else repo / "build" / "release" / "changes.json"
    if dest not in (None, "-"):
        documents.write_text_atomic(dest, text)
    sys.stdout.write(text if args.json or args.out == "-" else "")
    cli.info(args, f"gen-changelog: {'stdout' if to_stdout else path}: " + ", ".join(
        f"{v['version']} ({len(v['entries'])})" for v in versions[:4]) + (" ..." if len(versions) > 4 else ""), level=1)
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="gen-changelog")
    parser.add_argument("--full", action="store_true", help="regenerate the whole changelog from every tag")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="X", help="write the section of version X (or read it from a version "
                       "document: FILE or '-'; 'unreleased' ignores build/release/version.json)")
    which.add_argument("--version-file", metavar="FILE", help="a releng/version document naming the version")
    parser.add_argument("--changelog", metavar="FILE", help="default: CHANGELOG.md at the repo root; '-': print it")
    return cli.run(_run, parser.parse_args(argv), no_gc=True)  # ~1M short-lived objects on 100k commits


if __name__ == "__main__":
    raise SystemExit(main())
