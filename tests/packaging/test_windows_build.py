"""build-package --platform windows on Linux: a mingw-w64 cross build, an MSI made by wixl and read back with
msitools, Authenticode signatures by osslsigncode; and the exit-2 cases of a missing toolchain or wixl."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from releng.packaging import msi

_spec = importlib.util.spec_from_file_location("windowskit", Path(__file__).with_name("windowskit.py"))
assert _spec is not None and _spec.loader is not None
windowskit = sys.modules.setdefault("windowskit", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(windowskit)

NAME = "audiolab-gain"
PE_FILES = ["bin/audiolab-gain.exe", "lib/clap/AudioLabGain.clap",
            "lib/vst3/AudioLabGain.vst3/Contents/x86_64-win/AudioLabGain.vst3"]


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory):
    if windowskit.missing_tools():
        if os.environ.get("CI"):
            pytest.fail(f"missing {', '.join(windowskit.missing_tools())} (.ci/run installs them)")
        pytest.skip(f"not installed: {', '.join(windowskit.missing_tools())}")
    return windowskit.build(tmp_path_factory.mktemp("windows"))


def _plain(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the sample plugin outside any repository, and an environment giving its SOURCE_DATE_EPOCH."""
    return (windowskit.copy_plugin(tmp_path / "plugin", windowskit.CHANGELOG),
            dict(os.environ, SOURCE_DATE_EPOCH=str(windowskit.COMMIT_TIME)))


def _bin_without(tmp_path: Path, *tools: str, exclude: tuple[str, ...]) -> dict[str, str]:
    """An environment whose PATH holds only `tools` (symlinked), so that whatever else is absent."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if found and tool not in exclude:
            (folder / tool).symlink_to(found)
    return dict(os.environ, PATH=str(folder), SOURCE_DATE_EPOCH=str(windowskit.COMMIT_TIME))


@pytest.mark.slow
def test_the_cross_build_stages_pe_files_in_the_bundle_layouts(windows):
    for path in PE_FILES:
        assert (windows.stage / path).read_bytes()[:2] == b"MZ", path
    assert "ctest skipped: the tests are Windows programs and wine is not installed" in windows.stderr \
        or shutil.which("wine")
    assert "with mingw-w64-x86_64.cmake" in windows.stderr
    doc = json.loads((windows.dist / "artifacts.json").read_text())
    assert sorted(a["kind"] for a in doc["artifacts"]) == ["msi", "zip"]


@pytest.mark.slow
def test_the_msi_installs_per_machine_at_the_standard_paths(windows):
    path = windows.dist / windowskit.MSI
    files = msi.installed_files(path)
    assert sorted(files) == sorted([
        "CommonFiles64Folder/CLAP/AudioLabGain.clap",
        "CommonFiles64Folder/VST3/AudioLabGain.vst3/Contents/x86_64-win/AudioLabGain.vst3",
        f"ProgramFiles64Folder/{NAME}/bin/audiolab-gain.exe",
        *(f"ProgramFiles64Folder/{NAME}/share/{NAME}/presets/{p}" for p in
          ("broadcast-safe.json", "gentle.json", "loud.json")),
        *(f"ProgramFiles64Folder/{NAME}/share/doc/{NAME}/{d}" for d in ("CHANGELOG.md", "LICENSE", "README.md"))])
    props = msi.properties(path)
    assert props["ProductVersion"] == "0.1.0"
    assert props["ALLUSERS"] == "1"  # InstallScope perMachine
    codes = msi.codes("com.audiolab", NAME, "0.1.0", "x86_64", "")
    assert props["UpgradeCode"] == codes.upgrade and props["ProductCode"] == codes.product
    assert codes.upgrade in msi.upgrade_codes(path)  # MajorUpgrade: a newer MSI removes this one
    assert msi.summary(path)["Template"] == "x64;1033"


def test_upgrade_code_is_per_product_and_product_code_per_version():
    one, two = (msi.codes("com.audiolab", NAME, v, "x86_64", "c") for v in ("0.1.0", "0.2.0"))
    assert one.upgrade == two.upgrade and one.product != two.product
    assert msi.codes("com.other", NAME, "0.1.0", "x86_64", "c").upgrade != one.upgrade
    assert msi.codes("com.audiolab", NAME, "0.1.0", "x86_64", "d").package != one.package
    assert one == msi.codes("com.audiolab", NAME, "0.1.0", "x86_64", "c")


@pytest.mark.parametrize(("version", "numeric"), [("1.2.3", "1.2.3"), ("1.3.0-rc.1", "1.3.0"), ("1.2.3+45", "1.2.3.45"),
                                                  ("1.2.3+abc", "1.2.3"), ("255.255.65535", "255.255.65535")])
def test_the_msi_version_is_numeric(version, numeric):
    assert msi.numeric_version(version) == numeric


def test_a_version_msi_cannot_hold_is_refused():
    with pytest.raises(Exception, match="255.255.65535"):
        msi.numeric_version("256.0.0")


@pytest.mark.slow
def test_two_msi_builds_are_byte_identical(windows, tmp_path):
    """wixl's random revision number and clock times are pinned (msi.pin): the rest is a function of the input.
    (Without Authenticode: a signature carries its signing time.)"""
    source, env = _plain(tmp_path)
    outs = []
    for n in range(2):
        if n:
            time.sleep(1.1)  # another clock second for wixl's timestamps
        out = tmp_path / f"out{n}"
        done = windowskit.build_package(
            "--source", str(source), "--staging", str(windows.stage), "--platform", "windows", "--arch",
            "x86_64", "--format", "msi", "--unsigned", "--out", str(out), "--build-dir", str(tmp_path / f"w{n}"),
            cwd=tmp_path, env=dict(env, TZ=["UTC", "Asia/Tokyo"][n]))
        assert done.returncode == 0, done.stderr
        outs.append((out / windowskit.MSI).read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.slow
def test_staged_pe_files_and_the_msi_are_authenticode_signed(windows):
    for path in [windows.dist / windowskit.MSI, *(windows.stage / p for p in PE_FILES)]:
        done = subprocess.run(["osslsigncode", "verify", "-CAfile", str(windows.ca), "-in", str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, (path.name, done.stdout[-800:])
    assert windowskit.PASSWORD not in windows.stderr and "{env:WIN_CERT_PASSWORD}" in windows.stderr


@pytest.mark.slow
def test_the_zip_holds_the_signed_pe_files_too(windows):
    import zipfile

    with zipfile.ZipFile(windows.dist / "audiolab-gain-0.1.0-windows-x86_64.zip") as z:
        data = z.read(f"{NAME}-0.1.0-windows-x86_64/bin/audiolab-gain.exe")
    assert data == (windows.stage / "bin/audiolab-gain.exe").read_bytes()


def test_without_the_mingw_toolchain_the_error_names_the_debian_package(tmp_path):
    source, _ = _plain(tmp_path)
    env = _bin_without(tmp_path, "git", "cmake", "ctest", exclude=())
    done = windowskit.build_package("--source", str(source), "--platform", "windows", "--arch", "x86_64",
                                    "--format", "zip", "--unsigned", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "g++-mingw-w64-x86-64-posix" in done.stderr and "Traceback" not in done.stderr
    assert not (source / "build").exists()


def test_without_wixl_the_msi_is_exit_2_before_anything_is_built(tmp_path):
    source, _ = _plain(tmp_path)
    env = _bin_without(tmp_path, "git", "cmake", "ctest", "x86_64-w64-mingw32-g++", exclude=("wixl",))
    done = windowskit.build_package("--source", str(source), "--platform", "windows", "--arch", "x86_64",
                                    "--format", "msi", "--unsigned", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "wixl not found" in done.stderr and "apt-get install wixl" in done.stderr
    assert not (source / "build").exists()


@pytest.mark.parametrize(("setting", "message"), [
    ('windows_toolchian = "x.cmake"', "windows_toolchian"),
    ('windows_toolchain = "no-such.cmake"', "no such CMake toolchain file"),
])
def test_toolchain_settings_are_checked(tmp_path, setting, message):
    if shutil.which("x86_64-w64-mingw32-g++") is None:
        pytest.skip("mingw-w64 is not installed")
    source, env = _plain(tmp_path)
    with (source / "releng.toml").open("a") as f:
        f.write(setting + "\n")
    done = windowskit.build_package("--source", str(source), "--platform", "windows", "--arch", "x86_64",
                                    "--format", "zip", "--unsigned", "--dry-run", cwd=tmp_path, env=env)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_dry_run_shows_the_toolchain_and_no_ctest_without_wine(tmp_path):
    if shutil.which("x86_64-w64-mingw32-g++") is None:
        pytest.skip("mingw-w64 is not installed")
    if shutil.which("wine"):
        pytest.skip("wine is there: ctest runs")
    source, env = _plain(tmp_path)
    done = windowskit.build_package("--source", str(source), "--platform", "windows", "--arch", "x86_64",
                                    "--format", "zip", "--unsigned", "--dry-run", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "-DCMAKE_TOOLCHAIN_FILE=" in done.stdout and "mingw-w64-x86_64.cmake" in done.stdout
    assert "ctest" not in done.stdout


def test_print_public_key_works_outside_a_repository(tmp_path):
    public = windowskit.write_key(tmp_path / "release.pem")
    done = windowskit.build_package("--print-public-key", "--signing-key", "release.pem", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == public + "\n"
