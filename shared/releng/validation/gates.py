"""The release gates that look at the repository (validate-release): git, version, changelog, compatibility, tests
and code freeze, and `run_all`, which runs every gate of the checklist for a profile.

What the gates are, how blocking each is per profile and the context they read live in
releng.validation.checklist; the artifact gates (integrity, contents, rebuild, the packaged program) live in
releng.validation.artifact_gates. Both import the checklist; only this module, which picks the function for each
gate, imports the artifact gates, so neither imports the other back.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable
from typing import Any

from releng import git, semver
from releng.errors import BadInput, RelengError
from releng.validation import artifact_gates as ga
from releng.validation.checklist import BLOCKING, GATES, OPT_IN, Context, Outcome


def run_all(ctx: Context) -> list[dict[str, Any]]:
    """Run every gate of the profile, in order, each whatever the others said; return the gate results."""
    checks: dict[str, Callable[[Context], Outcome]] = {
        "clean-tree": _clean_tree, "branch": _branch, "version-agrees": _version_agrees,
        "no-skipped-version": _no_skipped_version, "tag": _tag, "changelog": _changelog,
        "compatibility": _compatibility, "tests": _tests, "artifacts": ga.integrity,
        "package-contents": ga.contents, "rebuild": lambda c: c.rebuild() if c.rebuild else (None, []),
        "smoke-run": ga.smoke_run, "code-freeze": _code_freeze}
    results = []
    for gate_id, title, what, severity in GATES:
        kind = severity.get(ctx.profile)
        if kind is None:
            ok, evidence = None, [f"not in the {ctx.profile} profile"]
        elif kind == OPT_IN and ctx.rebuild is None:
            ok, evidence = None, ["not requested (--rebuild)"]
        else:
            try:
                ok, evidence = checks[gate_id](ctx)
            except (RelengError, OSError, subprocess.SubprocessError) as e:
                ok, evidence = False, [str(e)]
        blocking = kind in (BLOCKING, OPT_IN)
        result = "skip" if ok is None else "pass" if ok else "fail" if blocking else "warn"
        results.append({"id": gate_id, "title": title, "checks": what, "blocking": blocking, "result": result,
                        "evidence": evidence})
    return results


def _clean_tree(ctx: Context) -> Outcome:
    dirty = git.dirty_files(ctx.repo)
    if dirty:
        return False, [f"{len(dirty)} tracked file(s) with uncommitted changes: {', '.join(dirty[:5])}"]
    return True, ["no uncommitted changes to tracked files"]


def _allowed_branch(profile: str, name: str, main: str) -> bool:
    if profile == "hotfix":
        return name.startswith("hotfix/")
    return name == main or (profile == "rc" and name.startswith("release/"))


def _branch(ctx: Context) -> Outcome:
    main = ctx.settings["main_branch"]
    wanted = {"release": main, "rc": f"{main} or release/*", "hotfix": "hotfix/*"}[ctx.profile]
    if ctx.branch is not None:
        ok = _allowed_branch(ctx.profile, ctx.branch, main)
        return ok, [f"on {ctx.branch}" + ("" if ok else f"; a {ctx.profile} is made from {wanted}")]
    refs = git.run(ctx.repo, "for-each-ref", "--contains", "HEAD", "--format=%(refname)", "refs/heads",
                   "refs/remotes").split()
    names = [r.removeprefix("refs/heads/") if r.startswith("refs/heads/") else r.split("/", 3)[-1] for r in refs]
    good = [n for n in names if _allowed_branch(ctx.profile, n, main)]
    if good:
        return True, [f"detached HEAD, contained in {good[0]}"]
    return False, [f"detached HEAD not contained in {wanted} (branches containing it: {', '.join(names) or 'none'})"]


def _version_agrees(ctx: Context) -> Outcome:
    from releng.versioning import version_files

    v, problems, seen = ctx.version, [], []
    for spec in ctx.version_files:
        try:
            found = version_files.read(spec, version_files.read_text(ctx.repo, spec))
        except BadInput as e:
            problems.append(str(e))
            continue
        said = found.full if found.full is not None else found.core
        odd = [f"{name} says {x}" for name, x in found.fields if x.core != v.core]  # one field of several drifted
        whole = (found.full is not None and str(found.full) != str(v)) or \
            (found.core is not None and found.core != v.core)
        if odd and not whole:
            problems.append(f"{spec.path}: {', '.join(odd)}, the release is {v}")
        elif whole:
            problems.append(f"{spec.path} says {said}, the release is {v}")
        else:
            seen.append(spec.path)
    documents = [ctx.version_doc] if ctx.version_doc else []
    documents.append(("artifacts.json", ctx.artifacts_doc))
    for name, doc in documents:
        if str(doc.get("version")) != str(v):
            problems.append(f"{name} says {doc.get('version')}, the release is {v}")
        if doc.get("commit") and doc["commit"] != ctx.head:
            problems.append(f"{name} was made from commit {str(doc['commit'])[:12]}, HEAD is {ctx.head[:12]}")
        seen.append(name)
    at_head = [t for t in ctx.tags if t.commit == ctx.head]
    problems += [f"tag {t.name} at HEAD names another version than {v}" for t in at_head if t.version != v]
    seen += [t.name for t in at_head if t.version == v]
    if problems:
        return False, problems
    return True, [f"{v} in {', '.join(seen)}"]


def _previous(ctx: Context) -> git.Tag | None:
    older = [t for t in ctx.tags if t.version < ctx.version]
    return older[-1] if older else None  # ctx.tags is sorted by precedence


def _no_skipped_version(ctx: Context) -> Outcome:
    from releng.versioning import bump  # the rule bump-version makes releases by

    v, prev, hotfix = ctx.version, _previous(ctx), ctx.profile == "hotfix"
    if prev is None:
        return True, [f"{v} is the first release: no earlier release tag"]
    if bump.is_successor(prev.version, v, hotfix=hotfix):
        return True, [f"{v} follows {prev.name}"]
    return False, [f"{v} skips a version after {prev.name}: next is "
                   + " or ".join(str(n) for n in bump.next_releases(prev.version, hotfix=hotfix))
                   + (" (a hotfix is a patch release)" if hotfix else ", or a prerelease of one")]


def _tag(ctx: Context) -> Outcome:
    tag = next((t for t in ctx.tags if t.name == ctx.tag_name), None)
    if tag is None:
        return False, [f"no tag {ctx.tag_name} (bump-version --tag makes it)"]
    problems = []
    if not tag.annotated:
        problems.append(f"{tag.name} is a lightweight tag: releases need an annotated one (git tag -a)")
    if tag.commit != ctx.head:
        problems.append(f"{tag.name} points at {tag.commit[:12]}, HEAD is {ctx.head[:12]}")
    return (False, problems) if problems else (True, [f"{tag.name} is annotated and points at HEAD {ctx.head[:12]}"])


def _changelog(ctx: Context) -> Outcome:
    from releng import keepachangelog

    name = ctx.settings["changelog"]
    text, log = keepachangelog.read(ctx.repo / name)
    if text is None:
        return False, [f"no {name} (gen-changelog writes it)"]
    section = log.find(ctx.version)
    if section is None:
        return False, [f"{name} has no section for {ctx.version} (run gen-changelog)"]
    if section.date is None or section.yanked:
        return False, [f"{name}'s section for {ctx.version} " + ("is yanked" if section.yanked else "has no date")]
    return True, [f"{name}: ## [{ctx.version}] - {section.date}"]


def _compatibility(ctx: Context) -> Outcome:
    if ctx.matrix is None:
        return False, ["no compatibility matrix: set [validation] compatibility_matrix or add "
                       "versioning/compatibility_matrix.json"]
    name, doc = ctx.matrix
    if ctx.project and doc.get("product") != ctx.project:
        return False, [f"{name} is the matrix of {doc.get('product')!r}, not of {ctx.project!r}"]
    entry = next((e for e in doc["releases"] if semver.parse(e["version"]) == ctx.version), None)
    if entry is None:
        return False, [f"{name} has no entry for {ctx.version} (add one; check-compat validate)"]
    return True, [f"{name} lists {ctx.version} ({entry.get('date')}, {', '.join(sorted(entry['platforms']))})"]


def _tests(ctx: Context) -> Outcome:
    if ctx.junit is not None:
        name, t = ctx.junit
        line = f"{name}: {t['tests']} tests, {t['failures']} failures, {t['errors']} errors, {t['skipped']} skipped"
        if t["failed"]:
            line += "; failed: " + ", ".join(t["failed"][:5])
        return t["tests"] > 0 and not t["failures"] and not t["errors"], [line]
    argv = ctx.settings["test_command"]
    if argv is None:
        return False, ["no evidence the tests passed: set [validation] test_command or pass --junit FILE"]
    shown = " ".join(argv)
    try:
        done = subprocess.run(argv, cwd=ctx.repo, capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL, timeout=ctx.settings["test_timeout"])
    except FileNotFoundError:
        return False, [f"cannot run `{shown}`: {argv[0]} not found"]
    except subprocess.TimeoutExpired:
        return False, [f"`{shown}` did not finish in {ctx.settings['test_timeout']} s"]
    tail = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-3:]
    return done.returncode == 0, [f"`{shown}` exited {done.returncode}", *tail]


def _code_freeze(ctx: Context) -> Outcome:
    from releng import commits

    branch = ctx.branch or ""
    if re.fullmatch(r"release/[0-9]+\.[0-9]+(\.x)?", branch):
        main = ctx.settings["main_branch"]
        base = next((out.strip() for ref in (main, f"origin/{main}")
                     if (out := git.run(ctx.repo, "merge-base", "HEAD", ref, check=False)).strip()), None)
        if base is None:
            return False, [f"cannot find where {branch} left {main}: fetch {main}"]
        since, revs, start = f"{branch} left {main} at {base[:12]}", [f"{base}..HEAD"], 0
    elif ctx.settings["freeze_date"] is not None:
        start = ctx.settings["freeze_date"]
        day = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if start > dt.datetime.now(dt.UTC).timestamp():
            return None, [f"no code freeze in effect yet: it begins {day}"]
        prev = _previous(ctx)
        since, revs = f"freeze_date {day}", [f"{prev.commit}..HEAD" if prev else "HEAD"]
    else:
        return None, ["no code freeze in effect: not on a release/X.Y branch and no [validation] freeze_date"]
    allowed = set(ctx.settings["freeze_allowed"])
    release_prefix = ctx.release_commit.split("{version}")[0]
    landed = [e for e in git.log(ctx.repo, revs) if e.timestamp >= start and not e.is_merge]
    bad = []
    for e in landed:
        subject = commits.subject(e.message)
        header = commits.HEADER.fullmatch(subject)
        allowed_kind = header is not None and header["type"].lower() in allowed and not header["bang"]
        if not allowed_kind and not (release_prefix and subject.startswith(release_prefix)):
            bad.append(f"{e.sha[:12]} {subject}")
    if bad:
        return False, [f"{len(bad)} commit(s) other than {'/'.join(sorted(allowed))} since the freeze ({since}):",
                       *bad[:10]]
    return True, [f"{len(landed)} commit(s) since the freeze ({since}), all {'/'.join(sorted(allowed))} or the "
                  "release commit"]
