"""Drive a CMake project from source to staging tree: configure, build, test (ctest), install.

Output goes to a log file in the build folder (and to stderr with -v); a failing step prints the log's tail and
fails with exit 1, a missing tool (cmake, ctest, a C++ compiler) with exit 2 and what to install. For
reproducible binaries the compiler sees SOURCE_DATE_EPOCH (GCC and Clang use it for __DATE__ and __TIME__) and,
except with MSVC, -ffile-prefix-map so no absolute path of this checkout lands in the binary; the install is
stripped except on Windows.

Windows on another host is a cross build: CMake gets a mingw-w64 toolchain file (CMAKE_TOOLCHAIN_FILE), and
ctest runs only where the toolchain names an emulator that exists (wine): a PE file does not run on Linux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from releng.artifacts import Failed
from releng.errors import BadInput, ExternalError

INSTALL_HINT = {
    "cmake": "install CMake 3.20 or newer (apt-get install cmake, brew install cmake, winget install Kitware.CMake)",
    "ctest": "install CMake 3.20 or newer (ctest comes with it)",
}
MINGW_CXX = ("x86_64-w64-mingw32-g++-posix", "x86_64-w64-mingw32-g++")
MINGW_HINT = ("no mingw-w64 C++ cross compiler (x86_64-w64-mingw32-g++) on PATH: install the Debian package "
              "g++-mingw-w64-x86-64-posix (apt-get install g++-mingw-w64-x86-64-posix mingw-w64-tools)")
WINE = ("wine64", "wine")
COMPILER_HINT = ("no working C++ compiler found: install one (apt-get install g++, xcode-select --install, "
                 "or Visual Studio's C++ build tools)")
_NO_COMPILER = ("No CMAKE_CXX_COMPILER could be found", "No CMAKE_C_COMPILER could be found",
                "is not a full path to an existing compiler tool", "CMAKE_CXX_COMPILER not set",
                "is not able to compile a simple test program")


def require(tool: str) -> str:
    """The full path of `tool` on PATH; ExternalError (exit 2) naming what to install when it is missing."""
    found = shutil.which(tool)
    if found is None:
        raise ExternalError(f"{tool} not found on PATH: {INSTALL_HINT.get(tool, 'install it')}")
    return found


def commands(source: Path, build: Path, stage: Path, *, platform: str, jobs: int,
             config: str = "Release", toolchain: Path | None = None, test: bool = True) -> list[list[str]]:
    """The steps, as argv lists (`cmake` and `ctest` resolved by the caller); no ctest when `test` is false."""
    install = ["cmake", "--install", str(build), "--config", config, "--prefix", str(stage)]
    if platform != "windows":
        install.append("--strip")
    configure = ["cmake", "-S", str(source), "-B", str(build), f"-DCMAKE_BUILD_TYPE={config}"]
    if toolchain is not None:
        configure.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    ctest = [["ctest", "--test-dir", str(build), "-C", config, "--output-on-failure"]] if test else []
    return [configure, ["cmake", "--build", str(build), "--config", config, "--parallel", str(jobs)], *ctest,
            install]


def cross_toolchain(platform: str, host: str, toolchain: Path) -> Path | None:
    """The toolchain file for a Windows build on another host (None when native); ExternalError (exit 2) naming
    the Debian package when the mingw-w64 compiler is missing, BadInput when the file is."""
    if platform != "windows" or host == "windows":
        return None
    if not toolchain.is_file():
        raise BadInput("no such CMake toolchain file ([packaging] windows_toolchain)", str(toolchain))
    if not any(shutil.which(c) for c in MINGW_CXX):
        raise ExternalError(MINGW_HINT)
    return toolchain


def can_run_tests(toolchain: Path | None) -> tuple[bool, str]:
    """Whether ctest can run this build's test programs here, and if not why (a cross build without wine)."""
    if toolchain is None:
        return True, ""
    if any(shutil.which(w) for w in WINE):
        return True, ""
    return False, "ctest skipped: the tests are Windows programs and wine is not installed to run them"


def environment(source: Path, build: Path, *, platform: str, source_date_epoch: int) -> dict[str, str]:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(source_date_epoch), CLICOLOR="0")
    if platform != "windows" or not sys.platform.startswith("win"):  # GCC or Clang, mingw-w64 included
        maps = f"-ffile-prefix-map={source.resolve()}=. -ffile-prefix-map={build.resolve()}=build"
        for var in ("CFLAGS", "CXXFLAGS"):
            env[var] = f"{env.get(var, '')} {maps}".strip()
    return env


def build_and_stage(source: Path, build: Path, stage: Path, *, platform: str, jobs: int, source_date_epoch: int,
                    verbose: bool = False, toolchain: Path | None = None, test: bool = True) -> Path:
    """Configure, build, test and install `source` into a fresh `stage`; returns the log file's path."""
    tools = {name: require(name) for name in (("cmake", "ctest") if test else ("cmake",))}
    build.mkdir(parents=True, exist_ok=True)
    if stage.exists():
        shutil.rmtree(stage)
    env = environment(source, build, platform=platform, source_date_epoch=source_date_epoch)
    log = build / "build-package.log"
    with log.open("w", encoding="utf-8") as out:
        for argv in commands(source, build, stage, platform=platform, jobs=jobs, toolchain=toolchain, test=test):
            step = " ".join(argv[:2]) if argv[0] == "cmake" else argv[0]
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            _run([tools[argv[0]], *argv[1:]], env, out, verbose, step, log)
    return log


def _run(argv: Sequence[str], env: dict[str, str], log: object, verbose: bool, step: str, log_path: Path) -> None:
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
    except OSError as e:
        raise ExternalError(f"cannot run {argv[0]}: {e.strerror}") from None
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)  # type: ignore[attr-defined]
        lines.append(line)
        if verbose:
            sys.stderr.write(line)
    code = proc.wait()
    if code == 0:
        return
    text = "".join(lines)
    if step == "cmake -S" and any(marker in text for marker in _NO_COMPILER):
        raise ExternalError(COMPILER_HINT, str(log_path))
    if not verbose:
        sys.stderr.write("".join(lines[-20:]))
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), f"exit {code}")
    raise Failed(f"{step} failed (exit {code}): {last}", str(log_path))
