"""validate-release's package-contents gate on a Windows MSI made on Linux: read back with msitools (files at
their install paths, the version), Authenticode verified with osslsigncode for the MSI and every PE inside."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from releng import config, semver
from releng.packaging import staging
from releng.validation import artifact_gates, checklist

_KIT = Path(__file__).parents[1] / "packaging" / "windowskit.py"
_spec = importlib.util.spec_from_file_location("windowskit", _KIT)
assert _spec is not None and _spec.loader is not None
windowskit = sys.modules.setdefault("windowskit", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(windowskit)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory):
    if windowskit.missing_tools():
        if os.environ.get("CI"):
            pytest.fail(f"missing {', '.join(windowskit.missing_tools())} (.ci/run installs them)")
        pytest.skip(f"not installed: {', '.join(windowskit.missing_tools())}")
    return windowskit.build(tmp_path_factory.mktemp("windows"))


def _context(windows, dist: Path, version: str = "0.1.0", **packaging: object) -> checklist.Context:
    settings = tomllib.loads((windows.source / "releng.toml").read_text())["packaging"]
    return checklist.Context(
        repo=windows.source, profile="release", settings=dict(checklist.DEFAULTS), version=semver.parse(version),
        artifacts_doc=json.loads((dist / "artifacts.json").read_text()), dist=dist,
        contents=windows.source / "package_contents.toml", packaging={**settings, **packaging})


def _problems(ctx: checklist.Context, **fields: str) -> list[str]:
    data = config.load_toml(ctx.contents)
    manifest = staging.load_manifest(data, "windows", {"name": "audiolab-gain", "exe": ".exe", **fields},
                                     str(ctx.contents))
    return artifact_gates.msi_problems(ctx, ctx.dist / windowskit.MSI, manifest)


@pytest.fixture
def dist(windows, tmp_path):
    copy = tmp_path / "dist"
    shutil.copytree(windows.dist, copy)
    return copy


@pytest.mark.slow
def test_a_signed_msi_passes_the_contents_gate(windows, dist):
    ok, notes = artifact_gates.contents(_context(windows, dist))
    assert ok is True, notes
    assert windowskit.MSI in notes[0] and "audiolab-gain-0.1.0-windows-x86_64.zip" in notes[0]


@pytest.mark.slow
def test_a_tampered_msi_fails(windows, dist):
    path = dist / windowskit.MSI
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the embedded cabinet: the files' bytes
    path.write_bytes(bytes(data))
    problems = _problems(_context(windows, dist))
    assert any("Authenticode: the MSI does not verify" in p for p in problems), problems


@pytest.mark.slow
def test_another_certificate_authority_fails_the_msi_and_every_pe_inside(windows, dist, tmp_path):
    _, other_ca = windowskit.make_certificate(tmp_path / "other", "other")
    shutil.copyfile(other_ca, windows.source / "other-ca.pem")
    try:
        problems = _problems(_context(windows, dist, authenticode_ca="other-ca.pem"))
    finally:
        (windows.source / "other-ca.pem").unlink()
    assert len([p for p in problems if p.startswith("Authenticode:")]) == 4, problems  # the MSI and 3 PE files
    assert any("AudioLabGain.clap" in p for p in problems)


@pytest.mark.slow
def test_the_msi_version_must_be_the_releases(windows, dist):
    problems = _problems(_context(windows, dist, version="0.2.0"))
    assert "ProductVersion 0.1.0, the release's is 0.2.0" in problems


@pytest.mark.slow
def test_a_file_the_manifest_requires_must_be_in_the_msi_at_its_install_path(windows, dist, tmp_path):
    manifest = tmp_path / "contents.toml"
    manifest.write_text('[all]\nrequired = ["bin/{name}{exe}", "share/doc/{name}/**", "share/{name}/**"]\n'
                        '[windows]\nrequired = ["lib/vst3/*.vst3/**", "lib/aax/*.aaxplugin/**"]\n'
                        'optional = ["lib/clap/*.clap"]\n')
    ctx = _context(windows, dist)
    ctx.contents = manifest
    problems = _problems(ctx)
    assert len(problems) == 1 and "lib/aax/*.aaxplugin/**" in problems[0] and "the MSI" in problems[0], problems


@pytest.mark.slow
def test_unsigned_without_code_signing_configured_skips_authenticode(windows, dist):
    ctx = _context(windows, dist)
    ctx.packaging.pop("code_sign")
    assert _problems(ctx) == []


@pytest.mark.slow
def test_a_file_that_is_no_msi_fails_naming_it(windows, dist):
    (dist / windowskit.MSI).write_bytes(b"not an msi")
    problems = _problems(_context(windows, dist))
    assert len(problems) == 1 and problems[0].startswith("cannot read the MSI: msiinfo suminfo failed"), problems
