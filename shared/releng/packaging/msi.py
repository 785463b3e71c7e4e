"""Windows Installer packages made on any host: a WiX source generated from the staging tree, built by wixl
(Debian package wixl, from msitools), and read back with msiinfo for the release gate.

The install is per machine: the program under `Program Files\\<name>`, each plug-in bundle in its format's
system folder (`Common Files\\VST3`, `Common Files\\CLAP`, `Common Files\\Avid\\Audio\\Plug-Ins`). Upgrades work
because the UpgradeCode depends on the product only (identifier and name) while the ProductCode depends on the
version too: a newer MSI finds the older one through the Upgrade table (MajorUpgrade) and removes it. Every other
identifier (package code, component GUIDs, table keys) is derived from the content, so two builds of one commit
give the same WiX source, and wixl given SOURCE_DATE_EPOCH the same MSI bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.saxutils import quoteattr

from releng import semver
from releng.errors import BadInput, ExternalError
from releng.packaging.archive.entries import Entry
from releng.packaging.plugin_formats import FORMATS, Bundle, inside

WIXL_HINT = "install the Debian package wixl (apt-get install wixl msitools)"
MSIINFO_HINT = "install the Debian package msitools (apt-get install msitools)"
PROGRAM_ROOT = "ProgramFiles64Folder"
COMMON_ROOT = "CommonFiles64Folder"
_COMMON = r"{commoncf}" + "\\"


@dataclass(frozen=True)
class Codes:
    """The MSI's identities: upgrade (per product), product (per version), package (per content)."""

    upgrade: str
    product: str
    package: str


def numeric_version(version: str) -> str:
    """MSI's ProductVersion: major.minor.patch (255.255.65535 at most), plus a purely numeric SemVer build
    (`1.2.3+45` -> `1.2.3.45`, MSI keeps a fourth field but ignores it when comparing). A prerelease has no MSI
    spelling: 1.3.0-rc.1 is 1.3.0, told apart from the release by its ProductCode only."""
    v = semver.parse(version)
    if v.major > 255 or v.minor > 255 or v.patch > 65535:
        raise BadInput(f"version {version} does not fit MSI's ProductVersion (255.255.65535 at most)")
    out = f"{v.major}.{v.minor}.{v.patch}"
    if len(v.build) == 1 and v.build[0].isdigit() and int(v.build[0]) <= 65535:
        out += f".{int(v.build[0])}"
    return out


def codes(identifier: str, name: str, version: str, arch: str, content: str) -> Codes:
    """UUIDv5s: the upgrade code of identifier+name, the product code of that and the version and arch, the
    package code of that and the content digest (Windows Installer wants a new one for every different file)."""
    def u(text: str) -> str:
        return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"releng:msi:{text}")).upper() + "}"

    product = f"{identifier}.{name}"
    return Codes(u(f"upgrade:{product}"), u(f"product:{product}:{version}:{arch}"),
                 u(f"package:{product}:{version}:{arch}:{content}"))


def install_path(name: str, staged: str, bundles: Sequence[Bundle], program: str) -> str:
    """Where a staged file installs, as `<root folder property>/<path>`: the program's files under
    Program Files\\<program>, bundles under their format's Common Files folder."""
    b = inside(staged, bundles)
    if b is None:
        return f"{PROGRAM_ROOT}/{program}/{staged}"
    system = b.format.system["windows"]
    assert system.startswith(_COMMON), system
    parent = b.path.rsplit("/", 1)[0] + "/" if "/" in b.path else ""
    return f"{COMMON_ROOT}/{system[len(_COMMON):].replace(chr(92), '/')}/{staged[len(parent):]}"


def staged_path(installed: str, program: str) -> str | None:
    """install_path's inverse under the lib/<format>/ convention; None for a path no staged file maps to."""
    prefix = f"{PROGRAM_ROOT}/{program}/"
    if installed.startswith(prefix):
        return installed[len(prefix):]
    for fmt in FORMATS.values():
        system = fmt.system.get("windows")
        if system is None:
            continue
        folder = f"{COMMON_ROOT}/{system[len(_COMMON):].replace(chr(92), '/')}/"
        if installed.startswith(folder):
            return f"lib/{fmt.key}/{installed[len(folder):]}"
    return None


def _key(prefix: str, text: str) -> str:
    """An MSI table key (identifier: letters, digits, _ and ., at most 72 characters) for a path."""
    return f"{prefix}{hashlib.sha256(text.encode('utf-8')).hexdigest()[:32].upper()}"


def wix_source(entries: Sequence[Entry], bundles: Sequence[Bundle], *, name: str, display_name: str,
               publisher: str, version: str, identifier: str, arch: str, homepage: str = "",
               license_file: str | None = None, changelog: str | None = None) -> str:
    """The .wxs text. Paths of File/@Source are the staged names (wixl runs in the staging folder)."""
    if arch != "x86_64":
        raise BadInput(f"--format msi: only x86_64 is built (not {arch})")
    files = sorted((e for e in entries if e.kind == "file"), key=lambda e: e.name)
    if any(e.kind == "symlink" for e in entries):
        raise BadInput("--format msi: the staging tree holds a symlink, which an MSI cannot carry")
    content = hashlib.sha256("".join(f"{e.name}\0{e.size}\0{e.mode:o}\n" for e in files).encode()).hexdigest()
    c = codes(identifier, name, version, arch, content)
    tree: dict[str, Any] = {}
    placed: dict[str, list[Entry]] = {}
    for e in files:
        where = install_path(name, e.name, bundles, name).rsplit("/", 1)[0]
        node = tree
        for part in where.split("/"):
            node = node.setdefault(part, {})
        placed.setdefault(where, []).append(e)
    features: dict[str, list[str]] = {"program": []}
    for e in files:
        b = inside(e.name, bundles)
        features.setdefault(b.format.key if b else "program", []).append(_key("c", e.name))
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             '<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">',
             f'  <Product Id="{c.product}" UpgradeCode="{c.upgrade}" Name={quoteattr(display_name)} '
             f'Version="{numeric_version(version)}" Manufacturer={quoteattr(publisher)} Language="1033">',
             f'    <Package Id="{c.package}" InstallerVersion="500" Compressed="yes" InstallScope="perMachine" '
             f'Description={quoteattr(f"{display_name} {version}")} '
             f'Manufacturer={quoteattr(publisher)} Comments={quoteattr(f"{name} {version} ({identifier})")}/>',
             '    <Media Id="1" Cabinet="product.cab" EmbedCab="yes"/>',
             '    <MajorUpgrade DowngradeErrorMessage="A newer version of [ProductName] is already installed."/>',
             '    <Property Id="ARPNOMODIFY" Value="1"/>']
    if homepage:
        lines.append(f'    <Property Id="ARPURLINFOABOUT" Value={quoteattr(homepage)}/>')
    for prop, staged in (("RELENG_LICENSE", license_file), ("RELENG_CHANGELOG", changelog)):
        if staged:  # recorded so that a reader finds them: both are installed with the program
            lines.append(f'    <Property Id="{prop}" Value={quoteattr(staged)}/>')
    lines.append('    <Directory Id="TARGETDIR" Name="SourceDir">')

    def folder(node: Mapping[str, Any], path: str, depth: int) -> None:
        pad = "  " * depth
        for part in sorted(node):
            here = f"{path}/{part}" if path else part
            attrs = f'Id="{part}"' if not path else f'Id="{_key("d", here)}" Name={quoteattr(part)}'
            lines.append(f"{pad}<Directory {attrs}>")
            for e in placed.get(here, []):
                comp = _key("c", e.name)
                guid = str(uuid.uuid5(uuid.UUID(c.upgrade.strip("{}")), here + "/" + e.name)).upper()
                leaf = PurePosixPath(e.name).name
                lines.append(f'{pad}  <Component Id="{comp}" Guid="{{{guid}}}" Win64="yes">')
                lines.append(f'{pad}    <File Id="{_key("f", e.name)}" Name={quoteattr(leaf)} '
                             f'Source={quoteattr(e.name)} KeyPath="yes"/>')
                lines.append(f"{pad}  </Component>")
            folder(node[part], here, depth + 1)
            lines.append(f"{pad}</Directory>")

    folder(tree, "", 3)
    lines.append("    </Directory>")
    for key, comps in features.items():
        title = "Program, presets and documentation" if key == "program" else f"{FORMATS[key].title} plug-in"
        lines.append(f'    <Feature Id="{key}" Title={quoteattr(title)} Level="1">')
        lines += [f'      <ComponentRef Id="{comp}"/>' for comp in comps]
        lines.append("    </Feature>")
    lines += ["  </Product>", "</Wix>", ""]
    return "\n".join(lines)


def wixl_command(wixl: str, wxs: Path, output: Path) -> list[str]:
    return [wixl, "--arch", "x64", "-o", str(output), str(wxs)]


_FILETIME_EPOCH = 116444736000000000  # 100 ns ticks from 1601-01-01 to 1970-01-01
_UUID = re.compile(rb"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}")


def pin(msi: Path, package_code: str, mtime: int, made: tuple[float, float]) -> int:
    """Make wixl's output reproducible; returns how many fields were rewritten.

    wixl 0.101 ignores SOURCE_DATE_EPOCH and Package/@Id: the summary information gets a random revision number
    (the package code) and the clock time as its created and last-saved times, everything else is a function of
    the input. Those three values are rewritten in place, at the same length (the compound file has no checksum):
    the package code as derived by `codes`, and each VT_FILETIME (type 0x40) whose value falls in the interval
    `made` (when wixl ran, under TZ=UTC: it writes local time) becomes SOURCE_DATE_EPOCH.
    """
    data = bytearray(msi.read_bytes())
    revision = summary(msi).get("Revision number (UUID)", "").encode("ascii")
    count = 0
    if _UUID.fullmatch(revision) and data.count(revision) == 1:
        at = data.index(revision)
        data[at:at + len(revision)] = package_code.encode("ascii")
        count += 1
    low, high = (int((t + d) * 10_000_000) + _FILETIME_EPOCH for t, d in ((made[0], -2), (made[1], 2)))
    pinned = (mtime * 10_000_000 + _FILETIME_EPOCH).to_bytes(8, "little")
    at = data.find(b"\x40\x00\x00\x00")
    while at != -1:
        value = int.from_bytes(data[at + 4:at + 12], "little")
        if low <= value <= high:
            data[at + 4:at + 12] = pinned
            count += 1
        at = data.find(b"\x40\x00\x00\x00", at + 1)
    msi.write_bytes(bytes(data))
    return count


# Reading back (validate-release): msiinfo exports tables as tab-separated text, three header lines first.

_GLIB = re.compile(r"^\*\* \(\w+:\d+\): \w+ \*\*: [\d:.]+: ")  # GLib's log prefix, with a clock time


def _msiinfo(msi: Path, command: str, *rest: str) -> str:
    tool = shutil.which("msiinfo")
    if tool is None:
        raise ExternalError(f"msiinfo not found on PATH: {MSIINFO_HINT}")
    done = subprocess.run([tool, command, str(msi), *rest], capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0 or "open failed" in done.stderr:  # suminfo exits 0 on a file it cannot open
        shown = [_GLIB.sub("", ln) for ln in (done.stderr or done.stdout).strip().splitlines()]
        raise BadInput(f"msiinfo {command} failed: {shown[-1] if shown else 'exit ' + str(done.returncode)}",
                       msi.name)
    return done.stdout


def summary(msi: Path) -> dict[str, str]:
    """The summary information stream (`msiinfo suminfo`): Title, Subject, Author, Revision number (UUID)..."""
    out = {}
    for line in _msiinfo(msi, "suminfo").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def table(msi: Path, name: str) -> list[list[str]]:
    rows = _msiinfo(msi, "export", name).replace("\r\n", "\n").split("\n")
    return [r.split("\t") for r in rows[3:] if r]


def _long(default_dir: str) -> str:
    """The long name of a Directory/File name column (`SHORT~1|Long Name`, or just one name)."""
    return default_dir.split("|")[-1]


def installed_files(msi: Path) -> dict[str, str]:
    """Install path (`ProgramFiles64Folder/name/bin/x.exe`) -> File table key, from the Directory, Component
    and File tables."""
    dirs = {row[0]: (row[1], _long(row[2].split(":")[-1])) for row in table(msi, "Directory") if len(row) >= 3}

    def path(key: str, depth: int = 0) -> str:
        if depth > 64 or key not in dirs:
            raise BadInput(f"malformed Directory table at {key}", msi.name)
        parent, dname = dirs[key]
        if not parent or key == "TARGETDIR":
            return ""
        above = path(parent, depth + 1)
        if not above:
            return key  # a root folder: its property name (ProgramFiles64Folder)
        return above if dname == "." else f"{above}/{dname}"

    comp_dir = {row[0]: row[2] for row in table(msi, "Component") if len(row) >= 3}
    out = {}
    for row in table(msi, "File"):
        if len(row) < 3 or row[1] not in comp_dir:
            raise BadInput("malformed File table", msi.name)
        out[f"{path(comp_dir[row[1]])}/{_long(row[2])}"] = row[0]
    return out


def properties(msi: Path) -> dict[str, str]:
    return {row[0]: row[1] for row in table(msi, "Property") if len(row) >= 2}


def upgrade_codes(msi: Path) -> list[str]:
    return [row[0] for row in table(msi, "Upgrade") if row]


def extract(msi: Path, into: Path) -> None:
    """Unpack the MSI's files with msiextract (laid out by their Directory table, under `into`)."""
    tool = shutil.which("msiextract")
    if tool is None:
        raise ExternalError(f"msiextract not found on PATH: {MSIINFO_HINT}")
    done = subprocess.run([tool, "-C", str(into), str(msi)], capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=300)
    if done.returncode != 0:
        raise BadInput(f"msiextract failed: {(done.stderr or done.stdout).strip()[-200:]}", msi.name)


_PE_SUFFIXES = re.compile(r"\.(exe|dll|vst3|clap|aaxplugin|sys|ocx)$", re.IGNORECASE)


def is_pe(path: Path) -> bool:
    """A Portable Executable by its first bytes ("MZ"), for the suffixes plug-ins and programs use."""
    if not _PE_SUFFIXES.search(path.name) or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(2) == b"MZ"
