"""Bump the version by hand or from the Conventional Commits since the last release tag.

  bump-version auto                 infer the bump: breaking -> major, feat -> minor, fix/perf/... -> patch
  bump-version minor --pre-id rc    1.2.3 -> 1.3.0-rc.1; 1.3.0-rc.1 prerelease -> 1.3.0-rc.2; release -> 1.3.0
  bump-version auto --commit --tag  also commit "chore(release): X" and make the annotated tag vX
  bump-version auto                 on 2.0.0-beta.3: 2.0.0, from the commits since the last final release
  bump-version auto --pre-id beta   on 2.0.0-beta.3: 2.0.0-beta.4 (--pre-id rc: 2.0.0-rc.1)

A release commit that carries its changelog: decide, write the notes, then commit and tag both:
  bump-version auto --dry-run --out build/release/version.json
  gen-changelog --version-file build/release/version.json
  bump-version auto --commit --tag --include CHANGELOG.md

Rewrites the version in every file listed under [[versioning.files]] in releng.toml and nowhere else, keeps the
numeric fields hosts read (VERSIONINFO, Info.plist, AudioUnit version, build number) in step, refuses to go
backwards or skip a version, and writes the releng/version document (default build/release/version.json).
Prints the new version on stdout. Exit 1 when `auto` finds nothing releasable since the last tag.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from releng import git, semver, tag_history  # cli (argparse) and config are imported in main(), once git is walking
from releng.errors import BadInput, RelengError

if TYPE_CHECKING:
    import argparse
    import subprocess
    from pathlib import Path

KINDS = ("major", "minor", "patch", "prerelease", "release", "auto")


def _settings(repo: Path, explicit: str | None) -> tuple[dict[str, Any], str, str | None]:
    from releng import config
    from releng.versioning import bump

    cfg = config.load(repo, explicit)
    where = str(config.find(repo, explicit) or "defaults")
    project = cfg.get("project", {}).get("name") if isinstance(cfg.get("project"), dict) else None
    return bump.settings(cfg, where), where, project


def _start_checks(repo: Path) -> list[subprocess.Popen[str]]:
    return [git.start(repo, *a) for a in (("rev-parse", "--is-shallow-repository", "--verify", "-q", "HEAD"),
                                          ("symbolic-ref", "-q", "--short", "HEAD"),
                                          ("status", "--porcelain=v1", "-z", "--untracked-files=no"))]


def _check_repository(repo: Path, args: argparse.Namespace, probes: list[subprocess.Popen[str]]) -> None:
    (has_head, state, _), (_, branch, _), (_, status, _) = [git.finish(p) for p in probes]
    if state.startswith("true"):
        raise BadInput("shallow clone: tags and history may be missing, so the version cannot be decided "
                       "(run: git fetch --unshallow --tags)", str(repo))
    if has_head != 0:
        raise BadInput("the repository has no commits yet", str(repo))
    if (args.commit or args.tag) and not branch.strip():
        raise BadInput("detached HEAD: check out a branch before --commit or --tag", str(repo))
    dirty = [e[3:] for e in status.split("\0") if e and e[3:] not in set(args.include)]
    if dirty and not args.allow_dirty:
        raise BadInput(f"working tree has uncommitted changes ({', '.join(dirty[:3])}"
                       f"{', ...' if len(dirty) > 3 else ''}); commit them or pass --allow-dirty", str(repo))


def _run(args: argparse.Namespace, started: list[tag_history.HistoryQuery] | None = None) -> int:
    from releng import cli

    repo = git.toplevel(args.repo or ".")
    settings, where, project = _settings(repo, args.config)
    prefix = settings["tag_prefix"]
    # git walks the history while this process imports and reads the version files.
    started = [] if started is None else started  # main() stops what is still running, whatever happens
    query, probes = (started[0] if started else None), _start_checks(repo)
    if query is None or (query.repo, query.prefix) != (args.repo or ".", prefix):
        if query is not None:
            query.close()
        query = tag_history.HistoryQuery(repo, prefix)  # the early guess was wrong: another prefix, --repo abbreviated
        started.append(query)
    from releng import commits, times  # noqa: F401 - while git works; commits is used by bump.decide
    from releng.versioning import bump, version_files

    bump.require_files(settings, None if where == "defaults" else where, repo)
    specs = [version_files.Spec.from_config(e, where) for e in settings["files"]]
    _check_repository(repo, args, probes)
    texts = {s.path: version_files.read_text(repo, s, where) for s in specs}  # each inside the repository
    found = [version_files.read(s, texts[s.path]) for s in specs]
    full, core = version_files.agreed_version(found)
    history = query.result()
    for warning in history.warnings:
        cli.warn(warning)
    last = history.last
    current = bump.current_version(full, core, last, settings["initial_version"])
    line = (history.last_final, history.since if history.since_final is None else history.since_final)
    kind, new, counted = bump.decide(args.kind, current, last, history.since, settings, args.pre_id, line)
    if new is None:
        cli.info(args, f"nothing releasable since {last.name if last else 'the start'}: no feat, fix or breaking "
                 "commits", level=-1)  # the answer, not progress: shown with -q too (issue 13), hidden by -qq
        return cli.NEGATIVE
    after = last.version if last else None
    if f"{prefix}{new}" in history.tags:
        new, after = _hotfix_version(repo, prefix, new, history.tags)
    bump.check_successor(after, new)
    build = bump.next_build((f.build for f in found), len(history.tags))
    numbers = version_files.numeric(new, build, strict=False)

    changes = {s.path: version_files.rewrite(s, texts[s.path], new, build) for s in specs}
    tag_name = f"{prefix}{new}"
    body: dict[str, Any] = {
        "project": project, "previous": str(current) if last or full or core else None, "version": str(new),
        "bump": kind, "tag": None, "tag_name": tag_name, "commit": None, "build_number": build,
        "numeric": numbers.as_dict(),
        "files": [{"path": s.path, "format": s.format, "changed": changes[s.path] != texts[s.path]}
                  for s in specs],
        "commits": counted, "created_at": times.now_text(),
        "dry_run": bool(args.dry_run),
    }
    if args.dry_run:
        if args.quiet == 0:
            _show_diff(texts, changes)
        cli.info(args, f"would bump {current} -> {new} ({kind}), build {build}"
                 + (", commit" if args.commit else "") + (f", tag {tag_name}" if args.tag else ""))
    else:
        for path, text in changes.items():
            if text != texts[path]:
                version_files.write(repo / path, text)
        if args.commit:
            paths = [s.path for s in specs] + list(args.include)
            body["commit"] = _commit(repo, paths, settings["commit_message"], new)
        if args.tag:
            _tag(repo, tag_name, new, _listed(counted, line[1]), sign=args.sign)
            body["tag"] = tag_name
        cli.info(args, f"bumped {current} -> {new} ({kind}), build {build}")
    _output(args, repo, body)
    return cli.OK


def _hotfix_version(repo: Path, prefix: str, new: semver.Version,
                    tags: Any) -> tuple[semver.Version, semver.Version]:
    """A patch whose tag exists (a rolled-back release, issue 13): on the branch `hotfix/X.Y.Z` that
    rollback-release names, X.Y.Z when it is the next free patch on that line (then checked as following the taken
    tag before it); anywhere else BadInput, naming the version and branch to use."""
    free = new
    while f"{prefix}{free}" in tags:
        free = semver.bump(free, "patch")
    if new.is_prerelease or free == new:
        raise BadInput(f"tag {prefix}{new} already exists")
    branch = git.run(repo, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
    if branch == f"hotfix/{free}":
        return free, semver.Version(free.major, free.minor, free.patch - 1)
    raise BadInput(f"tag {prefix}{new} already exists (a rolled-back release?): the next free patch is {free}; "
                   f"make it on the branch hotfix/{free} (git branch -m hotfix/{free}), then rerun")


def _listed(counted: list[dict[str, Any]], since: Sequence[Any]) -> list[dict[str, Any]]:
    """The tag message lists what the changelog lists: a commit and its revert inside the release cancel out
    (issue 13), by the `This reverts commit <sha>` lines git writes."""
    from releng import commits

    shas, dropped, earlier = [e.sha for e in since], set[str](), {}
    for e in since:  # newest first: a revert of a revert frees the original before its turn
        if e.sha in dropped or not (targets := commits.reverted_shas(e.message)):
            continue
        hits = [s for t in targets for s in shas if s.startswith(t) and s not in dropped]
        if hits:
            dropped.update([*hits, e.sha])
        else:  # it takes back a commit released earlier: the changelog lists it, so does the tag
            earlier[e.sha] = {"sha": e.sha, "subject": commits.subject(e.message)}
    by_sha = {c["sha"]: c for c in counted} | earlier
    return [by_sha[s] for s in shas if s in by_sha and s not in dropped]


def _commit(repo: Path, paths: list[str], template: str, new: semver.Version) -> str | None:
    if paths:
        git.run(repo, "add", "--", *paths)
    git.run(repo, "commit", "-q", "--allow-empty", "-m", template.format(version=new))
    return git.head(repo)


def _tag(repo: Path, name: str, new: semver.Version, counted: list[dict[str, Any]], sign: bool) -> None:
    lines = [f"Release {new}", ""] + [f"- {c['subject']} ({c['sha'][:8]})" for c in counted]
    git.run(repo, "tag", "-s" if sign else "-a", name, "-F", "-", input="\n".join(lines).rstrip() + "\n")


def _show_diff(before: dict[str, str], after: dict[str, str]) -> None:
    import difflib

    for path in before:
        sys.stderr.writelines(difflib.unified_diff(
            before[path].splitlines(keepends=True), after[path].splitlines(keepends=True),
            f"a/{path}", f"b/{path}"))


def _output(args: argparse.Namespace, repo: Path, body: dict[str, Any]) -> None:
    from releng import cli

    if not args.out and not args.dry_run:
        from releng import documents

        documents.write(repo / "build" / "release" / "version.json", "version", body)
    cli.emit(args, "version", body)
    if not args.json and args.out != "-" and args.quiet < 2:
        print(body["version"])


def _early_query(argv: list[str]) -> list[tag_history.HistoryQuery]:
    """Start git on the history before argparse is even imported (start-up saved on the hot path: bench/README.md): in
    the --repo the command line names, for HistoryQuery's default tag prefix (bump.DEFAULTS' too, not imported
    yet); _run starts again when the guess was wrong."""
    repo = "."
    for i, arg in enumerate(argv):
        if arg == "--repo" and i + 1 < len(argv):
            repo = argv[i + 1]
        elif arg.startswith("--repo="):
            repo = arg[len("--repo="):]
    try:
        return [] if "-h" in argv or "--help" in argv else [tag_history.HistoryQuery(repo)]
    except RelengError:  # git missing: _run says so, with its exit code
        return []


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    started = _early_query(argv)
    try:
        return _main(argv, started)
    finally:
        for query in started:
            query.close()


def _main(argv: list[str], started: list[tag_history.HistoryQuery]) -> int:
    from releng import cli

    parser = cli.parser(__doc__, prog="bump-version")
    cli.add_output(parser, "the releng/version document")
    cli.add_dry_run(parser)
    cli.add_repository(parser)
    parser.add_argument("kind", choices=KINDS, help="the bump, or auto to infer it from the commits")
    parser.add_argument("--pre-id", metavar="ID", help="open or continue a prerelease with this label (rc, beta)")
    parser.add_argument("--commit", action="store_true", help='commit the version files ("chore(release): X")')
    parser.add_argument("--tag", action="store_true", help="make the annotated tag vX listing the changes")
    parser.add_argument("--sign", action="store_true", help="sign the tag (git tag -s)")
    parser.add_argument("--include", action="append", default=[], metavar="PATH",
                        help="also commit PATH (e.g. CHANGELOG.md written for this version); may be dirty")
    parser.add_argument("--allow-dirty", action="store_true", help="allow uncommitted changes")
    args = parser.parse_args(argv)
    if args.sign:
        args.tag = True
    return cli.run(lambda a: _run(a, started), args)


if __name__ == "__main__":
    raise SystemExit(main())
