"""Audio plugin formats: bundle layouts and each OS's standard install locations, as installers use them.

Sources: Steinberg's VST 3 developer docs ("Plug-in Format Structure", "Plug-in Locations"), Apple's Audio Unit
programming guide, the CLAP README (free-audio/clap, "Plug-in location"), Avid's AAX SDK docs. Windows locations
use Inno Setup constants: {commoncf} is C:\\Program Files\\Common Files in 64-bit install mode and
{localappdata} is C:\\Users\\<user>\\AppData\\Local.
"""

from __future__ import annotations

import platform as _platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLATFORMS = ("linux", "windows", "macos")


@dataclass(frozen=True)
class Format:
    key: str  # config and component name
    title: str
    suffix: str
    system: Mapping[str, str]  # platform -> install folder for every user (absent: not on that platform)
    user: Mapping[str, str]  # platform -> per-user install folder
    single_file: tuple[str, ...] = ()  # platforms where the plugin is one file, not a bundle folder


FORMATS: dict[str, Format] = {f.key: f for f in (
    Format("vst3", "VST3", ".vst3",
           {"windows": r"{commoncf}\VST3", "macos": "/Library/Audio/Plug-Ins/VST3", "linux": "/usr/lib/vst3"},
           {"windows": r"{localappdata}\Programs\Common\VST3", "macos": "~/Library/Audio/Plug-Ins/VST3",
            "linux": "~/.vst3"}),
    Format("au", "Audio Unit", ".component",
           {"macos": "/Library/Audio/Plug-Ins/Components"}, {"macos": "~/Library/Audio/Plug-Ins/Components"}),
    Format("aax", "AAX", ".aaxplugin",
           {"windows": r"{commoncf}\Avid\Audio\Plug-Ins", "macos": "/Library/Application Support/Avid/Audio/Plug-Ins"},
           {}),
    Format("clap", "CLAP", ".clap",
           {"windows": r"{commoncf}\CLAP", "macos": "/Library/Audio/Plug-Ins/CLAP", "linux": "/usr/lib/clap"},
           {"windows": r"{localappdata}\Programs\Common\CLAP", "macos": "~/Library/Audio/Plug-Ins/CLAP",
            "linux": "~/.clap"},
           single_file=("windows", "linux")),
)}
# VST3's Contents/<arch>-<os> folder names (Steinberg: "Plug-in Format Structure").
VST3_ARCH = {("linux", "x86_64"): "x86_64-linux", ("linux", "arm64"): "aarch64-linux",
             ("linux", "x86"): "i386-linux", ("windows", "x86_64"): "x86_64-win", ("windows", "arm64"): "arm64-win",
             ("windows", "x86"): "x86-win"}


@dataclass(frozen=True)
class Bundle:
    format: Format
    path: str  # path of the bundle folder (or single file) in the staging tree
    is_dir: bool

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return self.name[: -len(self.format.suffix)]


def find_bundles(paths: Iterable[tuple[str, bool]]) -> list[Bundle]:
    """The outermost plugin bundles among staged (path, is_dir) pairs, in path order."""
    found: list[Bundle] = []
    for path, is_dir in sorted(paths):
        if any(path.startswith(b.path + "/") for b in found):
            continue
        fmt = next((f for f in FORMATS.values() if path.endswith(f.suffix)), None)
        if fmt is not None:
            found.append(Bundle(fmt, path, is_dir))
    return found


def inside(path: str, bundles: Iterable[Bundle]) -> Bundle | None:
    return next((b for b in bundles if path == b.path or path.startswith(b.path + "/")), None)


def check_layout(bundle: Bundle, files: set[str], platform: str, arch: str) -> list[str]:
    """What a bundle lacks for the platform's loaders (empty: fine). `files` are staged file paths."""
    fmt, root = bundle.format, bundle.path
    if platform not in fmt.system:
        return [f"{root}: {fmt.title} plug-ins do not exist on {platform}"]
    if platform in fmt.single_file:
        return [] if not bundle.is_dir else [f"{root}: a {fmt.title} plug-in on {platform} is one file, "
                                              "not a folder"]
    if not bundle.is_dir:
        if fmt.key == "vst3" and platform == "windows":
            return []  # the legacy single-file VST3 DLL still loads everywhere
        return [f"{root}: a {fmt.title} plug-in on {platform} is a bundle folder, not a file"]
    if platform == "macos":
        need = [f"{root}/Contents/Info.plist", f"{root}/Contents/MacOS/{bundle.stem}"]
    elif fmt.key == "vst3":
        folder = VST3_ARCH.get((platform, arch))
        if folder is None:
            return [f"{root}: no VST3 folder name for {platform}-{arch}"]
        ext = ".vst3" if platform == "windows" else ".so"
        need = [f"{root}/Contents/{folder}/{bundle.stem}{ext}"]
    else:  # AAX on Windows
        need = [f"{root}/Contents/{'x64' if arch == 'x86_64' else arch}/{bundle.stem}.aaxplugin"]
    return [f"{root} lacks {p.removeprefix(root + '/')}" for p in need if p not in files]


def install_text(bundles: Iterable[Bundle], platform: str, name: str) -> str:
    """The INSTALL.txt an archive carries: where each plug-in goes, for everyone or for one user."""
    lines = [f"Installing {name} from this archive", ""]
    for b in bundles:
        system, user = b.format.system.get(platform), b.format.user.get(platform)
        lines.append(f"{b.format.title}: copy {b.path}")
        if system:
            lines.append(f"    for every user into {windows_path(system) if platform == 'windows' else system}")
        if user:
            lines.append(f"    or just for you into {windows_path(user) if platform == 'windows' else user}")
    lines += ["Programs in bin/: copy them to a folder on your PATH"
              + (" (~/.local/bin or /usr/local/bin)." if platform != "windows" else "."),
              "The installer for this platform (.deb, .exe, .pkg) does all of this for you.", ""]
    return "\n".join(lines)


def windows_path(inno: str) -> str:
    """An Inno Setup folder constant spelled out as users see it."""
    return inno.replace("{commoncf}", r"C:\Program Files\Common Files").replace(
        "{localappdata}", r"%LOCALAPPDATA%")


def host_platform() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


def host_arch() -> str:
    """This machine's architecture in the names artifacts use: x86_64, arm64, x86, armv7."""
    machine = _platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "i386": "x86", "i686": "x86",
            "armv7l": "armv7"}.get(machine, machine)
