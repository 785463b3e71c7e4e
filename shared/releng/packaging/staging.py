"""Checks on a staging tree before it is packaged: the contents manifest, the staged program's version, and the
release's changelog excerpt that goes in beside the README.

A contents manifest (packaging/package_contents.toml, or the project's own) lists globs per platform: every
`required` glob must match at least one staged file, and every staged file must match a `required` or `optional`
glob. `*` and `?` stay within one folder, `**` spans folders, `[...]` is a character class; `{name}` is the
project's name and `{exe}` is `.exe` on Windows, empty elsewhere. A table `[all]` applies to every platform.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from releng import documents, git, semver
from releng.artifacts import Failed
from releng.errors import BadInput


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex for a path glob (see the module docstring)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).fullmatch(path) is not None


@dataclass(frozen=True)
class Manifest:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    where: str


def load_manifest(data: Mapping[str, Any], platform: str, fields: Mapping[str, str], where: str) -> Manifest:
    """The globs in force for `platform`: `[all]` plus `[<platform>]`, with `{name}`/`{exe}` filled in."""
    required: list[str] = []
    optional: list[str] = []
    for table in ("all", platform):
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise BadInput(f"[{table}] must be a table", where)
        for key, into in (("required", required), ("optional", optional)):
            globs = section.get(key, [])
            if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
                raise BadInput(f"[{table}] {key} must be a list of strings", where)
            try:
                into.extend(g.format_map(fields) for g in globs)
            except (KeyError, ValueError) as e:
                raise BadInput(f"[{table}] {key}: unknown or malformed field {e} (use {{name}}, {{exe}})",
                               where) from None
        unknown = set(section) - {"required", "optional"}
        if unknown:
            raise BadInput(f"[{table}] has unknown keys: {', '.join(sorted(unknown))}", where)
    return Manifest(tuple(required), tuple(optional), where)


def check_contents(files: Iterable[str], manifest: Manifest) -> tuple[list[str], list[str]]:
    """(required globs matching nothing, staged files matching no glob), each sorted."""
    files = sorted(files)
    missing = [g for g in manifest.required if not any(matches(g, f) for f in files)]
    allowed = (*manifest.required, *manifest.optional)
    unexpected = [f for f in files if not any(matches(g, f) for g in allowed)]
    return missing, unexpected


def contents_error(missing: Sequence[str], unexpected: Sequence[str], manifest: Manifest, platform: str) -> str:
    parts = []
    if missing:
        parts.append("lacks " + ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    if unexpected:
        parts.append("holds unexpected " + ", ".join(unexpected[:5])
                     + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""))
    return f"the staging tree {' and '.join(parts)} (contents manifest {manifest.where}, platform {platform})"


def changelog_excerpt(text: str, version: str, where: str) -> str | None:
    """The CHANGELOG.md section of `version` (a prerelease falls back to its release's, then Unreleased)."""
    from releng import keepachangelog

    log = keepachangelog.parse(text, where)
    v = semver.parse(version)
    candidates: list[semver.Version | None] = [v]
    if v.is_prerelease:
        candidates += [v.core, None]
    for c in candidates:
        section = log.find(c)
        if section is not None:
            return section.text.rstrip() + "\n"
    return None


def staged_version(stage: Path, argv: Sequence[str], timeout: float = 30) -> str:
    """The version the staged program reports: the first SemVer-looking word of `<stage>/argv[0] argv[1:]`."""
    exe = stage / argv[0]
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise Failed(f"cannot check the staged version: {argv[0]} is not an executable file", str(stage))
    try:
        done = subprocess.run([str(exe), *argv[1:]], capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failed(f"cannot run the staged {argv[0]} to check its version: {e}", str(stage)) from None
    if done.returncode != 0:
        raise Failed(f"the staged {' '.join(argv)} exited {done.returncode}", str(stage))
    for word in (done.stdout + " " + done.stderr).split():
        word = word.strip(",;()").removeprefix("v")
        if semver.is_valid(word):
            return word
    raise Failed(f"the staged {' '.join(argv)} printed no version", str(stage))


def source_date_epoch(repo: Path | None) -> int:
    """SOURCE_DATE_EPOCH from the environment, else the commit time of HEAD (reproducible-builds.org spec)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is not None:
        if not value.isdigit():
            raise BadInput(f"SOURCE_DATE_EPOCH must be a non-negative integer, found {value!r}")
        return int(value)
    if repo is None or git.head(repo) is None:
        raise BadInput("set SOURCE_DATE_EPOCH: the source is not in a git repository with commits")
    return int(git.run(repo, "log", "-1", "--format=%ct", "HEAD").strip())


def project_version(source: Path) -> str | None:
    """The VERSION of CMakeLists.txt's project() call, if any."""
    try:
        text = (source / "CMakeLists.txt").read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^\s*project\s*\([^)]*?\bVERSION\s+([0-9]+(?:\.[0-9]+){0,3})", text, re.M | re.I)
    return m[1] if m else None


def release_version(source: Path, version_file: str | None, head: str | None) -> str:
    """The version being released: the releng/version document (`version_file`, else build/release/version.json
    when present), else CMake's project() version. Failed (exit 1) when the document is for another commit or
    disagrees with project().
    """
    path = Path(version_file) if version_file else source / "build" / "release" / "version.json"
    cmake = project_version(source)
    if version_file or path.is_file():
        doc = documents.read(path, "version")
        version = str(semver.parse(str(doc.get("version")), str(path)))
        if doc.get("commit") and head and doc["commit"] != head:
            raise Failed(f"the version document is for commit {str(doc['commit'])[:12]}, HEAD is {head[:12]} "
                         "(rerun bump-version)", str(path))
        if cmake and cmake.count(".") == 2 and cmake != str(semver.parse(version).core):
            raise Failed(f"CMakeLists.txt's project() says {cmake}, the version document {version}", str(path))
        return version
    if cmake is None:
        raise BadInput("no version: no version document (run bump-version) and no VERSION in project()",
                       str(source / "CMakeLists.txt"))
    return str(semver.parse(".".join((cmake.split(".") + ["0", "0"])[:3]), "CMakeLists.txt"))
