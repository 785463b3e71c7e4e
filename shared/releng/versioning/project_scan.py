"""What init-project finds in a plugin repository: the files that carry its version, its name, its tag style, its
changelog and what its CMake install() rules put in the staging tree; and the commented releng.toml written from it.

The scan reads; it never guesses a value it did not find (issue 13: borrowed defaults surfaced after the tag): a
name or version it cannot find is left for the user with a comment saying so, and check-setup then says what is
missing. Every file found is read with version_files' own reader, so a file listed is one bump-version can rewrite.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import semver
from releng.errors import RelengError
from releng.versioning import version_files

SKIP = {".git", "build", "dist", "node_modules", "third_party", "external", "vendor", "_deps", "out"}
MAX_FILES = 20_000  # a plugin repository has far fewer files; stop rather than walk a vendored SDK for minutes
_PROJECT = re.compile(r"\bproject\s*\(\s*(?P<name>[A-Za-z0-9_.+-]+)", re.IGNORECASE)
_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(?P<prefix>[A-Za-z_][A-Za-z0-9_]*)_MAJOR[ \t]+[0-9]+", re.MULTILINE)
_INSTALL = re.compile(r"\binstall\s*\((?P<body>[^)]*)\)", re.IGNORECASE)
_TOML_VERSION = r'^version\s*=\s*"(?P<version>[^"]+)"'
CHANGELOGS = ("CHANGELOG.md", "CHANGES.md", "HISTORY.md", "NEWS.md")
GNU_DIRS = {"BINDIR": "bin", "SBINDIR": "sbin", "LIBDIR": "lib", "DATADIR": "share", "DATAROOTDIR": "share",
            "INCLUDEDIR": "include", "SYSCONFDIR": "etc", "LIBEXECDIR": "libexec"}


@dataclass
class Found:
    """Everything the scan found (each may be empty)."""

    name: str | None = None
    version: str | None = None
    files: list[dict[str, str]] = field(default_factory=list)  # [[versioning.files]] entries
    versions: dict[str, str] = field(default_factory=dict)  # path -> the version it says
    tag_prefix: str = "v"
    tags: int = 0
    changelog: str | None = None
    installs: list[str] = field(default_factory=list)  # contents-manifest globs from install() rules
    platforms: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files that looked version-bearing but could not be read


def scan(repo: Path, tags: list[str]) -> Found:
    """Walk `repo` (skipping build output, VCS and vendored folders) and read each candidate version file."""
    found = Found()
    paths = _walk(repo)
    cmake = repo / "CMakeLists.txt"
    if cmake.is_file():
        text = cmake.read_text(encoding="utf-8", errors="replace")
        m = _PROJECT.search(text)
        found.name = m["name"] if m else None
        _try(found, repo, {"path": "CMakeLists.txt", "format": "cmake"})
        found.installs = install_globs(text, found.name or "{name}")
    for rel in paths:
        name, suffix = rel.rsplit("/", 1)[-1], Path(rel).suffix.lower()
        if suffix in (".h", ".hpp", ".hh", ".hxx"):
            text = _text(repo / rel)
            for prefix in dict.fromkeys(m["prefix"] for m in _MACRO.finditer(text)):
                parts = (re.search(rf"#[ \t]*define[ \t]+{prefix}_{p}[ \t]+[0-9]", text) for p in ("MINOR", "PATCH"))
                if all(parts):
                    _try(found, repo, {"path": rel, "format": "c-header", "macro_prefix": prefix})
        elif suffix == ".plist" and "CFBundleShortVersionString" in _text(repo / rel):
            _try(found, repo, {"path": rel, "format": "plist"})
            found.platforms.append("macos")
        elif suffix == ".rc" and "VERSIONINFO" in _text(repo / rel):
            _try(found, repo, {"path": rel, "format": "windows-rc"})
            found.platforms.append("windows")
        elif suffix == ".json" and rel.count("/") <= 1 and _json_version(repo / rel):
            _try(found, repo, {"path": rel, "format": "json", "key": "version"})
        elif name == "pyproject.toml" and rel == "pyproject.toml":
            _try(found, repo, {"path": rel, "format": "pyproject"})
        elif suffix == ".toml" and name not in ("releng.toml", "pyproject.toml") and \
                re.search(_TOML_VERSION, _text(repo / rel), re.MULTILINE):
            _try(found, repo, {"path": rel, "format": "regex", "pattern": _TOML_VERSION})
    found.platforms = sorted({"linux", *found.platforms})
    found.tag_prefix, found.tags = tag_style(tags)
    found.changelog = next((c for c in CHANGELOGS if (repo / c).is_file()), None)
    if found.name is None:
        for entry in found.files:  # a JSON or TOML manifest's name
            if entry["format"] == "json":
                name = json.loads(_text(repo / entry["path"])).get("name")
                found.name = name if isinstance(name, str) and name else None
    if found.versions:
        found.version = max(found.versions.values(), key=lambda v: semver.parse(v))
    return found


def _walk(repo: Path) -> list[str]:
    out: list[str] = []
    stack = [repo]
    while stack and len(out) < MAX_FILES:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in SKIP and not entry.name.startswith(".") and \
                        not entry.name.startswith("cmake-build"):
                    stack.append(entry)
            elif entry.is_file():
                out.append(entry.relative_to(repo).as_posix())
    return sorted(out)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8") if path.stat().st_size < (1 << 20) else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _json_version(path: Path) -> bool:
    try:
        doc = json.loads(_text(path) or "null")
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("version"), str) and semver.is_valid(doc["version"])


def _try(found: Found, repo: Path, entry: dict[str, str]) -> None:
    """List the file when version_files reads a version from it, as bump-version will."""
    try:
        spec = version_files.Spec.from_config(entry, "init-project")
        said = version_files.read(spec, version_files.read_text(repo, spec))
    except RelengError as e:
        found.skipped.append(f"{entry['path']}: {e.what}")
        return
    version = said.full or said.core
    if version is not None:
        found.files.append(entry)
        found.versions[entry["path"]] = str(version)


def tag_style(tags: list[str]) -> tuple[str, int]:
    """The most common prefix of the SemVer tags (`v` when there are none) and how many tags have it."""
    counts: dict[str, int] = {}
    for tag in tags:
        m = re.fullmatch(r"(?P<prefix>.*?)(?P<version>[0-9]+\.[0-9]+\.[0-9]+\S*)", tag)
        if m and semver.is_valid(m["version"]):
            counts[m["prefix"]] = counts.get(m["prefix"], 0) + 1
    if not counts:
        return "v", 0
    prefix = max(counts, key=lambda p: (counts[p], p == "v"))
    return prefix, counts[prefix]


def install_globs(cmake: str, name: str) -> list[str]:
    """Contents-manifest globs for the install() rules of a CMakeLists.txt: what `cmake --install` stages."""
    globs: list[str] = []
    for m in _INSTALL.finditer(re.sub(r"#[^\n]*", "", cmake)):
        words = m["body"].split()
        if not words or "DESTINATION" not in words:
            continue
        kind = words[0].upper()
        for i, word in enumerate(words):
            if word != "DESTINATION" or i + 1 >= len(words):
                continue
            dest = _expand(words[i + 1], name)
            if kind == "FILES":
                sources = words[1:words.index("DESTINATION")]
                globs += [f"{dest}/{Path(_expand(s, name)).name}" for s in sources]
            else:  # TARGETS, DIRECTORY, PROGRAMS, EXPORT: something lands under the destination
                globs.append(f"{dest}/**")
    return [g.replace(name, "{name}") if name != "{name}" else g for g in dict.fromkeys(globs)]


def _expand(value: str, name: str) -> str:
    value = value.strip('"')
    for var, folder in GNU_DIRS.items():
        value = value.replace(f"${{CMAKE_INSTALL_{var}}}", folder)
    value = value.replace("${CMAKE_INSTALL_DOCDIR}", f"share/doc/{name}")
    return value.replace("${PROJECT_NAME}", name).replace("${CMAKE_PROJECT_NAME}", name).strip("/")


def matrix_skeleton(found: Found, name: str, today: str) -> dict[str, Any]:
    """A releng/compatibility document with one entry for the current version: the user fills in the hosts."""
    minimum = {"linux": "2.31", "windows": "10", "macos": "11"}
    version = found.version or "0.1.0"
    return {"schema": "releng/compatibility", "schema_version": 1, "product": name, "display_name": name,
            "releases": [{"version": str(semver.parse(version).core), "date": today,
                          "platforms": {p: {"formats": ["VST3"], "min_os": minimum[p], "arch": ["x86_64"]}
                                        for p in found.platforms},
                          "hosts": [], "preset_format": {"reads": [1], "writes": 1},
                          "state_format": {"reads": [1], "writes": 1}, "migration_notes": []}]}


def render_config(found: Found, name: str | None, maintainer: str | None, files: dict[str, str]) -> str:
    """The commented releng.toml for what was found; `files` names the companion files init-project writes."""
    lines = ["# releng settings for this repository, written by init-project. Check them with `check-setup`;",
             "# every key is documented in releng's docs/conventions.md. Unknown keys are errors.", "",
             "[project]"]
    lines += [f"name = {json.dumps(name)}" if name else
              '# name = "..."                       # not found: set it (packages, manifests and the matrix use it)']
    lines += ["", "[versioning]",
              f"tag_prefix = {json.dumps(found.tag_prefix)}" + (
                  f"                  # {found.tags} existing tag(s) use it" if found.tags else
                  "                  # release tags will be <prefix><SemVer>: v1.2.3"),
              f"initial_version = {json.dumps(found.version or '0.1.0')}" +
              "        # the first release when there is no release tag yet"]
    for entry in found.files:
        lines += ["", f"[[versioning.files]]                 # says {found.versions[entry['path']]}"]
        lines += [f"{k} = {_toml_string(v)}" for k, v in entry.items()]
    if not found.files:
        lines += ["", "# No version-bearing file found: list at least one, or bump-version refuses to release.",
                  '# [[versioning.files]]', '# path = "include/my_plugin/version.h"', '# format = "c-header"',
                  '# macro_prefix = "MY_PLUGIN_VERSION"']
    lines += ["", "[packaging]"]
    lines += [f"maintainer = {json.dumps(maintainer)}       # the .deb Maintainer (from git config)" if maintainer
              else '# maintainer = "Name <email>"         # needed for a .deb; git config has no user.name/email']
    lines += ['# identifier = "com.example"           # needed for a macOS .pkg and the Windows installer',
              f"contents = {json.dumps(files['contents'])}   # what the staging tree must hold (from install())"]
    if found.changelog and found.changelog != "CHANGELOG.md":
        lines += [f"changelog = {json.dumps(found.changelog)}"]
    lines += ["", "[validation]", f"compatibility_matrix = {json.dumps(files['matrix'])}   # fill in hosts, formats"]
    if found.changelog and found.changelog != "CHANGELOG.md":
        lines += [f"changelog = {json.dumps(found.changelog)}"]
    lines += ['# test_command = ["ctest", "--test-dir", "build/tests", "--output-on-failure"]', ""]
    return "\n".join(lines)


def render_contents(found: Found) -> str:
    """The contents manifest: what the install() rules stage, the release's changelog excerpt, and the license."""
    required = list(dict.fromkeys([*found.installs, "share/doc/{name}/CHANGELOG.md"]))
    lines = ["# What a release must contain, written by init-project from the CMake install() rules: every required",
             "# glob must match a staged file and every staged file must match a glob. {name} is [project] name,",
             "# {exe} is .exe on Windows. Edit it when the install rules change; check-setup --staging DIR checks it.",
             "", "[all]", "required = ["]
    lines += [f"    {json.dumps(g)}," for g in required]
    lines += ["]", "optional = []                       # globs the build may or may not stage", ""]
    return "\n".join(lines)


def _toml_string(value: str) -> str:
    if "'" not in value and "\n" not in value:
        return f"'{value}'" if "\\" in value or '"' in value else json.dumps(value)
    return json.dumps(value)
