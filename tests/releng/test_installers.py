"""releng.packaging.installers and releng.packaging.plugin_formats: Debian versions and control files, bundle
layouts, install locations."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from releng.errors import BadInput
from releng.packaging import installers, plugin_formats
from releng.packaging.archive.entries import Entry

META = installers.Meta(name="audiolab-gain", display_name="AudioLab Gain", version="1.3.0-rc.1", publisher="AudioLab",
                       maintainer="Rel Eng <re@example.org>", summary="A gain plug-in",
                       description="Gain stage and limiter.\n\nWith presets.", homepage="https://audiolab.example",
                       identifier="com.audiolab")


@pytest.mark.parametrize(("semver", "deb"), [
    ("1.2.3", "1.2.3"), ("1.3.0-rc.1", "1.3.0~rc.1"), ("1.3.0-alpha", "1.3.0~alpha"),
    ("2.0.0-rc-1.2", "2.0.0~rc.1.2"), ("1.0.0+build.7", "1.0.0+build.7"),
    ("1.0.0-beta.2+exp.sha-5", "1.0.0~beta.2+exp.sha.5"),
])
def test_deb_versions(semver, deb):
    assert installers.deb_version(semver) == deb


def test_deb_versions_sort_like_semver():
    """dpkg itself agrees: each SemVer in precedence order gives Debian versions in increasing order."""
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    debs = [installers.deb_version(v) for v in ordered]
    for low, high in zip(debs, debs[1:], strict=False):
        assert subprocess.run(["dpkg", "--compare-versions", low, "lt", high]).returncode == 0, (low, high)


def test_deb_control():
    text = installers.deb_control(META, "amd64", 120)
    assert text == ("Package: audiolab-gain\nVersion: 1.3.0~rc.1\nArchitecture: amd64\n"
                    "Maintainer: Rel Eng <re@example.org>\nInstalled-Size: 120\nSection: sound\nPriority: optional\n"
                    "Homepage: https://audiolab.example\nDescription: A gain plug-in\n Gain stage and limiter.\n .\n"
                    " With presets.\n")
    with pytest.raises(BadInput, match="Debian package name"):
        installers.deb_control(dataclasses.replace(META, name="Gain_Plugin"), "amd64", 1)


def _bundle(path: str, is_dir: bool = True) -> plugin_formats.Bundle:
    found = plugin_formats.find_bundles([(path, is_dir)])
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(("path", "expected"), [
    ("bin/audiolab-gain", "usr/bin/audiolab-gain"),
    ("lib/vst3/G.vst3/Contents/x86_64-linux/G.so", "usr/lib/vst3/G.vst3/Contents/x86_64-linux/G.so"),
    ("plugins/G.vst3/Contents/x86_64-linux/G.so", "usr/lib/vst3/G.vst3/Contents/x86_64-linux/G.so"),
    ("lib/clap/G.clap", "usr/lib/clap/G.clap"),
])
def test_deb_destinations(path, expected):
    bundles = plugin_formats.find_bundles([("lib/vst3/G.vst3", True), ("plugins/G.vst3", True),
                                           ("lib/clap/G.clap", False)])
    assert installers.deb_destination(path, bundles) == expected


def test_outermost_bundles_only():
    found = plugin_formats.find_bundles([("a/X.vst3", True), ("a/X.vst3/Contents/Resources/inner.clap", False),
                                  ("b/Y.component", True), ("bin/tool", False)])
    assert [(b.format.key, b.path, b.stem) for b in found] == [("vst3", "a/X.vst3", "X"), ("au", "b/Y.component", "Y")]


@pytest.mark.parametrize(("platform", "arch", "path", "is_dir", "files", "problem"), [
    ("linux", "x86_64", "G.vst3", True, {"G.vst3/Contents/x86_64-linux/G.so"}, None),
    ("linux", "arm64", "G.vst3", True, {"G.vst3/Contents/aarch64-linux/G.so"}, None),
    ("linux", "x86_64", "G.vst3", True, {"G.vst3/Contents/x86_64-win/G.vst3"}, "lacks Contents/x86_64-linux/G.so"),
    ("windows", "x86_64", "G.vst3", True, {"G.vst3/Contents/x86_64-win/G.vst3"}, None),
    ("windows", "x86_64", "G.vst3", False, {"G.vst3"}, None),  # the legacy single-file VST3
    ("macos", "universal", "G.vst3", True, {"G.vst3/Contents/Info.plist", "G.vst3/Contents/MacOS/G"}, None),
    ("macos", "arm64", "G.component", True, {"G.component/Contents/MacOS/G"}, "lacks Contents/Info.plist"),
    ("linux", "x86_64", "G.component", True, set(), "do not exist on linux"),
    ("linux", "x86_64", "G.aaxplugin", True, set(), "do not exist on linux"),
    ("windows", "x86_64", "G.aaxplugin", True, {"G.aaxplugin/Contents/x64/G.aaxplugin"}, None),
    ("windows", "x86_64", "G.clap", False, {"G.clap"}, None),
    ("linux", "x86_64", "G.clap", True, set(), "is one file, not a folder"),
    ("macos", "arm64", "G.clap", False, {"G.clap"}, "is a bundle folder, not a file"),
])
def test_bundle_layouts(platform, arch, path, is_dir, files, problem):
    found = plugin_formats.check_layout(_bundle(path, is_dir), files, platform, arch)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0]


def test_standard_install_locations():
    f = plugin_formats.FORMATS
    assert plugin_formats.windows_path(f["vst3"].system["windows"]) == r"C:\Program Files\Common Files\VST3"
    assert f["au"].system == {"macos": "/Library/Audio/Plug-Ins/Components"}
    assert f["vst3"].user["linux"] == "~/.vst3" and f["clap"].user["linux"] == "~/.clap"
    assert f["aax"].system["macos"] == "/Library/Application Support/Avid/Audio/Plug-Ins"


def test_inno_files_for_program_files_and_each_format():
    entries = [Entry("bin", "dir", 0o755), Entry("bin/g.exe", "file", 0o755, 2),
               Entry('share/doc/we"ird.txt', "file", 0o644, 1), Entry("lib/vst3/G.vst3", "dir", 0o755),
               Entry("lib/vst3/G.vst3/Contents/x86_64-win/G.vst3", "file", 0o644, 1)]
    bundles = plugin_formats.find_bundles((e.name, e.kind == "dir") for e in entries)
    components, files = installers.inno_files(entries, bundles)
    assert components[1] == 'Name: "vst3"; Description: "VST3 plug-in"; Types: full'
    assert files == [
        'Source: "bin\\g.exe"; DestDir: "{app}\\bin"; Components: program; Flags: ignoreversion',
        'Source: "share\\doc\\we""ird.txt"; DestDir: "{app}\\share\\doc"; Components: program; Flags: ignoreversion',
        'Source: "lib\\vst3\\G.vst3\\*"; DestDir: "{commoncf}\\VST3\\G.vst3"; Components: vst3; '
        "Flags: ignoreversion recursesubdirs createallsubdirs",
    ]


def test_an_inno_template_with_an_unknown_field_is_bad_input():
    with pytest.raises(BadInput, match="installer template"):
        installers.inno_script("${nope}", META, "x86_64", [], [], source_dir="s", output_base="o", mtime=0,
                               license_file=None)
