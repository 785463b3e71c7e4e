"""build-package on the real sample plugin: outputs, reproducibility, contents and version checks, refusals,
installers for the other platforms, code signing and its secrets, interruption."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from releng._scripts.packaging import build_package, verify_artifacts
from releng.packaging import installers, plugin_formats

SCRIPT = Path(build_package.__file__)
LINUX_KINDS = ("deb", "tar.gz", "tar.zst")


def names(release, kinds=LINUX_KINDS, platform: str = "linux", arch: str | None = None) -> list[str]:
    return sorted(f"audiolab-gain-0.1.0-{platform}-{arch or release.arch}.{k}" for k in kinds)


def test_a_release_folder_with_checksums_signature_and_document(release, validate_document):
    files = sorted(p.name for p in release.dist.iterdir())
    assert files == sorted([*names(release), "SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"])
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=release.dist, capture_output=True,
                           text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 3
    doc = json.loads((release.dist / "artifacts.json").read_text())
    validate_document(doc)
    head = release.head()
    assert (doc["name"], doc["version"], doc["commit"], doc["tag"]) == ("audiolab-gain", "0.1.0", head, "v0.1.0")
    assert doc["source_date_epoch"] == release.commit_time and doc["platform"] == "linux"
    for a in doc["artifacts"]:
        assert a["size"] == (release.dist / a["path"]).stat().st_size
    sig = doc["checksums"]["signature"]
    assert sig["public_key"] == release.public_b64
    assert sig["value"] + "\n" == (release.dist / "SHA256SUMS.sig").read_text()
    assert verify_artifacts.main([str(release.dist), "--public-key", release.public_b64]) == 0


def test_archives_are_normalised(release):
    tar_gz = release.dist / names(release, ["tar.gz"])[0]
    raw = tar_gz.read_bytes()
    assert raw[3] == 0 and raw[4:8] == bytes(4)  # no file name, mtime 0
    with tarfile.open(tar_gz) as tar:
        members = tar.getmembers()
    root = f"audiolab-gain-0.1.0-linux-{release.arch}"
    assert [m.name for m in members][:3] == [root, f"{root}/INSTALL.txt", f"{root}/bin"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", release.commit_time)}
    modes = {m.name.removeprefix(root + "/"): m.mode for m in members}
    assert modes["bin/audiolab-gain"] == 0o755 and modes["share/doc/audiolab-gain/LICENSE"] == 0o644
    assert gzip.decompress(raw)  # one valid gzip member, CRC checked


def test_the_deb_installs_under_usr_with_root_owners(release):
    deb = release.dist / names(release, ["deb"])[0]
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: audiolab-gain\nVersion: 0.1.0\n" in fields and "Architecture: " in fields
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./usr/bin/audiolab-gain" in listing and "./usr/share/doc/audiolab-gain/CHANGELOG.md" in listing
    assert all(" root/root " in line for line in listing.splitlines())
    assert all("2023-11-14" in line for line in listing.splitlines())  # every mtime: the commit's time


def test_the_changelog_excerpt_is_this_releases_section(release):
    excerpt = (release.stage / "share/doc/audiolab-gain/CHANGELOG.md").read_text()
    assert excerpt.startswith("## [0.1.0] - 2023-11-14") and "Unreleased" not in excerpt


@pytest.mark.slow
def test_another_checkout_elsewhere_later_gives_byte_identical_files(release, tmp_path):
    """Same commit, other folder, umask, time zone, locale, cwd, thread count and clock: the same bytes."""
    clone = tmp_path / "elsewhere" / "checkout"
    subprocess.run(["git", "clone", "-q", str(release.source), str(clone)], check=True)
    env = dict(os.environ, TZ="Pacific/Chatham", LC_ALL="C", LANG="C")
    cmd = [str(Path(sys.executable).parent / "build-package"), "--source", str(clone), "--signing-key",
           str(release.key), "--out", str(tmp_path / "out"), "--jobs", "1", "-q"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(0o077))
    assert done.returncode == 0, done.stderr
    for name in [*names(release), "SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"]:
        assert (tmp_path / "out" / name).read_bytes() == (release.dist / name).read_bytes(), name


def test_json_prints_the_document_and_dry_run_writes_nothing(release, stage_copy, package, tmp_path, capsys):
    assert package(stage_copy, "--format", "tar.gz", "--json") == 0
    assert capsys.readouterr().out == (tmp_path / "out" / "artifacts.json").read_text()
    assert build_package.main(["--source", str(release.source), "--out", str(tmp_path / "dry"), "--dry-run",
                               "--unsigned", "--build-dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cmake -S ") and out[2].startswith("ctest --test-dir")
    assert out[-1].endswith(names(release, ["deb"])[0]) and not (tmp_path / "dry").exists()


def test_source_date_epoch_from_the_environment_sets_every_mtime(stage_copy, package, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    assert package(stage_copy, "--format", "tar.gz") == 0
    with tarfile.open(next((tmp_path / "out").glob("*.tar.gz"))) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1234567890}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert package(stage_copy, "--format", "tar.gz") == 2


def test_a_missing_or_unexpected_file_fails_naming_it(stage_copy, package, capsys):
    (stage_copy / "share/doc/audiolab-gain/CHANGELOG.md").unlink()
    (stage_copy / "bin" / "libstray.so").write_bytes(b"\x7fELF")
    assert package(stage_copy) == 1
    err = capsys.readouterr().err
    assert "lacks share/doc/audiolab-gain/CHANGELOG.md" in err and "unexpected bin/libstray.so" in err


def test_a_staged_program_of_another_version_fails(stage_copy, package, capsys):
    exe = stage_copy / "bin" / "audiolab-gain"
    exe.write_text("#!/bin/sh\necho 'audiolab-gain 9.9.9'\n")
    assert package(stage_copy) == 1
    assert "reports version 9.9.9, the release is 0.1.0" in capsys.readouterr().err


def test_a_version_document_must_match_head_and_cmake(release, stage_copy, package, tmp_path, capsys):
    doc = {"schema": "releng/version", "schema_version": 1, "version": "0.2.0", "commit": None}
    (tmp_path / "v.json").write_text(json.dumps(doc))
    assert package(stage_copy, "--version-file", str(tmp_path / "v.json")) == 1
    assert "project() says 0.1.0, the version document 0.2.0" in capsys.readouterr().err
    (tmp_path / "v.json").write_text(json.dumps({**doc, "version": "0.1.0", "commit": "ab" * 20}))
    assert package(stage_copy, "--version-file", str(tmp_path / "v.json")) == 1
    assert "is for commit abababababab" in capsys.readouterr().err


def test_a_prerelease_becomes_a_debian_tilde_version(stage_copy, package, tmp_path):
    (stage_copy / "bin" / "audiolab-gain").write_text("#!/bin/sh\necho 'audiolab-gain 0.1.0-rc.1'\n")
    doc = {"schema": "releng/version", "schema_version": 1, "version": "0.1.0-rc.1", "commit": None}
    (tmp_path / "v.json").write_text(json.dumps(doc))
    assert package(stage_copy, "--version-file", str(tmp_path / "v.json"), "--format", "deb") == 0
    deb = tmp_path / "out" / f"audiolab-gain-0.1.0-rc.1-linux-{plugin_formats.host_arch()}.deb"
    assert subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                          text=True).stdout == "0.1.0~rc.1\n"


@pytest.mark.parametrize("make", ["fifo", "escaping symlink", "absolute symlink"])
def test_an_unsafe_staging_tree_is_refused_and_nothing_is_written(stage_copy, package, tmp_path, capsys, make):
    target = stage_copy / "share" / "audiolab-gain" / "presets" / "odd"
    {"fifo": lambda: os.mkfifo(target), "escaping symlink": lambda: target.symlink_to("../../../../etc/passwd"),
     "absolute symlink": lambda: target.symlink_to("/etc/passwd")}[make]()
    assert package(stage_copy) == 2
    assert "presets/odd" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_archive_root_with_dotdot_is_refused(release, stage_copy, package, tmp_path, capsys):
    cfg = tmp_path / "releng.toml"
    cfg.write_text('[project]\nname = "audiolab-gain"\n[packaging]\narchive_root = "../escape"\n')
    assert package(stage_copy, "--config", str(cfg)) == 2
    assert "'..'" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["contents", "changelog", "installer_configs"])
def test_a_configured_path_outside_the_source_is_refused(release, stage_copy, package, tmp_path, capsys, key):
    """Issue 12: every configured path resolves inside the repository (here --source), else exit 2 naming it."""
    cfg = tmp_path / "releng.toml"
    cfg.write_text(f'[project]\nname = "audiolab-gain"\n[packaging]\n{key} = "../../outside"\n')
    assert package(stage_copy, "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: [packaging] {key} '../../outside' is outside the repository") and \
        err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _tool_dir(tmp_path: Path, *tools: str) -> str:
    folder = tmp_path / "tools"
    folder.mkdir()
    for tool in tools:
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


def test_without_cmake_the_error_names_what_to_install(release, tmp_path):
    env = dict(os.environ, PATH=_tool_dir(tmp_path, "git"))
    done = subprocess.run([sys.executable, str(SCRIPT), "--source", str(release.source), "--unsigned",
                           "--build-dir", str(tmp_path / "b")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "cmake not found on PATH: install CMake" in done.stderr and "Traceback" not in done.stderr


def test_without_a_compiler_the_error_names_what_to_install(release, tmp_path):
    env = dict(os.environ, PATH=_tool_dir(tmp_path, "git", "cmake", "ctest"))
    done = subprocess.run([sys.executable, str(SCRIPT), "--source", str(release.source), "--unsigned",
                           "--build-dir", str(tmp_path / "b")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "no working C++ compiler found: install one (apt-get install g++" in done.stderr


def test_keys_come_from_a_file_or_the_environment_never_from_nowhere(release, stage_copy, package, tmp_path,
                                                                    monkeypatch, capsys):
    assert build_package.main(["--source", str(release.source), "--print-public-key", "--signing-key",
                               str(release.key)]) == 0
    assert capsys.readouterr().out == release.public_b64 + "\n"
    assert build_package.main(["--source", str(release.source), "--staging", str(stage_copy)]) == 2
    assert "no signing key" in capsys.readouterr().err
    pem = release.key.read_text()
    monkeypatch.setenv("RELENG_SIGNING_KEY", pem)
    assert package(stage_copy, "--format", "tar.gz", signed=False) == 0  # --unsigned wins over the variable
    assert not (tmp_path / "out" / "SHA256SUMS.sig").exists()
    assert verify_artifacts.main([str(tmp_path / "out"), "--public-key", release.public_b64]) == 1
    assert build_package.main(["--source", str(release.source), "--staging", str(stage_copy), "--out",
                               str(tmp_path / "env"), "--format", "tar.gz", "--build-dir", str(tmp_path / "w")]) == 0
    assert verify_artifacts.main([str(tmp_path / "env"), "--public-key", release.public_b64]) == 0
    captured = capsys.readouterr()
    assert pem.splitlines()[1] not in captured.out + captured.err


SIGNER = """import os, shutil, sys
stage, path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
with open(os.environ["SIGN_LOG"], "a") as log:
    log.write(f"{stage} {os.path.basename(path)} {secret == os.environ['EXPECTED']}\\n")
if os.environ.get("SIGN_FAIL"):
    sys.stderr.write(f"signtool: bad password {secret}\\n")
    sys.exit(3)
if stage == "artifact":
    shutil.copyfile(path, sys.argv[4])
    with open(sys.argv[4], "ab") as f:
        f.write(b"signature")
"""


def test_code_signing_runs_configured_commands_and_never_shows_secrets(release, stage_copy, package, tmp_path,
                                                                      monkeypatch, capsys):
    (tmp_path / "signer.py").write_text(SIGNER)
    py, signer = json.dumps(sys.executable), json.dumps(str(tmp_path / "signer.py"))
    (tmp_path / "releng.toml").write_text(f"""[project]
name = "audiolab-gain"
[[packaging.code_sign.linux]]
stage = "staged"
match = ["bin/*"]
command = [{py}, {signer}, "staged", "{{file}}", "{{env:SIGN_SECRET}}"]
[[packaging.code_sign.linux]]
match = ["*.tar.gz"]
command = [{py}, {signer}, "artifact", "{{file}}", "{{env:SIGN_SECRET}}", "{{out}}"]
""")
    secret = "hunter2-correct-horse"
    monkeypatch.setenv("SIGN_SECRET", secret)
    monkeypatch.setenv("EXPECTED", secret)
    monkeypatch.setenv("SIGN_LOG", str(tmp_path / "log"))
    assert package(stage_copy, "--config", str(tmp_path / "releng.toml"), "--format", "tar.gz", "-v") == 0
    assert (tmp_path / "log").read_text().splitlines() == [
        "staged audiolab-gain True", f"artifact audiolab-gain-0.1.0-linux-{release.arch}.tar.gz True"]
    out = tmp_path / "out"
    assert next(out.glob("*.tar.gz")).read_bytes().endswith(b"signature")
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True).returncode == 0
    monkeypatch.setenv("SIGN_FAIL", "1")
    assert package(stage_copy, "--config", str(tmp_path / "releng.toml"), "--format", "tar.gz", "-v") == 1
    captured = capsys.readouterr()
    assert "code signing failed" in captured.err and "bad password ***" in captured.err
    assert secret not in captured.out + captured.err
    monkeypatch.delenv("SIGN_SECRET")
    assert package(stage_copy, "--config", str(tmp_path / "releng.toml"), "--format", "tar.gz") == 2
    assert "SIGN_SECRET, which is not set" in capsys.readouterr().err


def _fake_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


COMMON = {"share/audiolab-gain/presets/gentle.json": "{}", "share/doc/audiolab-gain/LICENSE": "MIT",
          "share/doc/audiolab-gain/README.md": "# Gain", "share/doc/audiolab-gain/CHANGELOG.md": "## [0.1.0]"}


def test_windows_zip_and_the_inno_setup_script(release, package, tmp_path, capsys):
    stage = _fake_tree(tmp_path / "win", {**COMMON, "bin/audiolab-gain.exe": "MZ",
                                          "lib/vst3/Gain.vst3/Contents/x86_64-win/Gain.vst3": "MZ",
                                          "lib/clap/Gain.clap": "MZ",
                                          "lib/aax/Gain.aaxplugin/Contents/x64/Gain.aaxplugin": "MZ"})
    assert package(stage, "--platform", "windows", "--arch", "x86_64") == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("audiolab-*")) == [
        "audiolab-gain-0.1.0-windows-x86_64.zip"]
    assert "iscc not found: generated" in capsys.readouterr().err
    with zipfile.ZipFile(tmp_path / "out" / "audiolab-gain-0.1.0-windows-x86_64.zip") as z:
        assert "audiolab-gain-0.1.0-windows-x86_64/INSTALL.txt" in z.namelist()
        install = z.read("audiolab-gain-0.1.0-windows-x86_64/INSTALL.txt").decode()
    assert r"C:\Program Files\Common Files\VST3" in install and r"%LOCALAPPDATA%\Programs\Common\CLAP" in install
    iss = (tmp_path / "work" / "windows-x86_64" / "audiolab-gain.iss").read_text()
    for line in [
        "AppVersion=0.1.0", "VersionInfoVersion=0.1.0.0", "OutputBaseFilename=audiolab-gain-0.1.0-windows-x86_64",
        "ArchitecturesInstallIn64BitMode=x64compatible", "TouchDate=2023-11-14", "TouchTime=22:13:20",
        "SourceDir=..\\..\\win", r"LicenseFile=share\doc\audiolab-gain\LICENSE",
        'Name: "aax"; Description: "AAX plug-in"; Types: full',
        'Source: "bin\\audiolab-gain.exe"; DestDir: "{app}\\bin"; Components: program; Flags: ignoreversion',
        'Source: "lib\\aax\\Gain.aaxplugin\\*"; DestDir: "{commoncf}\\Avid\\Audio\\Plug-Ins\\Gain.aaxplugin"; '
        "Components: aax; Flags: ignoreversion recursesubdirs createallsubdirs",
        'Source: "lib\\clap\\Gain.clap"; DestDir: "{commoncf}\\CLAP"; Components: clap; Flags: ignoreversion',
        'Source: "lib\\vst3\\Gain.vst3\\*"; DestDir: "{commoncf}\\VST3\\Gain.vst3"; Components: vst3; '
        "Flags: ignoreversion recursesubdirs createallsubdirs",
    ]:
        assert line in iss.splitlines(), line
    assert iss.startswith("; Inno Setup 6.3+ script") and "AppId={{" in iss and "$" not in iss


def test_macos_zip_and_the_exact_pkgbuild_productbuild_commands(release, package, tmp_path, capsys):
    bundles = {f"lib/{folder}/Gain.{ext}/Contents/{part}": "x" for folder, ext in
               (("vst3", "vst3"), ("components", "component"), ("clap", "clap"))
               for part in ("Info.plist", "MacOS/Gain")}
    stage = _fake_tree(tmp_path / "mac", {**COMMON, "bin/audiolab-gain": "#!/bin/sh\n", **bundles})
    assert package(stage, "--platform", "macos", "--arch", "universal") == 0
    assert "pkgbuild/productbuild not found" in capsys.readouterr().err
    assert (tmp_path / "out" / "audiolab-gain-0.1.0-macos-universal.zip").exists()
    from releng.packaging.archive.entries import scan

    entries = scan(stage)
    found = plugin_formats.find_bundles((e.name, e.kind == "dir") for e in entries)
    meta = installers.Meta(name="audiolab-gain", display_name="AudioLab Gain", version="0.1.0", publisher="AudioLab",
                           maintainer="m", summary="s", description="", homepage="", identifier="com.audiolab")
    template = (SCRIPT.parent / "installer_configs" / "macos-distribution.xml.in").read_text()
    w, out = tmp_path / "w", tmp_path / "o.pkg"
    plan = installers.macos_plan(entries, found, meta, "universal", template, work=w, output=out)

    def pkgbuild(component: str, location: str) -> list[str]:
        plist = [] if component == "program" else ["--component-plist", f"{w}/{component}.plist"]
        return ["pkgbuild", "--root", f"{w}/roots/{component}", *plist, "--identifier",
                f"com.audiolab.audiolab-gain.{component}", "--version", "0.1.0", "--install-location", location,
                f"{w}/packages/audiolab-gain-{component}.pkg"]

    assert plan.commands == [
        pkgbuild("program", "/usr/local"), pkgbuild("clap", "/Library/Audio/Plug-Ins/CLAP"),
        pkgbuild("au", "/Library/Audio/Plug-Ins/Components"), pkgbuild("vst3", "/Library/Audio/Plug-Ins/VST3"),
        ["productbuild", "--distribution", f"{w}/distribution.xml", "--package-path", f"{w}/packages",
         "--version", "0.1.0", str(out)]]
    assert [e.name for e in plan.roots["au"]][:2] == ["Gain.component", "Gain.component/Contents"]
    assert b"<key>BundleIsRelocatable</key>\n\t\t<false/>" in plan.files["vst3.plist"]
    xml = plan.files["distribution.xml"].decode()
    assert 'hostArchitectures="arm64,x86_64"' in xml and '<choice id="au" title="Audio Unit plug-in">' in xml


def test_linux_plugin_bundles_go_to_the_system_plugin_folders(stage_copy, package, tmp_path, capsys):
    so = f"lib/vst3/Gain.vst3/Contents/{plugin_formats.VST3_ARCH[('linux', plugin_formats.host_arch())]}/Gain.so"
    _fake_tree(stage_copy, {so: "ELF", "lib/clap/Gain.clap": "ELF"})
    assert package(stage_copy, "--format", "deb") == 0
    deb = next((tmp_path / "out").glob("*.deb"))
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    assert f"./usr/{so}" in listing and "./usr/lib/clap/Gain.clap" in listing
    (stage_copy / so).unlink()
    assert package(stage_copy, "--format", "deb") == 1
    assert "Gain.vst3 lacks Contents/" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_build_leaves_no_artifact_in_the_output_folder(release, stage_copy, tmp_path):
    (stage_copy / "share" / "audiolab-gain" / "big.pak").write_bytes(os.urandom(96 << 20))
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--source", str(release.source), "--staging", str(stage_copy), "--out",
           str(out), "--unsigned", "--format", "tar.gz", "--jobs", "1", "--build-dir", str(tmp_path / "w")]
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not list(out.glob(".*.partial")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(sig)
        code = proc.wait(30)
        visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        assert visible == [], (sig, visible)
        if sig == signal.SIGINT:
            assert code == 130 and list(out.iterdir()) == []
        else:
            assert code == -signal.SIGKILL and list(out.glob(".*.partial"))  # a hidden temp at most
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert not list(out.glob(".*.partial"))  # the next run cleans up after a killed one


def _openssl_verify(public_b64: str, data: Path, signature: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    der = bytes.fromhex("302a300506032b6570032100") + base64.b64decode(public_b64)  # RFC 8410 SPKI
    (tmp_path / "pub.pem").write_text(f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(der).decode()}\n"
                                      "-----END PUBLIC KEY-----\n")
    (tmp_path / "sig").write_bytes(signature)
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
                           "-in", str(data), "-sigfile", str(tmp_path / "sig")], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_the_signature_verifies_with_openssl_alone(release, tmp_path, new_key):
    """An independent Ed25519 implementation (OpenSSL) accepts SHA256SUMS.sig (docs/security-properties.md #39)."""
    signature = base64.b64decode((release.dist / "SHA256SUMS.sig").read_text())
    done = _openssl_verify(release.public_b64, release.dist / "SHA256SUMS", signature, tmp_path)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout
    _, other = new_key("other.pem")
    assert _openssl_verify(other, release.dist / "SHA256SUMS", signature, tmp_path).returncode != 0


def test_file_order_times_and_modes_of_the_staging_tree_do_not_matter(release, package, tmp_path):
    """The same content staged in the opposite order, with other mtimes and group/other bits, packs the same."""
    files = sorted(p for p in release.stage.rglob("*") if p.is_file())
    out = {}
    for label, order, mode_bits, stamp in (("a", files, 0o000, 1_000_000_000), ("b", files[::-1], 0o066, 2 ** 31)):
        stage = tmp_path / f"stage-{label}"
        for src in order:
            dest = stage / src.relative_to(release.stage)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            dest.chmod((src.stat().st_mode & 0o700) | mode_bits)
            os.utime(dest, (stamp, stamp))
        assert package(stage, "--out", str(tmp_path / label), "--format", "tar.gz", "--format", "zip",
                       "--format", "tar.zst", "--format", "deb") == 0
        out[label] = {p.name: p.read_bytes() for p in (tmp_path / label).iterdir()}
    assert out["a"] == out["b"] and len(out["a"]) == 7
