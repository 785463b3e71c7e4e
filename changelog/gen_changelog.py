"""Write CHANGELOG.md (Keep a Changelog 1.1.0) and the releng/changes document from git history and SemVer tags.

  gen-changelog                   rewrite the Unreleased section and add sections for new tags; keep the rest
  gen-changelog --version 1.3.0   write [1.3.0]: the commits since the last tag, dated today (or by its tag)
  gen-changelog --version-file build/release/version.json   the same, the version from bump-version's document
  gen-changelog --full            regenerate the whole file from every tag
  gen-changelog --json            also print the releng/changes document (entries per version)

changelog_config.yml maps commit types and footers to categories, always in Keep a Changelog's order; breaking
changes come first in their category; merge commits are left out, not their branches' commits; a revert and what it
reverts cancel out within a release (any form: git's `Revert`/`Reapply`, `revert:`, `revert(scope):`);
`Changelog: text` replaces the subject (`skip` drops it); prereleases fold into their release.
build/release/version.json, if there, names the default --version. Every section a run doesn't regenerate is
kept byte for byte; a file written by git-cliff, conventional-changelog, release-please or commitizen is adopted,
new sections in its heading style.
Update mode reads only the history after the file's newest release when that is all it needs (see
conventional_commits.md). Versions in the config's `yanked` list or rolled back in `--yanked-from FILE`
(rollback-release's rollback_log.jsonl) get `[YANKED]` at the end of their heading.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from releng import cli, config, documents, files, git, keepachangelog, release_notes, semver
from releng.changelog import entries, history, settings
from releng.errors import BadInput, ExternalError

UNRELEASED = "Unreleased"
FORK_ENTRIES = 20_000  # a changes document this big is encoded by a forked child while the changelog is rendered


def _history(repo: Path, listing: Future[git.Tags], cfg: dict[str, Any], since: str | None) -> history.History:
    """The commits reachable from HEAD (one `git log`), with the tag `listing` running beside it; prints the warnings.

    `since`: the tag of a release the sections to write are all newer than (`_newest`). Then only the history after
    it is read (a changelog of 2,000 releases updated for the next one reads the commits of one), and the full one
    after all when that could differ: the tag is not in HEAD's history, or a newer tag is not in what was read
    (inside the release, or on another branch: only the full history says which).
    """
    h = _since(repo, since, listing.result, cfg) if since is not None else None
    if h is None:
        h = history.History(git.log(repo), listing.result, cfg)
    for warning in [*listing.result().warnings, *h.warnings]:
        cli.warn(warning)
    return h


def _since(repo: Path, tag: str, listing: Callable[[], git.Tags], cfg: dict[str, Any]) -> history.History | None:
    """The history after release `tag`, with the commits its reverts name from before it; None: read it all."""
    ref = f"refs/tags/{tag}"
    try:
        git.run(repo, "merge-base", "--is-ancestor", ref, "HEAD")  # exit 1: not an ancestor; 128: no such tag
    except ExternalError:
        return None
    h = history.History(git.log(repo, ["HEAD", f"^{ref}"]), listing, cfg, since=tag)
    if h.base is None or h.elsewhere:
        return None
    asked = set[str]()
    for _ in range(2):  # a revert, and what the commit it reverts reverted (a revert of a revert lists the original)
        missing = [sha for sha in h.unknown_reverted() if sha not in asked]
        if not missing:
            break
        asked.update(missing)  # hex only (`history.reverted`): never an option; unknown ones git leaves out
        h.add_reverted(git.log(repo, missing, "--no-walk=unsorted", "--ignore-missing"))
    return h


def _newest(old: keepachangelog.Changelog, target: semver.Version | None, fold: bool) -> semver.Version | None:
    """The release the history to read starts after, when every section to write is newer than the changelog's
    (no older --version asked for): its newest release, or its newest final one when prereleases fold (a release
    folds the commits of its prereleases, the file's among them)."""
    versions = [s.version for s in old.sections if s.version]
    if not versions or (target is not None and not target > max(versions)):
        return None
    return max((v for v in versions if not (fold and v.is_prerelease)), default=None)


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
    cfg = entries.rules(settings.load(repo, explicit))
    prefix = config.section(config.load(repo, explicit), "versioning").get("tag_prefix", "v")
    if not isinstance(prefix, str):
        raise BadInput("[versioning] tag_prefix must be a string", "config")
    return cfg, prefix


LOG_CAP = 64 << 20


def _rolled_back(path: str) -> set[str]:
    """The versions a rollback log (rollback-release's rollback_log.jsonl, copied from a server) withdrew: each
    line's `from`. The log lives on the servers, so gen-changelog reads it only when given; BadInput if malformed."""
    import json

    out = set[str]()
    for n, line in enumerate(files.read_capped(path, LOG_CAP, "rollback log").decode("utf-8", "replace")
                             .splitlines(), 1):
        if not line.strip():
            continue
        try:
            version = json.loads(line).get("from")
        except (ValueError, AttributeError):
            raise BadInput("not a rollback log line (JSON object with a 'from' version)", f"{path}:{n}") from None
        if not isinstance(version, str) or not semver.is_valid(version.removeprefix("v")):
            raise BadInput(f"rollback log line names no version in 'from': {version!r}", f"{path}:{n}")
        out.add(version.removeprefix("v"))
    return out


def _run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve() if args.repo else git.toplevel()
    if git.full_head(repo) is None:  # a shallow clone: exit 2, naming the fix
        raise BadInput("the repository has no commits yet: nothing to write a changelog from", str(repo))
    cfg, prefix = _settings(repo, args.config)
    ccfg, unreleased = cfg["changelog"], str(cfg["changelog"].get("unreleased_heading") or UNRELEASED)
    to_stdout = args.changelog == "-"
    path = Path(args.changelog) if args.changelog and not to_stdout else repo / "CHANGELOG.md"
    with ThreadPoolExecutor(1) as pool:  # waits for the listing on leaving: no thread left (dumps_in_child may fork)
        listing = pool.submit(git.tags, repo, prefix)  # beside the rest: it takes a while (bench/README.md)
        before, old = keepachangelog.read(path, unreleased, sections=not (args.full or to_stdout))  # bad: fail early
        yanked = {*ccfg.get("yanked", ()), *(_rolled_back(args.yanked_from) if args.yanked_from else ())}
        found, fold = _target(args, repo, prefix), bool(ccfg.get("fold_prereleases", True))
        newest = None if args.full or to_stdout else _newest(old, found[0] if found else None, fold)
        h = _history(repo, listing, cfg, f"{prefix}{newest}" if newest else None)
    target = found[:2] if found else None
    if found and h.stale(found[0]):
        if not found[2]:
            raise BadInput(f"version {found[0]} is older than the latest tag {h.tags[-1].name}")
        cli.warn(f"ignoring build/release/version.json: {found[0]} is older than the tag {h.tags[-1].name}")
        target = None
    today = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time()) if target else 0  # reproducible builds' "now"
    planned = history.plan(h, target, fold, today)
    chosen = history.to_write(planned, target[0] if target else None, old)
    versions = history.versions(h, chosen)
    for release in versions:
        release["url"] = release_notes.link(release, ccfg)
    body = {"repo_url": ccfg.get("repo_url") or None, "tag_prefix": prefix, "versions": versions}
    fork = sum(len(v["entries"]) for v in versions) >= FORK_ENTRIES
    with documents.dumps_in_child("changes", body, fork) as document:  # encoded aside while the changelog renders
        new = [(s.key, release_notes.render_section(v, ccfg, unreleased, old.style, s.key in yanked), v["url"])
               for s, v in zip(chosen, versions, strict=True)]
        result = keepachangelog.update(old, new, {v for s in chosen for v in s.folded}, unreleased, yanked)
        if args.dry_run:
            diff = difflib.unified_diff((before or "").splitlines(True), result.splitlines(True), str(path),
                                        str(path))
            (sys.stderr if args.json else sys.stdout).writelines(diff)
        elif to_stdout:
            sys.stdout.write(result)
        elif result != before:
            documents.write_text_atomic(path, result)
        dest = args.out if args.out or args.dry_run else repo / "build" / "release" / "changes.json"
        if dest not in (None, "-"):  # --out FILE, else (not with --dry-run) the default place
            with documents.atomic_writer(dest) as f:
                document.write_to(f)
        if args.json or args.out == "-":  # the same bytes
            sys.stdout.flush()
            document.write_to(sys.stdout.buffer)
            sys.stdout.buffer.flush()
    cli.info(args, f"gen-changelog: {'stdout' if to_stdout else path}: " + ", ".join(
        f"{v['version']} ({len(v['entries'])})" for v in versions[:4]) + (" ..." if len(versions) > 4 else ""), level=1)
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="gen-changelog")
    cli.add_output(parser, "the releng/changes document")
    cli.add_dry_run(parser)
    cli.add_repository(parser)
    parser.add_argument("--full", action="store_true", help="regenerate the whole changelog from every tag")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="X", help="write the section of version X (or read it from a version "
                       "document: FILE or '-'; 'unreleased' ignores build/release/version.json)")
    which.add_argument("--version-file", metavar="FILE", help="a releng/version document naming the version")
    parser.add_argument("--changelog", metavar="FILE", help="default: CHANGELOG.md at the repo root; '-': print it")
    parser.add_argument("--yanked-from", metavar="FILE", help="a rollback log (rollback_log.jsonl): the versions it "
                        "rolled back are marked [YANKED], as are those in the config's yanked list")
    return cli.run(_run, parser.parse_args(argv), no_gc=True)  # ~1M short-lived objects on 100k commits


if __name__ == "__main__":
    raise SystemExit(main())
