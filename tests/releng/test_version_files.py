"""releng.versioning.version_files: every format read, rewritten (only the version fields) and read back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from releng import semver
from releng.errors import BadInput
from releng.versioning import version_files
from releng.versioning.version_files import Found, Spec

V = semver.parse


def spec(path: str, fmt: str | None = None, **options: object) -> Spec:
    entry: dict[str, object] = {"path": path, **options}
    if fmt:
        entry["format"] = fmt
    return Spec.from_config(entry, "releng.toml")


def changed_lines(before: str, after: str) -> dict[int, tuple[str, str]]:
    """Line number -> (old, new) for the lines that differ; the line count must not change."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), "a rewrite must not add or remove lines"
    return {i: (a, b) for i, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b}


def check_full_and_build(s: Spec, fmt: str, text: str, changed: dict[int, tuple[str, str]]) -> None:
    """The formats that carry both a full version and a build number (c-header, windows-rc), their sample text at
    1.2.3 build 41: read, rewritten to 1.3.0-rc.1 build 42 (exactly the `changed` lines) and read back."""
    assert s.format == fmt
    found = version_files.read(s, text)
    assert (found.full, found.core, found.build) == (V("1.2.3"), V("1.2.3"), 41)
    after = version_files.rewrite(s, text, V("1.3.0-rc.1"), 42)
    assert changed_lines(text, after) == changed
    found = version_files.read(s, after)
    assert (str(found.full), found.core, found.build) == ("1.3.0-rc.1", V("1.3.0"), 42)


# --- pyproject ----------------------------------------------------------------------------------------------------

PYPROJECT = """\
# The gain plugin's Python tooling.
[build-system]
requires = ["hatchling"]  # version = "9.9.9" in a comment
build-backend = "hatchling.build"

[project]
name = "gain"   # aligned comment
version = "1.2.3"  # bumped by releng
description = "version = \\"0.0.1\\" is only text"
dependencies = [
    "numpy>=1.2.3",  # same digits, not ours
]

[tool.other]
version = "1.2.3"
"""


def test_pyproject_read_and_rewrite() -> None:
    s = spec("pyproject.toml")
    assert s.format == "pyproject"
    assert version_files.read(s, PYPROJECT).full == V("1.2.3")
    after = version_files.rewrite(s, PYPROJECT, V("1.3.0-rc.1+build.5"), 42)
    assert changed_lines(PYPROJECT, after) == {
        8: ('version = "1.2.3"  # bumped by releng\n', 'version = "1.3.0-rc.1+build.5"  # bumped by releng\n')}
    found = version_files.read(s, after)
    assert str(found.full) == "1.3.0-rc.1+build.5" and found.core is None and found.build is None


def test_pyproject_poetry() -> None:
    text = '[tool.poetry]\nname = "gain"\nversion = "0.4.0"\n\n[tool.poetry.dependencies]\npython = "^3.11"\n'
    s = spec("pyproject.toml")
    assert version_files.read(s, text).full == V("0.4.0")
    after = version_files.rewrite(s, text, V("0.5.0"), 1)
    assert changed_lines(text, after) == {3: ('version = "0.4.0"\n', 'version = "0.5.0"\n')}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[project]\nname = "x"\ndynamic = ["version"]\n', r"no \[project\] version"),
        ('[project]\nversion = "1.2"\n', "not a SemVer"),
        ('[project]\nversion = "1.2.3"\nversion = "1.2.4"\n', "malformed TOML"),
        ("[project\n", "malformed TOML"),
    ],
)
def test_pyproject_refusals(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        version_files.read(spec("pyproject.toml"), text)
    assert info.value.where == "pyproject.toml"


# --- cmake --------------------------------------------------------------------------------------------------------

CMAKE = """\
cmake_minimum_required(VERSION 3.20)
project(GainPlugin
    VERSION 1.2.3
    DESCRIPTION "A gain plugin, VERSION 1.2.3 of it"
    LANGUAGES CXX)
set(JUCE_VERSION 1.2.3)
find_package(Foo 1.2.3 REQUIRED)
"""


def test_cmake_read_and_rewrite() -> None:
    s = spec("CMakeLists.txt")
    assert s.format == "cmake"
    found = version_files.read(s, CMAKE)
    assert found.core == V("1.2.3") and found.full is None and found.build is None
    after = version_files.rewrite(s, CMAKE, V("1.3.0-rc.1"), 42)
    assert changed_lines(CMAKE, after) == {3: ("    VERSION 1.2.3\n", "    VERSION 1.3.0\n")}  # numeric only
    assert version_files.read(s, after).core == V("1.3.0")


@pytest.mark.parametrize(
    ("text", "core"),
    [
        ("project(x VERSION 0.10.200)", "0.10.200"),
        ("PROJECT ( x LANGUAGES CXX VERSION 2.0.1.7 )", "2.0.1"),
        ("project(x\n  VERSION\n  3.4.5)", "3.4.5"),
    ],
)
def test_cmake_shapes(text: str, core: str) -> None:
    assert version_files.read(spec("sub/CMakeLists.txt"), text).core == V(core)


@pytest.mark.parametrize("text", ["project(x)\nset(VERSION 1.2.3)\n", "project(x VERSION ${V})", "",
                                  "cmake_minimum_required(VERSION 3.20)\n", "ExternalProject_Add(x VERSION 1.2.3)"])
def test_cmake_without_a_project_version(text: str) -> None:
    with pytest.raises(BadInput, match=r"no project\(\.\.\. VERSION x\.y\.z\) found"):
        version_files.read(spec("CMakeLists.txt"), text)
    with pytest.raises(BadInput):
        version_files.rewrite(spec("CMakeLists.txt"), text, V("1.0.0"), 1)


# --- c-header -----------------------------------------------------------------------------------------------------

HEADER = """\
#pragma once
// GAIN_VERSION_MAJOR 9 in a comment is not a macro
#define GAIN_VERSION_MAJOR 1
#define GAIN_VERSION_MINOR 2
#  define GAIN_VERSION_PATCH  3
#define GAIN_VERSION_BUILD 41
#define GAIN_VERSION_STRING "1.2.3"
#define GAIN_VERSION_MAJORITY 1
#define OTHER_MAJOR 1
#define OTHER_STRING "1.2.3"
"""


def test_c_header_read_and_rewrite() -> None:
    check_full_and_build(spec("src/version.h", macro_prefix="GAIN_VERSION"), "c-header", HEADER, {
        4: ("#define GAIN_VERSION_MINOR 2\n", "#define GAIN_VERSION_MINOR 3\n"),
        5: ("#  define GAIN_VERSION_PATCH  3\n", "#  define GAIN_VERSION_PATCH  0\n"),
        6: ("#define GAIN_VERSION_BUILD 41\n", "#define GAIN_VERSION_BUILD 42\n"),
        7: ('#define GAIN_VERSION_STRING "1.2.3"\n', '#define GAIN_VERSION_STRING "1.3.0-rc.1"\n'),
    })


def test_c_header_without_build_macro() -> None:
    text = "#define P_MAJOR 2\n#define P_MINOR 0\n#define P_PATCH 0\n"
    s = spec("p.hpp", macro_prefix="P")
    found = version_files.read(s, text)
    assert (found.full, found.core, found.build) == (None, V("2.0.0"), None)
    after = version_files.rewrite(s, text, V("2.1.0"), 7)
    assert after == "#define P_MAJOR 2\n#define P_MINOR 1\n#define P_PATCH 0\n"  # no BUILD line invented


def test_c_header_string_only() -> None:
    text = '#define P_STRING "3.0.0-beta.1"\n'
    s = spec("p.h", macro_prefix="P")
    found = version_files.read(s, text)
    assert (found.full, found.core) == (V("3.0.0-beta.1"), None)
    assert version_files.rewrite(s, text, V("3.0.0"), 1) == '#define P_STRING "3.0.0"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#define P_MAJOR 1\n#define P_MINOR 2\n", "no P_STRING or _MAJOR/_MINOR/_PATCH macros"),
        ("", "no P_STRING or _MAJOR/_MINOR/_PATCH macros"),
        ('#define Q_STRING "1.0.0"\n', "no P_STRING"),
        ('#define P_STRING "v1.0.0"\n', "not a SemVer"),
    ],
)
def test_c_header_refusals(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        version_files.read(spec("p.h", macro_prefix="P"), text)
    assert info.value.where == "p.h"


# --- json ---------------------------------------------------------------------------------------------------------

JSON = """\
{
  "name": "gain",
  "version": "0.9.0",
  "a": {
    "b": {"version" : "1.2.3", "other": "1.2.3"}
  },
  "list": [{"version": "5.0.0"}]
}
"""


def test_json_nested_key_path() -> None:
    s = spec("manifest.json", key="a.b.version")
    assert s.format == "json"
    assert version_files.read(s, JSON).full == V("1.2.3")
    after = version_files.rewrite(s, JSON, V("1.3.0-rc.1"), 42)
    assert changed_lines(JSON, after) == {
        5: ('    "b": {"version" : "1.2.3", "other": "1.2.3"}\n',
            '    "b": {"version" : "1.3.0-rc.1", "other": "1.2.3"}\n')}
    assert version_files.read(s, after).full == V("1.3.0-rc.1")


def test_json_default_key_and_list_index() -> None:
    assert version_files.read(spec("package.json"), JSON).full == V("0.9.0")
    assert version_files.read(spec("package.json", key="list.0.version"), JSON).full == V("5.0.0")


def test_json_same_text_twice_is_refused() -> None:
    text = '{"a": {"b": {"version": "1.2.3"}}, "deps": {"x": {"version": "1.2.3"}}}\n'
    s = spec("m.json", key="a.b.version")
    with pytest.raises(BadInput, match="cannot edit 'a.b.version' in place.*occurs 2 times") as info:
        version_files.read(s, text)
    assert info.value.where == "m.json"
    with pytest.raises(BadInput, match="occurs 2 times"):
        version_files.rewrite(s, text, V("2.0.0"), 1)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('{"name": "x"}', "version", "no key 'version'"),
        ('{"a": []}', "a.0.version", "no key"),
        ('{"a": [1]}', "a.x", "no key"),
        ('{"a": "s"}', "a.version", "no key"),
        ('{"version": 1}', "version", "'version' is not a string"),
        ('{"version": null}', "version", "is not a string"),
        ('{"version": "1.2"}', "version", "not a SemVer"),
        ('{"version": "1.2.3",}', "version", "malformed JSON"),
        ("", "version", "malformed JSON"),
    ],
)
def test_json_refusals(text: str, key: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        version_files.read(spec("m.json", key=key), text)


# --- regex --------------------------------------------------------------------------------------------------------

REGEX_TEXT = """\
APP_NAME = gain
APP_VERSION = 1.2.3
# Keep in sync:
DOC_VERSION = 1.2.3
OTHER = 1.2.3
"""


def test_regex_read_and_rewrite() -> None:
    s = spec("app.cfg", "regex", pattern=r"^(?:APP|DOC)_VERSION = (?P<version>\S+)$")
    assert version_files.read(s, REGEX_TEXT).full == V("1.2.3")
    after = version_files.rewrite(s, REGEX_TEXT, V("2.0.0-beta.1"), 3)
    assert changed_lines(REGEX_TEXT, after) == {
        2: ("APP_VERSION = 1.2.3\n", "APP_VERSION = 2.0.0-beta.1\n"),
        4: ("DOC_VERSION = 1.2.3\n", "DOC_VERSION = 2.0.0-beta.1\n"),
    }
    assert version_files.read(s, after).full == V("2.0.0-beta.1")


@pytest.mark.parametrize(
    ("pattern", "text", "message"),
    [
        (r"^APP_VERSION = (\S+)$", REGEX_TEXT, r"needs a \(\?P<version>\.\.\.\) group"),
        (r"^NOPE = (?P<version>\S+)$", REGEX_TEXT, "matches nothing"),
        (r"^\w+ = (?P<version>\d\S*)$", REGEX_TEXT.replace("OTHER = 1.2.3", "OTHER = 1.2.4"),
         "pattern matches different versions: 1.2.3, 1.2.4"),
        (r"^APP_VERSION = (?P<version>\S+", REGEX_TEXT, "bad pattern"),
        (r"^APP_NAME = (?P<version>\S+)$", REGEX_TEXT, "not a SemVer"),
    ],
)
def test_regex_refusals(pattern: str, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        version_files.read(spec("app.cfg", "regex", pattern=pattern), text)
    assert info.value.where == "app.cfg"


# --- windows-rc ---------------------------------------------------------------------------------------------------

RC = """\
#include <winver.h>
1 VERSIONINFO
 FILEVERSION 1,2,3,41
 PRODUCTVERSION 1,2,3,41
 FILEFLAGSMASK 0x3fL
BEGIN
    BLOCK "StringFileInfo"
    BEGIN
        BLOCK "040904b0"
        BEGIN
            VALUE "CompanyName", "Audio Lab 1,2,3,41"
            VALUE "FileVersion", "1.2.3.41"
            VALUE "ProductVersion", "1.2.3"
            VALUE "LegalCopyright", "1.2.3"
        END
    END
END
"""


def test_windows_rc_read_and_rewrite() -> None:
    check_full_and_build(spec("res/plugin.rc"), "windows-rc", RC, {
        3: (" FILEVERSION 1,2,3,41\n", " FILEVERSION 1,3,0,42\n"),
        4: (" PRODUCTVERSION 1,2,3,41\n", " PRODUCTVERSION 1,3,0,42\n"),
        12: ('            VALUE "FileVersion", "1.2.3.41"\n', '            VALUE "FileVersion", "1.3.0.42"\n'),
        13: ('            VALUE "ProductVersion", "1.2.3"\n',
             '            VALUE "ProductVersion", "1.3.0-rc.1"\n'),
    })


def test_windows_rc_spaced_quads_and_no_strings() -> None:
    text = "FILEVERSION 1, 2, 3, 4\nPRODUCTVERSION 1 ,2 ,3 ,4\n"
    found = version_files.read(spec("a.rc"), text)
    assert (found.full, found.core, found.build) == (None, V("1.2.3"), 4)
    assert version_files.read(spec("a.rc"), version_files.rewrite(spec("a.rc"), text, V("1.2.4"), 5)).build == 5


@pytest.mark.parametrize(
    "text",
    [" FILEVERSION 1,2,3,41\n PRODUCTVERSION 1,2,3,40\n", " FILEVERSION 1,2,3,41\n PRODUCTVERSION 1,2,4,41\n", ""],
)
def test_windows_rc_refusals(text: str) -> None:
    with pytest.raises(BadInput, match="FILEVERSION and PRODUCTVERSION must both be present and equal"):
        version_files.read(spec("a.rc"), text)


def test_windows_rc_field_limits() -> None:
    with pytest.raises(BadInput, match="65535"):
        version_files.rewrite(spec("a.rc"), RC, V("1.2.3"), 65536)
    with pytest.raises(BadInput, match="AudioUnit"):
        version_files.rewrite(spec("a.rc"), RC, V("1.256.0"), 1)


# --- plist --------------------------------------------------------------------------------------------------------

PLIST = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>CFBundleShortVersionString</key>
    <string>1.2.3</string>
    <key>CFBundleVersion</key>
    <string>41</string>
    <key>CFBundleName</key>
    <string>1.2.3</string>
    <key>AudioComponents</key>
    <array>
        <dict>
            <key>name</key>
            <string>Audio Lab: Gain</string>
            <key>version</key>
            <integer>66051</integer>
            <key>other</key>
            <integer>66051</integer>
        </dict>
    </array>
</dict>
</plist>
"""


def test_plist_read_and_rewrite() -> None:
    s = spec("mac/Info.plist")
    assert s.format == "plist"
    found = version_files.read(s, PLIST)
    assert (found.full, found.core, found.build) == (None, V("1.2.3"), 41)
    assert 66051 == 0x010203
    after = version_files.rewrite(s, PLIST, V("1.3.0-rc.1"), 42)
    assert changed_lines(PLIST, after) == {
        6: ("    <string>1.2.3</string>\n", "    <string>1.3.0</string>\n"),
        8: ("    <string>41</string>\n", "    <string>42</string>\n"),
        17: ("            <integer>66051</integer>\n", "            <integer>66304</integer>\n"),
    }
    found = version_files.read(s, after)
    assert (found.core, found.build) == (V("1.3.0"), 42)


def test_plist_two_part_short_version_and_no_au() -> None:
    text = ("<key>CFBundleShortVersionString</key><string>2.5</string>\n"
            "<key>CFBundleVersion</key><string>build-7</string>\n")
    found = version_files.read(spec("x.plist"), text)
    assert (found.core, found.build) == (V("2.5.0"), None)


def test_an_au_integer_disagreeing_with_the_plist_is_named_by_its_field() -> None:
    """Issue 13 item 9: the drifted field is named, and the file only once."""
    text = PLIST.replace("<integer>66051</integer>\n            <key>other", "<integer>66052</integer>\n"
                         "            <key>other")
    found = version_files.read(spec("Info.plist"), text)
    with pytest.raises(BadInput, match="AudioComponents version 66052") as info:
        version_files.agreed_version([found])
    assert str(info.value).count("Info.plist") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PLIST.replace("<string>1.2.3</string>\n    <key>CFBundleVersion", "<string>1.2.3-rc.1</string>\n"
                       "    <key>CFBundleVersion"), "is not x.y.z"),
        ("<dict></dict>", "no CFBundleShortVersionString found"),
    ],
)
def test_plist_refusals(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        version_files.read(spec("Info.plist"), text)
    assert info.value.where == "Info.plist"


# --- round trips over every format -----------------------------------------------------------------------------

CASES = [
    (spec("pyproject.toml"), PYPROJECT, "full"),
    (spec("CMakeLists.txt"), CMAKE, "core"),
    (spec("version.h", macro_prefix="GAIN_VERSION"), HEADER, "full+core+build"),
    (spec("m.json", key="a.b.version"), JSON, "full"),
    (spec("app.cfg", "regex", pattern=r"^APP_VERSION = (?P<version>\S+)$"), REGEX_TEXT, "full"),
    (spec("plugin.rc"), RC, "full+core+build"),
    (spec("Info.plist"), PLIST, "core+build"),
]


@pytest.mark.parametrize(("s", "text", "fields"), CASES, ids=[c[0].format for c in CASES])
@pytest.mark.parametrize(("version", "build"), [("1.3.0-rc.1", 42), ("2.0.0", 43), ("0.0.1", 0),
                                                ("255.255.255", 65535)])
def test_round_trip(s: Spec, text: str, fields: str, version: str, build: int, tmp_path: Path) -> None:
    path = tmp_path / s.path
    path.write_text(text)
    path.chmod(0o640)
    v = V(version)
    rewritten = version_files.rewrite(s, version_files.read_text(tmp_path, s), v, build)
    version_files.write(path, rewritten)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    found = version_files.read(s, version_files.read_text(tmp_path, s))
    assert found.full == (v if "full" in fields else None)
    assert found.core == (v.core if "core" in fields else None)
    assert found.build == (build if "build" in fields else None)
    # rewriting to the same version again changes nothing
    assert version_files.rewrite(s, rewritten, v, build) == rewritten
    # and rewriting back to what the file said restores it byte for byte (except as noted for numeric-only)
    if s.format in ("pyproject", "json", "regex"):
        assert version_files.rewrite(s, rewritten, V("1.2.3"), 41) == text


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="version file not found") as info:
        version_files.read_text(tmp_path, spec("CMakeLists.txt"))
    assert info.value.where == "CMakeLists.txt"
    (tmp_path / "CMakeLists.txt").write_bytes(b"project(x VERSION 1.2.3) \xff\n")
    with pytest.raises(BadInput, match="cannot read version file"):
        version_files.read_text(tmp_path, spec("CMakeLists.txt"))
    (tmp_path / "dir.h").mkdir()
    with pytest.raises(BadInput, match="cannot read version file"):
        version_files.read_text(tmp_path, spec("dir.h", macro_prefix="P"))


# --- numeric fields -----------------------------------------------------------------------------------------------

def test_numeric() -> None:
    n = version_files.numeric(V("1.3.0-rc.1"), 42)
    assert (n.major, n.minor, n.patch, n.build) == (1, 3, 0, 42)
    assert n.au_version == 0x010300 == 66304
    assert n.file_version == "1.3.0.42"
    assert n.fits
    assert n.as_dict() == {"file_version": "1.3.0.42", "bundle_short_version": "1.3.0", "bundle_version": "42",
                           "au_version": 66304}
    top = version_files.numeric(V("65535.255.255"), 65535)
    assert top.au_version == 0xFFFFFFFF and top.file_version == "65535.255.255.65535"


@pytest.mark.parametrize(
    ("version", "build", "message"),
    [
        ("1.256.0", 1, "does not fit the AudioUnit version"),
        ("1.0.256", 1, "does not fit the AudioUnit version"),
        ("65536.0.0", 1, "does not fit the AudioUnit version"),
        ("1.2.3", 65536, "build number 65536 does not fit a Windows FILEVERSION field"),
    ],
)
def test_numeric_limits(version: str, build: int, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        version_files.numeric(V(version), build)
    loose = version_files.numeric(V(version), build, strict=False)
    assert not loose.fits
    assert loose.as_dict()["au_version"] is None


# --- agreement between files ------------------------------------------------------------------------------------

def found(path: str, text: str, **options: object) -> Found:
    return version_files.read(spec(path, **options), text)  # type: ignore[arg-type]


def test_agreed_version() -> None:
    files = [
        found("CMakeLists.txt", "project(x VERSION 1.3.0)"),
        found("pyproject.toml", '[project]\nversion = "1.3.0-rc.1"\n'),
        found("Info.plist", "<key>CFBundleShortVersionString</key><string>1.3.0</string>"),
        found("version.h", '#define P_STRING "1.3.0-rc.1"\n#define P_MAJOR 1\n#define P_MINOR 3\n#define P_PATCH 0\n',
              macro_prefix="P"),
    ]
    full, core = version_files.agreed_version(files)
    assert str(full) == "1.3.0-rc.1" and str(core) == "1.3.0"


def test_agreed_version_numeric_only_and_empty() -> None:
    files = [found("CMakeLists.txt", "project(x VERSION 2.0.0)"),
             found("a.rc", "FILEVERSION 2,0,0,9\nPRODUCTVERSION 2,0,0,9\n")]
    assert version_files.agreed_version(files) == (None, V("2.0.0"))
    assert version_files.agreed_version([]) == (None, None)


@pytest.mark.parametrize("order", [1, -1])
def test_full_and_numeric_files_disagree(order: int) -> None:
    files = [found("pyproject.toml", '[project]\nversion = "1.3.0-rc.1"\n'),
             found("CMakeLists.txt", "project(x VERSION 1.2.0)")][::order]
    with pytest.raises(BadInput) as info:
        version_files.agreed_version(files)
    assert str(info.value) == "version files disagree: pyproject.toml says 1.3.0-rc.1, CMakeLists.txt says 1.2.0"


@pytest.mark.parametrize(("first", "second", "match"), [
    pytest.param(("pyproject.toml", '[project]\nversion = "1.3.0"\n'), ("package.json", '{"version": "1.3.1"}'),
                 "pyproject.toml says 1.3.0, package.json says 1.3.1", id="two-full-versions"),
    pytest.param(("pyproject.toml", '[project]\nversion = "1.3.0+a"\n'), ("p.json", '{"version": "1.3.0+b"}'),
                 "1.3.0\\+a.*1.3.0\\+b", id="build-metadata-must-agree-too"),
    pytest.param(("CMakeLists.txt", "project(x VERSION 1.3.0)"),
                 ("Info.plist", "<key>CFBundleShortVersionString</key><string>1.2.9</string>"),
                 "CMakeLists.txt says 1.3.0, Info.plist says 1.2.9", id="two-numeric-files"),
])
def test_two_files_disagree(first: tuple[str, str], second: tuple[str, str], match: str) -> None:
    with pytest.raises(BadInput, match=match):
        version_files.agreed_version([found(*first), found(*second)])


def test_one_file_disagreeing_with_itself() -> None:
    f = found("v.h", '#define P_STRING "1.3.0"\n#define P_MAJOR 1\n#define P_MINOR 2\n#define P_PATCH 0\n',
              macro_prefix="P")
    with pytest.raises(BadInput, match="P_STRING says 1.3.0, P_MAJOR/_MINOR/_PATCH says 1.2.0") as info:
        version_files.agreed_version([f])
    assert str(info.value).count("v.h") == 1  # issue 13 item 9: the file is named once


# --- Spec.from_config ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("pyproject.toml", "pyproject"),
        ("tools/pyproject.toml", "pyproject"),
        ("CMakeLists.txt", "cmake"),
        ("plugin/CMakeLists.txt", "cmake"),
        ("Info.plist", "plist"),
        ("mac/AU.plist", "plist"),
        ("src/version.h", "c-header"),
        ("src/version.hpp", "c-header"),
        ("package.json", "json"),
        ("res/plugin.rc", "windows-rc"),
    ],
)
def test_format_guessed_from_the_name(path: str, fmt: str) -> None:
    options = {"macro_prefix": "P"} if fmt == "c-header" else {}
    s = Spec.from_config({"path": path, **options}, "releng.toml")
    assert (s.path, s.format) == (path, fmt)


def test_explicit_format_wins_and_options_are_kept() -> None:
    s = Spec.from_config({"path": "VERSION.json", "format": "regex", "pattern": "(?P<version>.+)"}, "w")
    assert s.format == "regex"
    assert dict(s.options) == {"pattern": "(?P<version>.+)"}
    with pytest.raises(BadInput, match="unknown key 'patern' .*did you mean 'pattern'"):  # issue 13: no typo ignored
        Spec.from_config({"path": "VERSION.json", "format": "regex", "patern": "(?P<version>.+)"}, "w")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "VERSION"}, "unknown version file format '' for VERSION"),
        ({"path": "a.txt", "format": "yaml"}, "unknown version file format 'yaml'"),
        ({"path": "cmake.txt", "format": "CMake"}, "unknown version file format 'CMake'"),
        ({"path": "v.txt", "format": "regex"}, "format 'regex' needs a pattern"),
        ({"path": "v.txt", "format": "regex", "pattern": 5}, "needs a pattern"),
        ({"path": "v.h"}, "format 'c-header' needs macro_prefix"),
        ({"path": "p.json", "key": ["a", "b"]}, "'key' must be a dotted string"),
        ({"format": "json"}, "needs a path"),
        ({"path": 5}, "needs a path"),
        ("pyproject.toml", "needs a path"),
    ],
)
def test_spec_refusals(entry: object, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        Spec.from_config(entry, "releng.toml")
    assert info.value.where == "releng.toml"


def test_write_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "CMakeLists.txt"
    path.write_text(CMAKE)
    path.chmod(0o755)
    version_files.write(path, "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert os.listdir(tmp_path) == ["CMakeLists.txt"]
