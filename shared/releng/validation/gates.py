"""The release checklist as data and as executable gates (validate-release): which gates exist, what each checks,
how blocking each is per profile, and the git, version, changelog, compatibility, test and code-freeze gates.

One list (GATES) feeds both the run and the generated validation/release_checklist.md, so the checklist a human
reads can never drift from what the tool checks. A gate returns True (pass), False (fail) or None (not applicable:
skip) with its evidence; the profile decides whether a failure blocks the release or only warns. The artifact
gates (integrity, contents, rebuild, the packaged program) live in releng.validation.artifact_gates.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import git, semver
from releng.errors import BadInput, RelengError

PROFILES = ("release", "rc", "hotfix")
BLOCKING, WARNING, OPT_IN = "blocking", "warning", "opt-in"
# (id, title, what it checks, {profile: BLOCKING | WARNING | OPT_IN}; a profile not named skips the gate)
GATES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("clean-tree", "Working tree clean", "no uncommitted changes to tracked files (untracked build output is fine)",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("branch", "Right branch", "releases from main, release candidates from main or release/*, hotfixes from "
     "hotfix/* (a detached HEAD counts when such a branch contains it)",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("version-agrees", "Version agrees everywhere", "the version files ([[versioning.files]]), the version "
     "document, the release tag at HEAD and the artifacts document name the same version, made from HEAD",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("no-skipped-version", "No skipped version", "the version is the next one after the previous release tag "
     "(a patch, minor or major bump or a prerelease of one; a hotfix only a patch)",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("tag", "Tag annotated at HEAD", "the tag `<prefix><version>` exists, is annotated (not lightweight) and "
     "points at HEAD", {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("changelog", "Changelog section", "CHANGELOG.md has a dated section `## [<version>] - YYYY-MM-DD`",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("compatibility", "Compatibility matrix entry", "the compatibility matrix (releng/compatibility) of this "
     "product lists the version", {"release": BLOCKING, "rc": WARNING}),
    ("tests", "Tests passed", "[validation] test_command (an argv list, run without a shell) exits 0, or the "
     "--junit report has tests and no failures or errors", {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("artifacts", "Artifacts intact and signed", "every artifact in artifacts.json is present with its size and "
     "sha256, agrees with SHA256SUMS, and SHA256SUMS.sig verifies with the trusted public key",
     {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("package-contents", "Package contents complete", "every archive holds what the contents manifest "
     "(package_contents.toml) requires for its platform and nothing it does not allow",
     {"release": BLOCKING, "rc": BLOCKING}),
    ("rebuild", "Rebuild byte-identical", "with --rebuild: build-package run again in a temp folder gives "
     "byte-identical artifacts", {"release": OPT_IN, "rc": OPT_IN}),
    ("smoke-run", "Packaged program runs", "the archive for this host unpacked into an empty folder: its program's "
     "`--version` prints the release version", {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}),
    ("code-freeze", "Code freeze respected", "on a release/X.Y branch (since it left main) or after [validation] "
     "freeze_date (since the previous tag): only fix, docs and test commits (and the release commit)",
     {"release": BLOCKING, "rc": BLOCKING}),
)
# Items only a person can tick; listed in the checklist and the report, never decided by the tool.
HUMAN: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("sign-off", "Release manager sign-off", "the release manager has read this report and approves the release",
     PROFILES),
    ("beta-report", "Beta testers' report", "the beta channel's testers reported no open blocker for this version",
     ("release",)),
    ("user-message", "User-facing message", "the release notes or announcement users will see are written and "
     "reviewed (what changed, what to do, known issues)", PROFILES),
)
DEFAULTS: dict[str, Any] = {"main_branch": "main", "changelog": "CHANGELOG.md", "compatibility_matrix": None,
                            "test_command": None, "test_timeout": 3600, "freeze_date": None,
                            "freeze_allowed": ["fix", "docs", "test"], "public_key": None}


@dataclass
class Context:
    """Everything the gates look at, gathered and checked before any gate runs (bad input is exit 2 then)."""

    repo: Path
    profile: str
    settings: dict[str, Any]  # [validation] merged over DEFAULTS
    version: semver.Version
    prefix: str = "v"
    project: str | None = None
    version_files: list[Any] = field(default_factory=list)  # version_files.Spec
    release_commit: str = "chore(release): {version}"
    version_doc: tuple[str, dict[str, Any]] | None = None  # (file name, document)
    artifacts_doc: dict[str, Any] = field(default_factory=dict)
    dist: Path = Path("dist")
    matrix: tuple[str, dict[str, Any]] | None = None
    junit: tuple[str, dict[str, Any]] | None = None
    public_key: bytes | None = None
    contents: Path | None = None  # the contents manifest
    packaging: dict[str, Any] = field(default_factory=dict)  # [packaging] settings that name paths in archives
    rebuild: Callable[[], tuple[bool | None, list[str]]] | None = None
    head: str = ""
    branch: str | None = None
    tags: list[git.Tag] = field(default_factory=list)

    @property
    def tag_name(self) -> str:
        return f"{self.prefix}{self.version}"


Outcome = tuple[bool | None, list[str]]


def settings(cfg: Mapping[str, Any], where: str) -> dict[str, Any]:
    """[validation] over DEFAULTS, checked: BadInput (exit 2) for a malformed value."""
    from releng import config

    s = config.merged(DEFAULTS, config.section(cfg, "validation", where))
    cmd = s["test_command"]
    if cmd is not None and (not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) and a for a in cmd)):
        raise BadInput("[validation] test_command must be a non-empty list of strings (argv, no shell)", where)
    if not isinstance(s["test_timeout"], int | float) or s["test_timeout"] <= 0:
        raise BadInput("[validation] test_timeout must be a positive number of seconds", where)
    if not isinstance(s["freeze_allowed"], list) or not all(isinstance(t, str) for t in s["freeze_allowed"]):
        raise BadInput("[validation] freeze_allowed must be a list of commit types", where)
    for key in ("main_branch", "changelog"):
        if not isinstance(s[key], str) or not s[key]:
            raise BadInput(f"[validation] {key} must be a non-empty string", where)
    s["freeze_date"] = freeze_start(s["freeze_date"], where)
    return s


def freeze_start(value: object, where: str) -> int | None:
    """[validation] freeze_date (a TOML date or datetime, or the same as text; dates are UTC midnight) as Unix time."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value \
                else dt.date.fromisoformat(value)
        except ValueError:
            raise BadInput(f"[validation] freeze_date {value!r} is not a date (YYYY-MM-DD) or RFC 3339 time",
                           where) from None
    if isinstance(value, dt.datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())
    raise BadInput("[validation] freeze_date must be a date", where)


def run_all(ctx: Context) -> list[dict[str, Any]]:
    """Run every gate of the profile, in order, each whatever the others said; return the gate results."""
    from releng.validation import artifact_gates as ga

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


def human_items(profile: str) -> list[dict[str, str]]:
    return [{"id": i, "title": t, "checks": c} for i, t, c, profiles in HUMAN if profile in profiles]


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
        if (found.full is not None and str(found.full) != str(v)) or (found.core is not None and found.core != v.core):
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
    v, prev = ctx.version, _previous(ctx)
    if prev is None:
        return True, [f"{v} is the first release: no earlier release tag"]
    last = prev.version
    kinds = ("patch",) if ctx.profile == "hotfix" else ("patch", "minor", "major")
    allowed = {semver.bump(last, k).core for k in kinds}
    if v.core in allowed or (last.is_prerelease and v.core == last.core and ctx.profile != "hotfix"):
        return True, [f"{v} follows {prev.name}"]
    return False, [f"{v} skips a version after {prev.name}: next is " + " or ".join(
        str(semver.bump(last, k)) for k in kinds) + (" (a hotfix is a patch release)" if ctx.profile == "hotfix"
                                                     else ", or a prerelease of one")]


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


def checklist_markdown() -> str:
    """validation/release_checklist.md: the gates and the human items per profile (generated, never hand-edited)."""
    cell = {BLOCKING: "blocking", WARNING: "warning", OPT_IN: "opt-in"}
    lines = ["# Release checklist", "",
             "<!-- Generated by `validate-release --write-checklist validation/release_checklist.md` from the gate "
             "list in shared/releng/validation/gates.py; do not edit by hand. -->", "",
             "`validate-release --profile release|rc|hotfix` runs every automated gate below and reports each "
             "(pass, fail, warn, skip, with its evidence), even when earlier ones fail. It exits 1 when a "
             "blocking gate fails. A warning gate is reported but does not stop the release; `opt-in` runs "
             "only when asked (`--rebuild`); `-` means the profile skips it.", "",
             "The hotfix profile is the quick subset: it keeps what protects users (clean tree, hotfix/* branch, "
             "versions, a patch bump, the annotated tag, the changelog, the tests, signed artifacts, the "
             "packaged program runs) and drops the compatibility matrix, the contents check (build-package "
             "already enforced it), the rebuild and the code freeze.", "",
             "## Automated gates", "", "| # | gate | what it checks | release | rc | hotfix |",
             "|---|---|---|---|---|---|"]
    for n, (gate_id, title, what, severity) in enumerate(GATES, 1):
        cols = " | ".join(cell.get(severity.get(p, ""), "-") for p in PROFILES)
        lines.append(f"| {n} | `{gate_id}`: {title} | {what} | {cols} |")
    lines += ["", "## Human items", "", "Only a person can tick these; the report lists them for the profile in "
              "force.", ""]
    for item_id, title, what, profiles in HUMAN:
        lines.append(f"- [ ] **{title}** (`{item_id}`, human; {', '.join(profiles)}): {what}")
    return "\n".join(lines) + "\n"
