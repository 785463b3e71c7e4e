"""Files that carry a version number, read and rewritten in place, keeping everything else byte for byte.

Each configured file has a `format`. Some formats hold a full SemVer string (pyproject, c-header's STRING macro,
json, regex, the .rc ProductVersion); numeric-only fields hold major.minor.patch (CMake `project(VERSION)`,
Info.plist's CFBundleShortVersionString), a build number (CFBundleVersion, the 4th FILEVERSION field, a BUILD
macro) or the AudioUnit integer (major << 16 | minor << 8 | patch). Plugin hosts and installers read the numeric
fields, so a prerelease must sort below its final release there too: the build number grows on every release of
every channel and is what tells 1.3.0-rc.1 (build 41) from 1.3.0 (build 42).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from releng import semver
from releng.errors import BadInput
from releng.versioning.agreement import agreed_version as agreed_version  # read here, beside read()

FORMATS = ("pyproject", "cmake", "c-header", "json", "regex", "windows-rc", "plist")
OPTIONS = {"c-header": ("macro_prefix",), "json": ("key",), "regex": ("pattern",)}  # keys beside path and format


class Numeric(NamedTuple):
    """The version as numeric-only fields for operating systems and plugin hosts."""

    major: int
    minor: int
    patch: int
    build: int

    @property
    def file_version(self) -> str:  # Windows VERSIONINFO: four 16-bit fields
        return f"{self.major}.{self.minor}.{self.patch}.{self.build}"

    @property
    def fits(self) -> bool:
        """Whether the AudioUnit integer and the 16-bit VERSIONINFO fields can hold this version."""
        return (self.major <= 0xFFFF and self.minor <= 0xFF and self.patch <= 0xFF and self.build <= 0xFFFF)

    @property
    def au_version(self) -> int:  # AudioUnit component version: 0xMMMMmmpp
        return (self.major << 16) | (self.minor << 8) | self.patch

    def as_dict(self) -> dict[str, Any]:
        return {"file_version": self.file_version, "bundle_short_version": f"{self.major}.{self.minor}.{self.patch}",
                "bundle_version": str(self.build), "au_version": self.au_version if self.fits else None}


def numeric(version: semver.Version, build: int, *, strict: bool = True) -> Numeric:
    """Numeric fields for `version`; when `strict`, BadInput if a field cannot hold it.

    Only files with numeric fields (.rc, Info.plist) need them to fit; a project without such files may
    well be at 0.1900.0.
    """
    n = Numeric(version.major, version.minor, version.patch, build)
    if strict and (version.major > 0xFFFF or version.minor > 0xFF or version.patch > 0xFF):
        raise BadInput(f"{version} does not fit the AudioUnit version (major <= 65535, minor and patch <= 255)")
    if strict and build > 0xFFFF:
        raise BadInput(f"build number {build} does not fit a Windows FILEVERSION field (<= 65535)")
    return n


class Spec(NamedTuple):
    """One configured version file: `[[versioning.files]]` in releng.toml."""

    path: str
    format: str
    options: Mapping[str, Any] = {}

    @classmethod
    def from_config(cls, entry: Any, where: str) -> Spec:
        from releng import config

        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise BadInput("each [[versioning.files]] entry needs a path", where)
        fmt = entry.get("format") or _guess_format(entry["path"])
        if fmt not in FORMATS:
            raise BadInput(f"unknown version file format {fmt!r} for {entry['path']} "
                           f"(one of {', '.join(FORMATS)})", where)
        config.check_keys(entry, ("path", "format", *OPTIONS.get(fmt, ())),
                          f"[[versioning.files]] {entry['path']} ({fmt})", where)
        if fmt == "regex" and not isinstance(entry.get("pattern"), str):
            raise BadInput(f"{entry['path']}: format 'regex' needs a pattern", where)
        if fmt == "json" and not isinstance(entry.get("key", "version"), str):
            raise BadInput(f"{entry['path']}: 'key' must be a dotted string", where)
        if fmt == "c-header" and not isinstance(entry.get("macro_prefix"), str):
            raise BadInput(f"{entry['path']}: format 'c-header' needs macro_prefix", where)
        options = {k: v for k, v in entry.items() if k not in ("path", "format")}
        return cls(entry["path"], fmt, options)


class Found(NamedTuple):
    """What one file says: a full version, a core (numeric) version, a build number; each may be absent."""

    spec: Spec
    full: semver.Version | None = None
    core: semver.Version | None = None
    build: int | None = None
    fields: tuple[tuple[str, semver.Version], ...] = ()  # (field, version) where one file holds it twice or more


def _guess_format(path: str) -> str:
    name = Path(path).name
    return {"pyproject.toml": "pyproject", "CMakeLists.txt": "cmake", "Info.plist": "plist"}.get(name) or {
        ".h": "c-header", ".hpp": "c-header", ".json": "json", ".rc": "windows-rc", ".plist": "plist",
    }.get(Path(path).suffix, "")


def path_of(repo: Path, spec: Spec, where: str = "config") -> Path:
    """Where the file is: inside `repo`, symlinks followed, or BadInput naming the key (`where`: the config)."""
    from releng import config

    return config.repo_path(repo, spec.path, "[[versioning.files]] path", where)


def read_text(repo: Path, spec: Spec, where: str = "config") -> str:
    """The file's text; BadInput when it is missing, not UTF-8, not a regular file, or resolves outside `repo`."""
    from releng import config, files

    path = path_of(repo, spec, where)
    try:
        return files.read_capped(path, config.CONFIG_CAP, "version file").decode("utf-8")
    except files.Missing:
        raise BadInput("version file not found", spec.path) from None
    except BadInput as e:
        raise BadInput(e.what, spec.path) from None
    except UnicodeDecodeError as e:
        raise BadInput(f"cannot read version file: {e}", spec.path) from None


def write(path: Path, text: str) -> None:
    """Replace a version file atomically, keeping its mode."""
    from releng import documents

    documents.write_text_atomic(path, text)


def read(spec: Spec, text: str) -> Found:
    """What the file says its version is."""
    return _FORMATS[spec.format][0](spec, text)


def rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    """The file's text with every version field set to `version` / `build`, the rest untouched."""
    return _FORMATS[spec.format][1](spec, text, version, build)


# --- regex helpers -------------------------------------------------------------------------------------------

def _one(pattern: re.Pattern[str], text: str, spec: Spec, what: str) -> re.Match[str]:
    matches = list(pattern.finditer(text))
    if not matches:
        raise BadInput(f"no {what} found", spec.path)
    return matches[0]


def _sub_all(pattern: re.Pattern[str], text: str, value: str, spec: Spec, what: str, *,
             required: bool = True, group: str = "v") -> str:
    """Replace `group` of every match with `value`."""
    out, last, count = [], 0, 0
    for m in pattern.finditer(text):
        out += [text[last:m.start(group)], value]
        last, count = m.end(group), count + 1
    if required and not count:
        raise BadInput(f"no {what} found", spec.path)
    return "".join(out) + text[last:]


def _parse_full(text: str, spec: Spec) -> semver.Version:
    return semver.parse(text, spec.path)


def _parse_core(major: str, minor: str, patch: str) -> semver.Version:
    return semver.Version(int(major), int(minor), int(patch))


# --- pyproject.toml (tomlkit keeps comments and layout) -------------------------------------------------------

def _pyproject_table(doc: Any, spec: Spec) -> Any:
    project = doc.get("project")
    if project is not None and "version" in project:
        return project
    poetry = doc.get("tool", {}).get("poetry")
    if poetry is not None and "version" in poetry:
        return poetry
    raise BadInput("no [project] version (or [tool.poetry] version)", spec.path)


def _pyproject_read(spec: Spec, text: str) -> Found:
    import tomlkit

    try:
        doc = tomlkit.parse(text)
    except Exception as e:  # tomlkit raises its own exception tree
        raise BadInput(f"malformed TOML: {e}", spec.path) from None
    return Found(spec, full=_parse_full(str(_pyproject_table(doc, spec)["version"]), spec))


def _pyproject_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    import tomlkit

    doc = tomlkit.parse(text)
    _pyproject_table(doc, spec)["version"] = str(version)
    return tomlkit.dumps(doc)


# --- CMakeLists.txt: project(NAME VERSION x.y.z[.t] ...) -------------------------------------------------------

_CMAKE = re.compile(r"\bproject\s*\([^)]*?\bVERSION\s+(?P<v>(?P<M>[0-9]+)\.(?P<m>[0-9]+)\.(?P<p>[0-9]+)"
                    r"(?:\.[0-9]+)?)", re.IGNORECASE)


def _cmake_read(spec: Spec, text: str) -> Found:
    m = _one(_CMAKE, text, spec, "project(... VERSION x.y.z)")
    return Found(spec, core=_parse_core(m["M"], m["m"], m["p"]))


def _cmake_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    return _sub_all(_CMAKE, text, str(version.core), spec, "project(... VERSION x.y.z)")


# --- C/C++ header macros: <PREFIX>_MAJOR/_MINOR/_PATCH/_BUILD numbers, <PREFIX>_STRING "x.y.z-pre" --------------

def _macro(spec: Spec, name: str, string: bool) -> re.Pattern[str]:
    prefix = re.escape(spec.options["macro_prefix"])
    value = r'"(?P<v>[^"\n]*)"' if string else r"(?P<v>[0-9]+)"
    return re.compile(rf"^[ \t]*#[ \t]*define[ \t]+{prefix}_{name}[ \t]+{value}", re.MULTILINE)


def _header_read(spec: Spec, text: str) -> Found:
    nums = [_macro(spec, n, False).search(text) for n in ("MAJOR", "MINOR", "PATCH")]
    string = _macro(spec, "STRING", True).search(text)
    build = _macro(spec, "BUILD", False).search(text)
    if string is None and not all(nums):
        raise BadInput(f"no {spec.options['macro_prefix']}_STRING or _MAJOR/_MINOR/_PATCH macros", spec.path)
    core = _parse_core(*(m["v"] for m in nums if m)) if all(nums) else None
    full = _parse_full(string["v"], spec) if string else None
    prefix = spec.options["macro_prefix"]
    fields = ((f"{prefix}_STRING", full), (f"{prefix}_MAJOR/_MINOR/_PATCH", core)) if full and core else ()
    return Found(spec, full=full, core=core, build=int(build["v"]) if build else None, fields=fields)


def _header_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    for name, value in (("MAJOR", version.major), ("MINOR", version.minor), ("PATCH", version.patch),
                        ("BUILD", build)):
        text = _sub_all(_macro(spec, name, False), text, str(value), spec, name, required=False)
    return _sub_all(_macro(spec, "STRING", True), text, str(version), spec, "STRING", required=False)


# --- JSON manifests: a dotted key path; the text is edited in place, never re-serialised --------------------------

def _json_locate(spec: Spec, text: str) -> tuple[str, re.Match[str]]:
    key = spec.options.get("key", "version")
    from releng import documents

    node: Any = documents.parse_json(text, spec.path)
    try:
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise BadInput(f"no key {key!r}", spec.path) from None
    if not isinstance(node, str):
        raise BadInput(f"{key!r} is not a string", spec.path)
    last = key.split(".")[-1]
    pattern = re.compile(rf'"{re.escape(last)}"\s*:\s*"(?P<v>{re.escape(json.dumps(node)[1:-1])})"')
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise BadInput(f"cannot edit {key!r} in place: \"{last}\": {json.dumps(node)} occurs "
                       f"{len(matches)} times", spec.path)
    return node, matches[0]


def _json_read(spec: Spec, text: str) -> Found:
    value, _ = _json_locate(spec, text)
    return Found(spec, full=_parse_full(value, spec))


def _json_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    _, m = _json_locate(spec, text)
    return text[: m.start("v")] + str(version) + text[m.end("v"):]


# --- any file by a configured regex with a (?P<version>...) group ----------------------------------------------

def _user_pattern(spec: Spec) -> re.Pattern[str]:
    try:
        pattern = re.compile(spec.options["pattern"], re.MULTILINE)
    except re.error as e:
        raise BadInput(f"bad pattern: {e}", spec.path) from None
    if "version" not in pattern.groupindex:
        raise BadInput("pattern needs a (?P<version>...) group", spec.path)
    return pattern


def _regex_read(spec: Spec, text: str) -> Found:
    values = {m["version"] for m in _user_pattern(spec).finditer(text)}
    if not values:
        raise BadInput(f"pattern {spec.options['pattern']!r} matches nothing", spec.path)
    if len(values) > 1:
        raise BadInput(f"pattern matches different versions: {', '.join(sorted(values))}", spec.path)
    return Found(spec, full=_parse_full(values.pop(), spec))


def _regex_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    return _sub_all(_user_pattern(spec), text, str(version), spec, "version", group="version")


# --- Windows VERSIONINFO (.rc) ---------------------------------------------------------------------------------

_RC_QUAD = re.compile(r"^(?P<k>[ \t]*(?:FILEVERSION|PRODUCTVERSION)[ \t]+)"
                      r"(?P<v>[0-9]+[ \t]*,[ \t]*[0-9]+[ \t]*,[ \t]*[0-9]+[ \t]*,[ \t]*[0-9]+)", re.MULTILINE)
_RC_FILE_STR = re.compile(r'VALUE[ \t]+"FileVersion"[ \t]*,[ \t]*"(?P<v>[^"]*)"')
_RC_PRODUCT_STR = re.compile(r'VALUE[ \t]+"ProductVersion"[ \t]*,[ \t]*"(?P<v>[^"]*)"')


def _rc_read(spec: Spec, text: str) -> Found:
    quads = {tuple(int(x) for x in m["v"].split(",")) for m in _RC_QUAD.finditer(text)}
    if len(quads) != 1:
        raise BadInput("FILEVERSION and PRODUCTVERSION must both be present and equal", spec.path)
    a, b, c, d = quads.pop()
    product = _RC_PRODUCT_STR.search(text)
    full = _parse_full(product["v"], spec) if product else None
    core = semver.Version(a, b, c)
    return Found(spec, full=full, core=core, build=d, fields=(("ProductVersion", full), ("FILEVERSION", core))
                 if full else ())


def _rc_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    n = numeric(version, build)
    text = _sub_all(_RC_QUAD, text, f"{n.major},{n.minor},{n.patch},{n.build}", spec, "FILEVERSION")
    text = _sub_all(_RC_FILE_STR, text, n.file_version, spec, "FileVersion", required=False)
    return _sub_all(_RC_PRODUCT_STR, text, str(version), spec, "ProductVersion", required=False)


# --- macOS Info.plist ---------------------------------------------------------------------------------------------

def _plist_key(key: str, kind: str = "string") -> re.Pattern[str]:
    return re.compile(rf"<key>{key}</key>\s*<{kind}>(?P<v>[^<]*)</{kind}>")


_PL_SHORT, _PL_BUNDLE = _plist_key("CFBundleShortVersionString"), _plist_key("CFBundleVersion")
_PL_AU = _plist_key("version", "integer")  # inside AudioComponents: the AU component version


def _plist_read(spec: Spec, text: str) -> Found:
    short = _one(_PL_SHORT, text, spec, "CFBundleShortVersionString")["v"]
    m = re.fullmatch(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", short)
    if m is None:
        raise BadInput(f"CFBundleShortVersionString {short!r} is not x.y.z", spec.path)
    core = _parse_core(m[1], m[2], m[3] or "0")
    bundle = _PL_BUNDLE.search(text)
    build = int(bundle["v"]) if bundle and bundle["v"].isdigit() else None
    aus = [(f"AudioComponents version {v}", semver.Version(v >> 16, (v >> 8) & 0xFF, v & 0xFF))
           for v in (int(m["v"]) for m in _PL_AU.finditer(text))]
    return Found(spec, core=core, build=build, fields=(("CFBundleShortVersionString", core), *aus) if aus else ())


def _plist_rewrite(spec: Spec, text: str, version: semver.Version, build: int) -> str:
    n = numeric(version, build)
    text = _sub_all(_PL_SHORT, text, f"{n.major}.{n.minor}.{n.patch}", spec, "CFBundleShortVersionString")
    text = _sub_all(_PL_BUNDLE, text, str(n.build), spec, "CFBundleVersion", required=False)
    return _sub_all(_PL_AU, text, str(n.au_version), spec, "AudioComponents version", required=False)


_FORMATS: dict[str, tuple[Callable[[Spec, str], Found],
                          Callable[[Spec, str, semver.Version, int], str]]] = {
    "pyproject": (_pyproject_read, _pyproject_rewrite),
    "cmake": (_cmake_read, _cmake_rewrite),
    "c-header": (_header_read, _header_rewrite),
    "json": (_json_read, _json_rewrite),
    "regex": (_regex_read, _regex_rewrite),
    "windows-rc": (_rc_read, _rc_rewrite),
    "plist": (_plist_read, _plist_rewrite),
}
