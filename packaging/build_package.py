"""Build, test, stage and package a CMake project: reproducible archives and installers, SHA256SUMS, signature.

  build-package --signing-key release.pem          configure, build, ctest, install into a staging tree, then
                                                   package it for this platform into dist/
  build-package --platform windows --staging DIR   package an existing staging tree (no CMake), e.g. to generate
                                                   the Inno Setup script on Linux
  build-package --print-public-key --signing-key release.pem    the base64 public key clients embed

Linux: .tar.gz, .tar.zst and .deb; Windows: .zip and an Inno Setup installer (.exe; the .iss is generated
everywhere, compiled where `iscc` exists), or an .msi (wixl, on any host); macOS: .zip and a .pkg (pkgbuild +
productbuild where they exist). `--platform windows` on Linux cross-builds with mingw-w64 (the toolchain file
packaging/toolchains/mingw-w64-x86_64.cmake, or [packaging] windows_toolchain); ctest runs there through wine only.
Output, in --out (default dist/): <name>-<version>-<platform>-<arch>.<ext>, SHA256SUMS, SHA256SUMS.sig and
artifacts.json (releng/artifacts). The same commit gives byte-identical archives: every mtime is
SOURCE_DATE_EPOCH (default: the commit time of HEAD), owners root, modes and order normalised.

The staging tree is checked against the contents manifest (packaging/package_contents.toml, or [packaging]
contents) and the staged program's `--version` against the version document (build/release/version.json, else
CMake's project version): a mismatch is exit 1. An unsafe tree (absolute paths, `..`, symlinks leaving it, device
files) is exit 2. The key comes from --signing-key FILE or the environment variable [packaging] signing_key_env
names (default RELENG_SIGNING_KEY), never from the command line; --unsigned makes a local test build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from releng import artifacts, cli, config, git, progress, signing
from releng.errors import BadInput, ExternalError
from releng.packaging import cmake, codesign, installers, msi, plugin_formats, release_folder, staging
from releng.packaging.archive import output
from releng.packaging.archive.entries import Entry, check_name, scan

HERE = Path(__file__).resolve().parent
FORMATS = {"linux": ("tar.gz", "tar.zst", "zip", "deb"), "windows": ("zip", "tar.gz", "tar.zst", "exe", "msi"),
           "macos": ("zip", "tar.gz", "tar.zst", "pkg")}
DEFAULTS: dict[str, Any] = {
    # No project's own identity is a default (issue 13): publisher falls back to the display name, itself the
    # project's name; maintainer and identifier are required by the formats that carry them (NEEDS).
    "display_name": "", "publisher": "", "homepage": "", "identifier": "",
    "maintainer": "", "summary": "", "description": "",
    "contents": str(HERE / "package_contents.toml"), "installer_configs": str(HERE / "installer_configs"),
    "changelog": "CHANGELOG.md", "changelog_dest": "share/doc/{name}/CHANGELOG.md",
    "archive_root": "{name}-{version}-{platform}-{arch}", "version_command": ["bin/{name}{exe}", "--version"],
    "signing_key_env": "RELENG_SIGNING_KEY", "signing_key_passphrase_env": "RELENG_SIGNING_KEY_PASSPHRASE",
    "formats": {"linux": ["tar.gz", "tar.zst", "deb"], "windows": ["zip", "exe"], "macos": ["zip", "pkg"]},
    "levels": {"tar.gz": 6, "tar.zst": 10, "zip": 6}, "macos_prefix": "/usr/local", "code_sign": {},
    "windows_toolchain": str(HERE / "toolchains" / "mingw-w64-x86_64.cmake"), "authenticode_ca": "",
}


NEEDS = {  # the [packaging] settings a format cannot be made without: checked before anything is built
    "deb": ("maintainer", 'its Maintainer field: maintainer = "Name <email>"'),
    "pkg": ("identifier", 'the package identifier prefix: identifier = "com.example"'),
    "exe": ("identifier", 'the installer\'s stable AppId is derived from it: identifier = "com.example"'),
    "msi": ("identifier", 'the upgrade code is derived from it: identifier = "com.example"'),
}


def load_key(args: argparse.Namespace, settings: dict[str, Any]) -> signing.SigningKey | None:
    if args.signing_key:
        passphrase = os.environ.get(settings["signing_key_passphrase_env"], "")
        return signing.load_private_key_file(args.signing_key, passphrase.encode() or None)
    key = signing.load_private_key_env(settings["signing_key_env"], settings["signing_key_passphrase_env"])
    if key is None and not args.unsigned:
        raise BadInput(f"no signing key: pass --signing-key FILE or set ${settings['signing_key_env']} "
                       "(--unsigned for a local test build)")
    return None if args.unsigned else key


def _settings(source: Path, explicit: str | None, *, need_name: bool = True) -> dict[str, Any]:
    cfg = config.load(source, explicit)
    where = str(config.find(source, explicit) or "defaults")
    settings = config.merged(DEFAULTS, config.section(cfg, "packaging", where))
    project = cfg.get("project", {})
    name = settings.get("name") or (project.get("name") if isinstance(project, dict) else None)
    if not need_name and not name:  # --print-public-key: only the key settings matter
        name = "-"
    if not isinstance(name, str) or not name:
        raise BadInput("no project name: set [project] name or [packaging] name", where)
    settings.update(name=name, where=where, display_name=settings["display_name"] or name)
    settings["publisher"] = settings["publisher"] or settings["display_name"]
    prefix = cfg.get("versioning", {}).get("tag_prefix", "v") if isinstance(cfg.get("versioning"), dict) else "v"
    settings["tag_prefix"] = prefix
    # configured: inside the source tree, symlinks too
    for key in ("contents", "installer_configs", "changelog", "windows_toolchain"):
        if key in cfg.get("packaging", {}):
            settings[key] = str(config.repo_path(source, settings[key], f"[packaging] {key}", where))
    return settings


def _stage_changelog(source: Path, stage: Path, settings: dict[str, Any],
                     version: str) -> None:
    dest = settings["changelog_dest"].format(name=settings["name"])
    check_name(dest, "[packaging] changelog_dest")
    path = Path(settings["changelog"]) if Path(settings["changelog"]).is_absolute() else source / settings["changelog"]
    if not path.is_file():
        cli.warn(f"no {path.name}: the release's changelog excerpt is not staged (run gen-changelog)")
        return
    excerpt = staging.changelog_excerpt(path.read_text(encoding="utf-8"), version, str(path))
    if excerpt is None:
        cli.warn(f"{path.name} has no section for {version}: its excerpt is not staged (run gen-changelog)")
        return
    (stage / dest).parent.mkdir(parents=True, exist_ok=True)
    (stage / dest).write_text(excerpt, encoding="utf-8")


def _check_stage(stage: Path, settings: dict[str, Any], target: tuple[str, str],
                 version: str) -> tuple[list[Entry], list[plugin_formats.Bundle]]:
    platform, arch = target
    entries = scan(stage)
    fields = {"name": settings["name"], "exe": ".exe" if platform == "windows" else ""}
    manifest = staging.load_manifest(config.load_toml(Path(settings["contents"])), platform, fields,
                                     settings["contents"])
    files = {e.name for e in entries if e.kind != "dir"}
    missing, unexpected = staging.check_contents(files, manifest)
    if missing or unexpected:
        raise artifacts.Failed(staging.contents_error(missing, unexpected, manifest, platform))
    bundles = plugin_formats.find_bundles((e.name, e.kind == "dir") for e in entries)
    problems = [p for b in bundles for p in plugin_formats.check_layout(b, files, platform, arch)]
    if problems:
        raise artifacts.Failed("plug-in bundle layout: " + "; ".join(problems[:3]), str(stage))
    command = [a.format_map(fields) for a in settings["version_command"]]
    if command and platform == plugin_formats.host_platform() and arch == plugin_formats.host_arch():
        staged = staging.staged_version(stage, command)
        if staged != version:
            raise artifacts.Failed(f"the staged {command[0]} reports version {staged}, the release is {version}",
                                   str(stage))
    return entries, bundles


def _git_repo(source: Path) -> tuple[Path | None, str | None]:
    try:
        repo = git.toplevel(source)
    except BadInput:
        return None, None
    return repo, git.head(repo)


def _plan(args: argparse.Namespace, source: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything decided before anything is built: target, formats, version, key, folders."""
    platform, arch = args.platform or plugin_formats.host_platform(), args.arch or plugin_formats.host_arch()
    if not arch.replace("_", "").isalnum() or not arch.isascii():
        raise BadInput(f"--arch {arch!r}: letters, digits and _ only (x86_64, arm64, universal)")
    kinds = args.format or settings["formats"].get(platform, [])
    unknown = [k for k in kinds if k not in FORMATS[platform]]
    if unknown or not kinds:
        raise BadInput(f"format {', '.join(unknown) or '(none)'} is not made for {platform} "
                       f"(one of {', '.join(FORMATS[platform])})")
    repo, head = _git_repo(source)
    mtime = staging.source_date_epoch(repo)
    version = staging.release_version(source, args.version_file, head)
    key = load_key(args, settings)
    work = (Path(args.build_dir) if args.build_dir else source / "build" / "package") / f"{platform}-{arch}"
    fields = {"name": settings["name"], "version": version, "platform": platform, "arch": arch}
    root = settings["archive_root"].format_map(fields)
    if root:
        check_name(root, "[packaging] archive_root")
    if "msi" in kinds and shutil.which("wixl") is None:  # before anything is built
        raise ExternalError(f"wixl not found on PATH: {msi.WIXL_HINT}")
    for kind in kinds:
        needed, what = NEEDS.get(kind, (None, ""))
        if needed and not settings[needed]:
            raise BadInput(f"[packaging] {needed} is not set: the {kind} carries it ({what})", settings["where"])
    tag = None
    if head is not None and repo is not None:
        tags = git.run(repo, "tag", "--points-at", "HEAD").split()
        tag = next((t for t in tags if t == f"{settings['tag_prefix']}{version}"), None)
    return {"platform": platform, "arch": arch, "kinds": list(dict.fromkeys(kinds)), "head": head, "tag": tag,
            "mtime": mtime, "version": version, "key": key, "work": work, "root": root,
            "out": Path(args.out) if args.out else source / "dist",
            "stage": Path(args.staging) if args.staging else work / "stage"}


def _run(args: argparse.Namespace) -> int:
    if args.print_public_key and not args.source and not args.config:  # needs no repository (issue 13 item 9)
        try:
            source = git.toplevel(".")
        except BadInput:
            source = Path(".")
    else:
        source = Path(args.source) if args.source else git.toplevel(".")
    if not source.is_dir():
        raise BadInput("source folder not found", str(source))
    settings = _settings(source, args.config, need_name=not args.print_public_key)
    if args.print_public_key:
        args.unsigned = False
        key = load_key(args, settings)
        assert key is not None
        sys.stdout.write(key.public_b64 + "\n")
        cli.info(args, f"key id {key.key_id}")
        return 0
    p = _plan(args, source, settings)
    platform, arch, out, stage = p["platform"], p["arch"], p["out"], p["stage"]
    names = [artifacts.artifact_name(settings["name"], p["version"], platform, arch, k) for k in p["kinds"]]
    toolchain = None if args.staging else cmake.cross_toolchain(platform, plugin_formats.host_platform(),
                                                                Path(settings["windows_toolchain"]))
    runs_tests, why_not = cmake.can_run_tests(toolchain)
    if args.dry_run:
        if not args.staging:
            for argv in cmake.commands(source, p["work"] / "cmake", stage, platform=platform, jobs=args.jobs,
                                       toolchain=toolchain, test=runs_tests):
                sys.stdout.write(" ".join(argv) + "\n")
        sys.stdout.write("".join(f"{out / n}\n" for n in names))
        return 0
    if not args.staging:
        cli.info(args, f"building {settings['name']} {p['version']} for {platform}-{arch} (cmake, ctest)"
                 + (f" with {toolchain.name}" if toolchain else ""))
        if not runs_tests:
            cli.warn(why_not)
        cmake.build_and_stage(source, p["work"] / "cmake", stage, platform=platform, jobs=args.jobs,
                              source_date_epoch=p["mtime"], verbose=args.verbose > 0, toolchain=toolchain,
                              test=runs_tests)
        _stage_changelog(source, stage, settings, p["version"])
    entries, bundles = _check_stage(stage, settings, (platform, arch), p["version"])
    steps = codesign.steps(settings["code_sign"], platform, settings["where"])
    staged_steps = [s for s in steps if s.stage == "staged"]
    candidates = sorted({b.path for b in bundles} | {e.name for e in entries if e.kind == "file"})
    for step in staged_steps:
        for path in (c for c in candidates if step.selects(c, bundles)):
            codesign.run(step, stage / path, verbose=args.verbose > 0)
    if staged_steps:
        entries = scan(stage)  # signing changed files in place
    meta = installers.Meta(
        name=settings["name"], display_name=settings["display_name"], version=p["version"],
        publisher=settings["publisher"], maintainer=settings["maintainer"],
        summary=settings["summary"] or settings["display_name"], description=settings["description"],
        homepage=settings["homepage"], identifier=settings["identifier"])
    plan = release_folder.Plan(
        meta=meta, platform=platform, arch=arch, host=plugin_formats.host_platform(), stage=stage, entries=entries,
        bundles=bundles, work=p["work"], out=out, mtime=p["mtime"], jobs=args.jobs, levels=settings["levels"],
        templates=Path(settings["installer_configs"]), archive_root=p["root"], macos_prefix=settings["macos_prefix"],
        progress=progress.drawable(sys.stderr) and not args.quiet, verbose=args.verbose > 0)
    for stale in output.remove_stale_temps(out) + [artifacts.SUMS, artifacts.SIG, artifacts.DOCUMENT]:
        (out / stale).unlink(missing_ok=True)
    found = []
    for kind in p["kinds"]:
        made = release_folder.produce(plan, kind)
        if made is not None:
            found.append(made)
            cli.info(args, f"  {out / made.path}  {made.size:,} bytes  sha256 {made.sha256[:16]}...")
    for note in plan.notes:
        cli.info(args, f"note: {note}")
    for step in (s for s in steps if s.stage == "artifacts"):
        for i, made in enumerate(found):
            if step.selects(made.path, []):
                codesign.run(step, out / made.path, verbose=args.verbose > 0)
                found[i] = release_folder.rehash(plan, made)
    if not found:
        cli.info(args, "nothing to package on this platform: see the notes above")
        return 0
    body = {"name": settings["name"], "version": p["version"], "commit": p["head"], "tag": p["tag"],
            "platform": platform, "arch": arch, "source_date_epoch": p["mtime"], "tools": plan.tools}
    text = release_folder.finish(out, found, p["key"], body)
    if p["key"] is None:
        cli.warn("unsigned build: no SHA256SUMS.sig (a test build only)")
    if p["key"] is not None:
        cli.info(args, f"signed {out / artifacts.SUMS} with key {p['key'].key_id}")
    sys.stdout.write(text if args.json else f"{out / artifacts.DOCUMENT}\n")
    return 0


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="build-package")
    parser.add_argument("--source", metavar="DIR", help="the CMake project (default: git top-level of the cwd)")
    parser.add_argument("--platform", choices=plugin_formats.PLATFORMS, help="target platform (default: this one)")
    parser.add_argument("--arch", help="target architecture: x86_64, arm64, universal... (default: this one)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: dist/ in the source)")
    parser.add_argument("--signing-key", metavar="FILE", help="Ed25519 private key file (PEM or OpenSSH)")
    parser.add_argument("--unsigned", action="store_true", help="no SHA256SUMS.sig: a local test build")
    parser.add_argument("--print-public-key", action="store_true",
                        help="print the signing key's public key (base64 of 32 raw bytes) and exit")
    parser.add_argument("--staging", metavar="DIR", help="package this staging tree; skip CMake")
    parser.add_argument("--build-dir", metavar="DIR", help="CMake build and work folder (default: build/package)")
    parser.add_argument("--version-file", metavar="FILE", help="releng/version document "
                        "(default: build/release/version.json when it exists)")
    parser.add_argument("--format", action="append", metavar="EXT",
                        help="make only this format (repeatable): tar.gz tar.zst zip deb exe msi pkg")
    parser.add_argument("--jobs", type=int, default=_cores(), help="threads for compression (default: all)")
    cli.add_output(parser, "the releng/artifacts document", out=False)  # --out DIR is the output folder here
    cli.add_dry_run(parser)
    cli.add_repository(parser, repo=False)  # the repository is --source
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
