"""Installers from a staging tree: a Debian package (dpkg-deb), an Inno Setup script (Windows), pkgbuild and
productbuild invocations (macOS). Pure generation here; build-package runs the tools where they exist.

Each installer puts plug-in bundles into their format's system folder
(releng.packaging.plugin_formats) and everything else under
the program's prefix: /usr on Debian, {app} (C:\\Program Files\\<name>) on Windows, /usr/local on macOS.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import string
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from releng import semver
from releng.errors import BadInput
from releng.packaging.archive.entries import Entry
from releng.packaging.plugin_formats import Bundle, inside

DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64", "x86": "i386", "armv7": "armhf"}
INNO_ARCH = {"x86_64": "x64compatible", "arm64": "arm64", "x86": ""}
MAC_ARCH = {"x86_64": "x86_64", "arm64": "arm64", "universal": "arm64,x86_64"}
_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True, kw_only=True)
class Meta:
    """What installers say about the product (from [packaging] in releng.toml); keywords only: nine strings in a row
    are too easy to pass in the wrong order."""

    name: str
    display_name: str
    version: str
    publisher: str
    maintainer: str
    summary: str
    description: str
    homepage: str
    identifier: str  # reverse-DNS prefix for macOS package ids


def deb_version(version: str) -> str:
    """SemVer to a Debian version that sorts the same: 1.3.0-rc.1 -> 1.3.0~rc.1 (`~` sorts before anything).

    A hyphen inside the prerelease or build becomes `.`: dpkg reads a hyphen as the start of a Debian revision.
    """
    v = semver.parse(version)
    out = f"{v.major}.{v.minor}.{v.patch}"
    if v.prerelease:
        out += "~" + ".".join(str(p) for p in v.prerelease).replace("-", ".")
    if v.build:
        out += "+" + ".".join(v.build).replace("-", ".")
    return out


def deb_destination(path: str, bundles: Sequence[Bundle]) -> str:
    """Where a staged path goes inside the Debian package's root."""
    bundle = inside(path, bundles)
    if bundle is None:
        return f"usr/{path}"
    parent = bundle.path.rsplit("/", 1)[0] if "/" in bundle.path else ""
    rest = path[len(parent) + 1:] if parent else path
    return bundle.format.system["linux"].lstrip("/") + "/" + rest


def deb_control(meta: Meta, arch: str, installed_kib: int) -> str:
    if not _DEB_NAME.fullmatch(meta.name):
        raise BadInput(f"{meta.name!r} is not a valid Debian package name (lowercase letters, digits, + - .)")
    description = "\n".join(" " + (line if line.strip() else ".") for line in meta.description.splitlines())
    fields = [("Package", meta.name), ("Version", deb_version(meta.version)), ("Architecture", arch),
              ("Maintainer", meta.maintainer), ("Installed-Size", str(installed_kib)), ("Section", "sound"),
              ("Priority", "optional"), ("Homepage", meta.homepage),
              ("Description", meta.summary + ("\n" + description if description else ""))]
    return "".join(f"{k}: {v}\n" for k, v in fields if v)


def lay_out(entries: Sequence[Entry], root: Path, mtime: int) -> None:
    """Copy entries (names relative to `root`) into a fresh `root`: folders 0755, modes and mtimes normalised."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for e in entries:
        dest = root / e.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if e.kind == "dir":
            dest.mkdir(exist_ok=True)
        elif e.kind == "symlink":
            os.symlink(e.target, dest)
        elif e.data is not None:
            dest.write_bytes(e.data)
        else:
            assert e.source is not None
            shutil.copyfile(e.source, dest)
        if e.kind == "file":
            dest.chmod(e.mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in dirs + files:
            os.utime(os.path.join(folder, name), (mtime, mtime), follow_symlinks=False)
    os.chmod(root, 0o755)
    os.utime(root, (mtime, mtime))


def deb_root(entries: Sequence[Entry], bundles: Sequence[Bundle], meta: Meta, arch: str, *, root: Path,
             mtime: int) -> Path:
    """Lay the package's files out under `root` (recreated) with normalised modes and mtimes; returns root."""
    moved = [replace(e, name=deb_destination(e.name, bundles)) for e in entries]
    lay_out(moved, root, mtime)
    kib = sum((e.size + 1023) // 1024 for e in entries if e.kind == "file") + 1
    control = root / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(deb_control(meta, arch, kib), encoding="utf-8")
    control.chmod(0o644)
    control.parent.chmod(0o755)
    for path in (control, control.parent, root):
        os.utime(path, (mtime, mtime))
    return root


def deb_command(root: Path, output: Path) -> list[str]:
    # xz, as Debian's own packages; --root-owner-group instead of fakeroot. dpkg-deb clamps every mtime to
    # SOURCE_DATE_EPOCH (set by the caller) and sorts the members itself.
    return ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(output)]


def _inno_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _win(path: str) -> str:
    return path.replace("/", "\\")


def inno_files(entries: Sequence[Entry], bundles: Sequence[Bundle]) -> tuple[list[str], list[str]]:
    """The [Components] and [Files] lines of the Inno Setup script."""
    components = ['Name: "program"; Description: "Program, presets and documentation"; '
                  'Types: full compact custom; Flags: fixed']
    for key in dict.fromkeys(b.format.key for b in bundles):
        title = next(b.format.title for b in bundles if b.format.key == key)
        components.append(f'Name: "{key}"; Description: "{title} plug-in"; Types: full')
    files = []
    for e in entries:
        if e.kind != "file" or inside(e.name, bundles):
            continue
        folder = e.name.rsplit("/", 1)[0] if "/" in e.name else ""
        dest = "{app}" + ("\\" + _win(folder) if folder else "")
        files.append(f"Source: {_inno_quote(_win(e.name))}; DestDir: {_inno_quote(dest)}; Components: program; "
                     "Flags: ignoreversion")
    for b in bundles:
        target = b.format.system["windows"]
        if b.is_dir:
            files.append(f"Source: {_inno_quote(_win(b.path) + chr(92) + '*')}; "
                         f"DestDir: {_inno_quote(target + chr(92) + b.name)}; Components: {b.format.key}; "
                         "Flags: ignoreversion recursesubdirs createallsubdirs")
        else:
            files.append(f"Source: {_inno_quote(_win(b.path))}; DestDir: {_inno_quote(target)}; "
                         f"Components: {b.format.key}; Flags: ignoreversion")
    return components, files


def inno_script(template: str, meta: Meta, arch: str, entries: Sequence[Entry], bundles: Sequence[Bundle], *,
                source_dir: str, output_base: str, mtime: int, license_file: str | None, app_id: str = "") -> str:
    """The .iss text: `template` (string.Template, ${...} fields) filled in; paths relative to `source_dir`."""
    v = semver.parse(meta.version)
    stamp = time.gmtime(mtime)
    components, files = inno_files(entries, bundles)
    fields = {
        "app_id": app_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"releng:{meta.identifier}.{meta.name}")).upper(),
        "name": meta.name, "display_name": meta.display_name, "version": meta.version,
        "numeric_version": f"{v.major}.{v.minor}.{v.patch}.0", "publisher": meta.publisher,
        "homepage": meta.homepage, "source_dir": _win(source_dir), "output_base": output_base,
        "architectures": INNO_ARCH.get(arch, ""), "license_line": f"LicenseFile={_win(license_file)}"
        if license_file else "; no license file staged",
        "touch_date": time.strftime("%Y-%m-%d", stamp), "touch_time": time.strftime("%H:%M:%S", stamp),
        "components": "\n".join(components), "files": "\n".join(files),
    }
    try:
        return string.Template(template).substitute(fields)
    except (KeyError, ValueError) as e:
        raise BadInput(f"installer template: unknown or malformed field {e}") from None


def iscc_command(iss: Path, output_dir: Path) -> list[str]:
    return ["iscc", "/Q", f"/O{output_dir}", str(iss)]


@dataclass(frozen=True)
class MacPlan:
    roots: dict[str, list[Entry]]  # component -> entries laid out under its root, names relative to it
    files: dict[str, bytes]  # work-relative path -> generated bytes (component plists, distribution.xml)
    commands: list[list[str]]


def macos_plan(entries: Sequence[Entry], bundles: Sequence[Bundle], meta: Meta, arch: str, template: str, *,
               work: Path, output: Path, prefix: str = "/usr/local") -> MacPlan:
    """The component roots, generated files and exact pkgbuild/productbuild argv for a .pkg."""
    roots: dict[str, list[Entry]] = {"program": []}
    for e in entries:
        b = inside(e.name, bundles)
        if b is None:
            if e.kind != "dir":  # folders come with their files; lib/vst3 and the like stay empty otherwise
                roots["program"].append(e)
        else:
            parent = b.path.rsplit("/", 1)[0] + "/" if "/" in b.path else ""
            roots.setdefault(b.format.key, []).append(
                Entry(e.name[len(parent):], e.kind, e.mode, e.size, e.source, e.data, e.target))
    files: dict[str, bytes] = {}
    commands: list[list[str]] = []
    refs, choices, outline = [], [], []
    for component in roots:
        ident = f"{meta.identifier}.{meta.name}.{component}"
        pkg = f"{meta.name}-{component}.pkg"
        cmd = ["pkgbuild", "--root", str(work / "roots" / component)]
        if component != "program":
            plist = [{"RootRelativeBundlePath": b.name, "BundleIsRelocatable": False,
                      "BundleIsVersionChecked": False, "BundleHasStrictIdentifier": False,
                      "BundleOverwriteAction": "upgrade"} for b in bundles if b.format.key == component and b.is_dir]
            files[f"{component}.plist"] = plistlib.dumps(plist, sort_keys=True)
            cmd += ["--component-plist", str(work / f"{component}.plist")]
            location = next(b.format.system["macos"] for b in bundles if b.format.key == component)
            title = next(b.format.title for b in bundles if b.format.key == component) + " plug-in"
        else:
            location, title = prefix, "Program, presets and documentation"
        commands.append(cmd + ["--identifier", ident, "--version", meta.version, "--install-location", location,
                               str(work / "packages" / pkg)])
        refs.append(f'    <pkg-ref id={quoteattr(ident)} version={quoteattr(meta.version)}>{escape(pkg)}</pkg-ref>')
        fixed = ' enabled="false"' if component == "program" else ""
        choices.append(f"    <choice id={quoteattr(component)} title={quoteattr(title)}{fixed}>\n"
                       f"        <pkg-ref id={quoteattr(ident)}/>\n    </choice>")
        outline.append(f"        <line choice={quoteattr(component)}/>")
    fields = {"title": escape(meta.display_name), "host_architectures": MAC_ARCH.get(arch, arch),
              "outline": "\n".join(outline), "choices": "\n".join(choices), "pkg_refs": "\n".join(refs)}
    files["distribution.xml"] = string.Template(template).substitute(fields).encode("utf-8")
    commands.append(["productbuild", "--distribution", str(work / "distribution.xml"), "--package-path",
                     str(work / "packages"), "--version", meta.version, str(output)])
    return MacPlan(roots, files, commands)
