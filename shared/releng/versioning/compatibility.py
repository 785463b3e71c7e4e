"""The releng/compatibility document (versioning/compatibility_matrix.json): read and check it.

Per release: plugin formats, minimum system and architectures per platform, the host versions
tested, the preset and project-state formats read and written, and migration notes. check-compat
answers questions from it; a release gate or the publisher can check that a version is listed.
The checks are by hand, each naming a JSON path, because importing jsonschema is slow (bench/README.md); the
JSON Schema (schemas/compatibility.schema.json) describes the same shape, and tests hold the two
together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from releng import documents, semver
from releng.errors import BadInput

FORMATS = ("VST3", "AU", "AAX", "CLAP")
PLATFORMS = {"windows": ("VST3", "AAX", "CLAP"), "macos": FORMATS, "linux": ("VST3", "CLAP")}
OS_NAMES = {"windows": "Windows", "macos": "macOS", "linux": "glibc"}  # Linux: the glibc needed
ARCHES = ("x86_64", "arm64")
FILE_FORMATS = ("preset_format", "state_format")
Entry = dict[str, Any]


def load(path: Path | str) -> tuple[Entry, list[Entry]]:
    """The document and its releases (oldest first); BadInput naming the file and JSON path."""
    doc = documents.read(path, "compatibility")
    try:
        return doc, validate(doc)
    except BadInput as e:
        raise BadInput(e.what, f"{path} at {e.where}") from None


def validate(doc: Entry) -> list[Entry]:
    """The releases after every check; BadInput(what, JSON path) names the first problem."""
    for key in ("product", "display_name"):
        value = doc.get(key, "-" if key == "display_name" else None)
        _check(isinstance(value, str) and value.strip(), "must be a non-empty string", f"$.{key}")
    releases: list[Entry] = _typed(doc.get("releases"), list, "$.releases")
    _check(releases, "must list at least one release", "$.releases")
    seen: dict[semver.Version, int] = {}
    for i, e in enumerate(releases):
        path, before = f"$.releases[{i}]", releases[i - 1] if i else None
        v = semver.parse(_typed(e, dict, path).get("version"), f"{path}.version")
        _check(v not in seen, f"duplicate release {v} (same precedence as $.releases"
               f"[{seen.get(v)}])", f"{path}.version")
        _check(before is None or version(before) < v, f"releases not sorted: {v} comes after "
               f"{before and before['version']}", f"{path}.version")
        seen[v] = i
        _release(e, path)
        for kind in FILE_FORMATS if before else ():
            old, new = before[kind]["writes"], e[kind]["writes"]  # type: ignore[index]
            _check(old == new or e["migration_notes"], f"writes {kind} {new} instead of {old} "
                   "without migration notes", f"{path}.migration_notes")
    return releases


def find(releases: Sequence[Entry], text: str, where: str) -> Entry:
    """The release with the precedence of `text` (build metadata ignored); BadInput if none."""
    v = semver.parse(text, "command line")
    for e in releases:
        if version(e) == v:
            return e
    known = listing(e["version"] for e in releases)
    raise BadInput(f"unknown release {text} (known: {known})", where)


def version(entry: Entry) -> semver.Version:
    return semver.parse(entry["version"])


def listing(items: Iterable[object]) -> str:
    return ", ".join(str(n) for n in items)


def dotted(text: object, where: str = "version") -> tuple[int, ...]:
    """A host or OS version: "12.1" -> (12, 1), compared part by part; 12 == 12.0."""
    parts = text.split(".") if isinstance(text, str) else [""]
    _check(all(p.isascii() and p.isdigit() for p in parts), f"not like 12.1: {text!r}", where)
    key = [int(p) for p in parts]
    while len(key) > 1 and key[-1] == 0:
        key.pop()
    return tuple(key)


def _check(ok: object, what: str, path: str) -> None:
    if not ok:
        raise BadInput(what, path)


def _typed(value: object, kind: type, path: str) -> Any:
    _check(isinstance(value, kind), f"must be {'an object' if kind is dict else 'an array'}", path)
    return value


def _names(value: object, path: str, allowed: Sequence[str], noun: str) -> list[str]:
    names: list[str] = _typed(value, list, path)
    _check(names, f"must list at least one {noun}", path)
    for i, name in enumerate(names):
        _check(name in allowed, f"unknown {noun} {name!r} (expected one of {listing(allowed)})",
               f"{path}[{i}]")
        _check(name not in names[:i], f"duplicate {noun} {name!r}", f"{path}[{i}]")
    return names


def _is_date(text: object) -> bool:
    from datetime import date

    try:
        return isinstance(text, str) and len(text) == 10 and bool(date.fromisoformat(text))
    except ValueError:
        return False


def _release(e: Entry, path: str) -> None:
    day = e.get("date")
    _check(_is_date(day), f"not a date like 2024-12-09: {day!r}", f"{path}.date")
    platforms: Entry = _typed(e.get("platforms"), dict, f"{path}.platforms")
    _check(platforms, "must name at least one platform", f"{path}.platforms")
    for name, p in platforms.items():
        pp = f"{path}.platforms.{name}"
        _check(name in PLATFORMS, f"unknown platform {name!r} (expected one of "
               f"{listing(PLATFORMS)})", pp)
        formats = _names(_typed(p, dict, pp).get("formats"), f"{pp}.formats", FORMATS, "format")
        for i, f in enumerate(formats):
            _check(f in PLATFORMS[name], f"{f} does not exist on {name}", f"{pp}.formats[{i}]")
        dotted(p.get("min_os"), f"{pp}.min_os")
        _names(p.get("arch"), f"{pp}.arch", ARCHES, "architecture")
    seen: set[tuple[str, tuple[int, ...]]] = set()
    for i, h in enumerate(_typed(e.get("hosts"), list, f"{path}.hosts")):
        hp = f"{path}.hosts[{i}]"
        name = _typed(h, dict, hp).get("name")
        _check(isinstance(name, str) and name.strip(), "must be a non-empty string", f"{hp}.name")
        key = (str(name).casefold(), dotted(h.get("version"), f"{hp}.version"))
        _check(key not in seen, f"duplicate host {name} {h['version']}", hp)
        seen.add(key)
        on = _names(h.get("platforms"), f"{hp}.platforms", tuple(PLATFORMS), "platform")
        for j, pl in enumerate(on):
            _check(pl in platforms, f"{name} tested on {pl}, which this release does not ship for",
                   f"{hp}.platforms[{j}]")
        for j, f in enumerate(_names(h.get("formats"), f"{hp}.formats", FORMATS, "format")):
            _check(any(f in platforms[pl]["formats"] for pl in on),
                   f"{name} tested as {f}, which this release has on none of {listing(on)}",
                   f"{hp}.formats[{j}]")
    for kind in FILE_FORMATS:
        _file_format(e.get(kind), f"{path}.{kind}")
    notes = _typed(e.get("migration_notes"), list, f"{path}.migration_notes")
    _check(all(isinstance(n, str) and n.strip() for n in notes), "must hold non-empty strings",
           f"{path}.migration_notes")


def _file_format(value: object, path: str) -> None:
    fmt = _typed(value, dict, path)
    reads, writes = _typed(fmt.get("reads"), list, f"{path}.reads"), fmt.get("writes")
    for i, n in enumerate([*reads, writes]):
        _check(isinstance(n, int) and not isinstance(n, bool) and n >= 1,
               f"not a format number (a positive integer): {n!r}",
               f"{path}.reads[{i}]" if i < len(reads) else f"{path}.writes")
    _check(reads and reads == sorted(set(reads)), "must be ascending, unique, non-empty",
           f"{path}.reads")
    _check(writes in reads, f"writes {writes} but reads only {listing(reads)}", f"{path}.reads")


NO_MATRIX = "no compatibility matrix: pass --matrix FILE or set [validation] compatibility_matrix in releng.toml"


def project_matrix(start: Path) -> Path:
    """The matrix of the project around `start`: configured, else versioning/compatibility_matrix.json there."""
    from releng import config, git

    try:
        repo = git.toplevel(start)
    except BadInput:
        raise BadInput(f"{NO_MATRIX} (not in a git repository)", str(start)) from None
    configured = config.section(config.load(repo), "validation").get("compatibility_matrix")
    where = str(config.find(repo) or repo)
    if configured:
        return config.repo_path(repo, configured, "[validation] compatibility_matrix", where)
    path = repo / "versioning" / "compatibility_matrix.json"
    if not path.is_file():
        raise BadInput(NO_MATRIX, where)
    return path
