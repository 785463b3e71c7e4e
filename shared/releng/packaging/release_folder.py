"""Turn a checked staging tree into a release folder: archives and installers, then SHA256SUMS, its signature and
the releng/artifacts document. Every file lands in the folder by rename, complete or not at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import artifacts, documents, files, progress, signing
from releng.artifacts import Artifact, Failed
from releng.errors import ExternalError
from releng.packaging import installers, msi, plugin_formats
from releng.packaging.archive import formats, output
from releng.packaging.archive.entries import Entry, generated, sort_entries, total_size, under


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything the packagers need about one build; built with keywords, as 17 positional fields are unreadable.

    Frozen: a packager reads the plan and never changes it, only reports into `notes` and `tools`.
    """

    meta: installers.Meta
    platform: str
    arch: str
    host: str  # the platform this runs on
    stage: Path
    entries: list[Entry]
    bundles: list[plugin_formats.Bundle]
    work: Path  # scratch folder for installer roots and scripts
    out: Path
    mtime: int
    jobs: int
    levels: Mapping[str, int]
    templates: Path  # folder of installer templates
    archive_root: str
    macos_prefix: str = "/usr/local"
    progress: bool = False  # draw a progress line on stderr (releng.progress.drawable)
    verbose: bool = False
    notes: list[str] = field(default_factory=list)  # what could not run here, for the caller to show
    tools: dict[str, str] = field(default_factory=dict)

    def file_name(self, kind: str) -> str:
        return artifacts.artifact_name(self.meta.name, self.meta.version, self.platform, self.arch, kind)

    def artifact(self, kind: str, size: int, sha256: str) -> Artifact:
        return Artifact(path=self.file_name(kind), kind=kind, platform=self.platform, arch=self.arch, size=size,
                        sha256=sha256)


def produce(plan: Plan, kind: str) -> Artifact | None:
    """Make one artifact in plan.out; None when its tool does not exist on this (other) platform."""
    makers: dict[str, Callable[[Plan, str], Artifact | None]] = {
        "tar.gz": _archive, "tar.zst": _archive, "zip": _archive, "deb": _deb, "exe": _exe, "msi": _msi, "pkg": _pkg}
    plan.out.mkdir(parents=True, exist_ok=True)
    return makers[kind](plan, kind)


def _archive(plan: Plan, kind: str) -> Artifact:
    install = generated("INSTALL.txt", plugin_formats.install_text(plan.bundles, plan.platform,
                                                             plan.meta.name).encode("utf-8"))
    entries = under(plan.archive_root, sort_entries([*plan.entries, install]))
    target = plan.out / plan.file_name(kind)
    bar = progress.Progress(total_size(entries), sys.stderr, label=f"compressing {target.name}") \
        if plan.progress else None
    try:
        size, digest = formats.write(kind, entries, target, mtime=plan.mtime, jobs=plan.jobs,
                                     level=plan.levels.get(kind), progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if kind == "tar.zst":
        import zstandard

        plan.tools["zstd"] = zstandard.ZSTD_VERSION if isinstance(zstandard.ZSTD_VERSION, str) else \
            ".".join(map(str, zstandard.ZSTD_VERSION))
    else:
        import zlib

        plan.tools["zlib"] = zlib.ZLIB_RUNTIME_VERSION
    return plan.artifact(kind, size, digest)


def _tool(plan: Plan, names: Sequence[str], hint: str) -> str | None:
    """The first of `names` on PATH; on the target platform a missing one is an error, elsewhere None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if plan.host == plan.platform:
        raise ExternalError(f"{names[0]} not found on PATH: {hint}")
    return None


def _run_tool(argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace", env=env,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        shown = (done.stderr or done.stdout).strip().splitlines()
        raise Failed(f"{Path(argv[0]).name} failed (exit {done.returncode}): {shown[-1] if shown else 'no output'}")


def _adopt(plan: Plan, kind: str, built: Path) -> Artifact:
    """Move a tool's output into plan.out under its final name (same folder: a rename), hashing it first."""
    target = plan.out / plan.file_name(kind)
    tmp = output.temp_path(target)
    try:
        shutil.move(str(built), tmp)
        size, digest = files.sha256_file(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return plan.artifact(kind, size, digest)


def _deb(plan: Plan, kind: str) -> Artifact:
    dpkg_deb = _tool(plan, ["dpkg-deb"], "install dpkg (apt-get install dpkg)")
    assert dpkg_deb is not None
    arch = installers.DEB_ARCH.get(plan.arch, plan.arch)
    root = installers.deb_root(plan.entries, plan.bundles, plan.meta, arch, root=plan.work / "deb-root",
                               mtime=plan.mtime)
    built = plan.out / f".{plan.file_name(kind)}.dpkg{output.TMP_SUFFIX}"
    try:
        _run_tool([dpkg_deb, *installers.deb_command(root, built)[1:]],
                  dict(os.environ, SOURCE_DATE_EPOCH=str(plan.mtime)))
        version = subprocess.run([dpkg_deb, "--version"], capture_output=True, text=True).stdout.split()
        plan.tools["dpkg-deb"] = next((w for w in version if w[:1].isdigit()), "unknown")
        return _adopt(plan, kind, built)
    finally:
        built.unlink(missing_ok=True)


def _exe(plan: Plan, kind: str) -> Artifact | None:
    template = (plan.templates / "windows.iss.in").read_text(encoding="utf-8")
    license_file = next((e.name for e in plan.entries if e.name.endswith("/LICENSE")), None)
    plan.work.mkdir(parents=True, exist_ok=True)
    iss = plan.work / f"{plan.meta.name}.iss"
    text = installers.inno_script(template, plan.meta, plan.arch, plan.entries, plan.bundles,
                                  source_dir=os.path.relpath(plan.stage, plan.work),
                                  output_base=plan.file_name(kind).removesuffix(".exe"), mtime=plan.mtime,
                                  license_file=license_file)
    documents.write_text_atomic(iss, text)
    iscc = _tool(plan, ["iscc", "ISCC.exe"], "install Inno Setup 6.3 or newer (choco install innosetup)")
    if iscc is None:
        plan.notes.append(f"iscc not found: generated {iss}; it is compiled on Windows")
        return None
    output = plan.work / "iscc-out"
    shutil.rmtree(output, ignore_errors=True)
    _run_tool([iscc, *installers.iscc_command(iss, output)[1:]])
    return _adopt(plan, kind, output / plan.file_name(kind))


def _msi(plan: Plan, kind: str) -> Artifact:
    """wixl from a generated WiX source, run in a copy of the staging tree with normalised mtimes (the cabinet
    records them), then pinned (msi.pin): two builds of one commit give the same bytes."""
    wixl = shutil.which("wixl")
    if wixl is None:
        raise ExternalError(f"wixl not found on PATH: {msi.WIXL_HINT}")
    doc = f"share/doc/{plan.meta.name}/"
    license_file = next((e.name for e in plan.entries if e.name.startswith(doc + "LICENSE")), None)
    changelog = next((e.name for e in plan.entries if e.name == doc + "CHANGELOG.md"), None)
    text = msi.wix_source(plan.entries, plan.bundles, name=plan.meta.name, display_name=plan.meta.display_name,
                          publisher=plan.meta.publisher, version=plan.meta.version,
                          identifier=plan.meta.identifier, arch=plan.arch, homepage=plan.meta.homepage,
                          license_file=license_file, changelog=changelog)
    work = plan.work / "msi"
    root = work / "root"
    installers.lay_out(plan.entries, root, plan.mtime)
    wxs = work / f"{plan.meta.name}.wxs"
    documents.write_text_atomic(wxs, text)
    built = plan.out / f".{plan.file_name(kind)}.wixl{output.TMP_SUFFIX}"
    try:
        started = time.time()
        done = subprocess.run(msi.wixl_command(wixl, wxs.resolve(), built.resolve()), cwd=root,
                              capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
                              env=dict(os.environ, TZ="UTC", LC_ALL="C"))  # its clock times: local time
        if done.returncode != 0:
            shown = [ln for ln in (done.stderr or done.stdout).splitlines() if "GLib" not in ln and ln.strip()]
            raise Failed(f"wixl failed (exit {done.returncode}): {shown[-1] if shown else 'no output'}", str(wxs))
        package = text.split('<Package Id="', 1)[1][:38]  # derived by msi.codes from the content
        msi.pin(built, package, plan.mtime, (started, time.time()))
        plan.tools["wixl"] = subprocess.run([wixl, "--version"], capture_output=True, text=True).stdout.strip()
        return _adopt(plan, kind, built)
    finally:
        built.unlink(missing_ok=True)


def _pkg(plan: Plan, kind: str) -> Artifact | None:
    template = (plan.templates / "macos-distribution.xml.in").read_text(encoding="utf-8")
    work = plan.work / "pkg"
    built = work / plan.file_name(kind)
    mac = installers.macos_plan(plan.entries, plan.bundles, plan.meta, plan.arch, template, work=work,
                                output=built, prefix=plan.macos_prefix)
    work.mkdir(parents=True, exist_ok=True)
    for name, data in mac.files.items():
        (work / name).write_bytes(data)
    tools = [_tool(plan, [argv[0]], "run on macOS with the Xcode command-line tools") for argv in mac.commands]
    if None in tools:
        plan.notes.append("pkgbuild/productbuild not found: the .pkg is built on macOS with "
                          + " && ".join(" ".join(c) for c in mac.commands))
        return None
    for component, entries in mac.roots.items():
        installers.lay_out(entries, work / "roots" / component, plan.mtime)
    (work / "packages").mkdir(exist_ok=True)
    for tool, argv in zip(tools, mac.commands, strict=True):
        assert tool is not None
        _run_tool([tool, *argv[1:]], dict(os.environ, SOURCE_DATE_EPOCH=str(plan.mtime)))
    return _adopt(plan, kind, built)


def rehash(plan: Plan, artifact: Artifact) -> Artifact:
    """The artifact's size and sha256 again, after a code-sign step changed it in place."""
    size, digest = files.sha256_file(plan.out / artifact.path)
    return plan.artifact(artifact.kind, size, digest)


def finish(out: Path, found: Sequence[Artifact], key: signing.SigningKey | None, body: dict[str, Any]) -> str:
    """Write SHA256SUMS, SHA256SUMS.sig (when signed) and artifacts.json; return the document's text."""
    sums = artifacts.sums_text(found).encode("ascii")
    documents.write_bytes_atomic(out / artifacts.SUMS, sums, mode=0o644)
    signature = key.sign(sums) if key is not None else None
    if signature is not None:
        documents.write_bytes_atomic(out / artifacts.SIG, signing.signature_line(signature).encode(), mode=0o644)
    doc = artifacts.document(artifacts=found, sums=sums, signature=signature, key=key, **body)
    text = documents.dumps("artifacts", doc)
    documents.write_bytes_atomic(out / artifacts.DOCUMENT, text.encode("utf-8"), mode=0o644)
    return text
