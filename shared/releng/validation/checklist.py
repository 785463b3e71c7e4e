"""The release checklist as data: which gates exist, what each checks, how blocking each is per profile, the items
only a person can tick, the [validation] settings, and the context and outcome every gate works with.

One list (GATES) feeds both the run (releng.validation.gates, releng.validation.artifact_gates) and the generated
validation/release_checklist.md, so the checklist a human reads can never drift from what the tool checks. It sits
below both gate modules, which import it and never each other's model: a gate returns True (pass), False (fail) or
None (not applicable: skip) with its evidence; the profile decides whether a failure blocks the release or only warns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import git, semver
from releng.errors import BadInput

PROFILES = ("release", "rc", "hotfix")
BLOCKING, WARNING, OPT_IN = "blocking", "warning", "opt-in"
EVERY = {"release": BLOCKING, "rc": BLOCKING, "hotfix": BLOCKING}  # blocks every profile, the quick hotfix's too
FULL = {"release": BLOCKING, "rc": BLOCKING}  # blocks a release and a candidate; a hotfix skips it
# (id, title, what it checks, {profile: BLOCKING | WARNING | OPT_IN}; a profile not named skips the gate)
GATES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("clean-tree", "Working tree clean", "no uncommitted changes to tracked files (untracked build output is fine)",
     EVERY),
    ("branch", "Right branch", "releases from main, release candidates from main or release/*, hotfixes from "
     "hotfix/* (a detached HEAD counts when such a branch contains it)",
     EVERY),
    ("version-agrees", "Version agrees everywhere", "the version files ([[versioning.files]]), the version "
     "document, the release tag at HEAD and the artifacts document name the same version, made from HEAD",
     EVERY),
    ("no-skipped-version", "No skipped version", "the version is the next one after the previous release tag "
     "(a patch, minor or major bump or a prerelease of one; a hotfix only a patch)",
     EVERY),
    ("tag", "Tag annotated at HEAD", "the tag `<prefix><version>` exists, is annotated (not lightweight) and "
     "points at HEAD", EVERY),
    ("changelog", "Changelog section", "CHANGELOG.md has a dated section `## [<version>] - YYYY-MM-DD`",
     EVERY),
    ("compatibility", "Compatibility matrix entry", "the compatibility matrix (releng/compatibility) of this "
     "product lists the version", {"release": BLOCKING, "rc": WARNING}),
    ("tests", "Tests passed", "[validation] test_command (an argv list, run without a shell) exits 0, or the "
     "--junit report has tests and no failures or errors", EVERY),
    ("artifacts", "Artifacts intact and signed", "every artifact in artifacts.json is present with its size and "
     "sha256, agrees with SHA256SUMS, and SHA256SUMS.sig verifies with the trusted public key",
     EVERY),
    ("package-contents", "Package contents complete", "every archive holds what the contents manifest "
     "(package_contents.toml) requires for its platform and nothing it does not allow",
     FULL),
    ("rebuild", "Rebuild byte-identical", "with --rebuild: build-package run again in a temp folder gives "
     "byte-identical artifacts", {"release": OPT_IN, "rc": OPT_IN}),
    ("smoke-run", "Packaged program runs", "the archive for this host unpacked into an empty folder: its program's "
     "`--version` prints the release version", EVERY),
    ("code-freeze", "Code freeze respected", "on a release/X.Y branch (since it left main) or after [validation] "
     "freeze_date (since the previous tag): only fix, docs and test commits (and the release commit)",
     FULL),
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
                            "freeze_allowed": ["fix", "docs", "test"], "public_key": None,
                            # the smoke-run gate's unpacking caps: a 306 KB tar.gz once unpacked into 300 MiB
                            "unpack_max_bytes": 4 << 30, "unpack_max_members": 100_000}


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
    for key in ("unpack_max_bytes", "unpack_max_members"):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < 1:
            raise BadInput(f"[validation] {key} must be a whole number above 0, found {s[key]!r}", where)
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


def human_items(profile: str) -> list[dict[str, str]]:
    """The human items of a profile, as the validation document lists them (the tool never ticks them)."""
    return [{"id": i, "title": t, "checks": c} for i, t, c, profiles in HUMAN if profile in profiles]


def markdown() -> str:
    """validation/release_checklist.md: the gates and the human items per profile (generated, never hand-edited)."""
    cell = {BLOCKING: "blocking", WARNING: "warning", OPT_IN: "opt-in"}
    lines = ["# Release checklist", "",
             "<!-- Generated by `validate-release --write-checklist validation/release_checklist.md` from the gate "
             "list in shared/releng/validation/checklist.py; do not edit by hand. -->", "",
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
