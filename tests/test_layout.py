"""The repository's shape: one installed top-level name, script names = command names, no cross-imports."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_FOLDERS = ("versioning", "changelog", "packaging", "distribution", "rollback", "validation")
FORBIDDEN_TOP_LEVEL = {"packaging", "shared", "versioning", "changelog", "distribution", "rollback", "validation"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def scripts() -> list[Path]:
    return sorted(p for folder in SCRIPT_FOLDERS for p in (ROOT / folder).glob("*.py"))


def command_name(path: Path) -> str:
    return path.stem.replace("_", "-")


def test_console_scripts_are_exactly_the_script_files():
    declared = PYPROJECT["project"]["scripts"]
    expected = {command_name(p): f"releng._scripts.{p.parent.name}.{p.stem}:main" for p in scripts()}
    assert declared == expected


def test_every_script_folder_is_force_included_in_the_wheel():
    include = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    folders = {p.parent.name for p in scripts()}
    bundled = {"scripts/release.sh": "releng/_scripts/release.sh"}  # the chain releng-release runs
    assert include == {**{f: f"releng/_scripts/{f}" for f in folders}, **bundled}


def test_script_stems_are_unique_and_shadow_nothing():
    stems = [p.stem for p in scripts()]
    assert len(stems) == len(set(stems))
    distributions = {name.replace("-", "_").lower() for name in importlib.metadata.packages_distributions()}
    for stem in stems:
        assert stem not in sys.stdlib_module_names, stem
        assert stem.lower() not in distributions, stem


def test_no_init_files_in_script_or_test_folders():
    for folder in (*SCRIPT_FOLDERS, "tests", "bench"):
        found = [p for p in (ROOT / folder).rglob("__init__.py") if ".cache" not in p.parts]
        assert not found, folder


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", scripts(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_import_releng_and_libraries_only(path):
    stems = {p.stem for p in scripts()}
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN_TOP_LEVEL - {"packaging"} and top not in stems, name
        assert not name.startswith("releng._scripts"), name


PACKAGE = ROOT / "shared" / "releng"
AREAS = ("versioning", "changelog", "packaging", "distribution", "rollback", "validation", "server")


def releng_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_scripts" not in p.relative_to(PACKAGE).parts)


def dotted(path: Path) -> str:
    return ".".join(("releng", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def test_releng_stays_small_and_never_imports_scripts():
    assert sorted(p.name for p in (ROOT / "shared").iterdir()) == ["releng"]
    for module in releng_modules():
        if module.name == "__init__.py":
            assert module.read_bytes() == b"", dotted(module)  # the commit hook's start-up time
        assert not any(n.startswith("releng._scripts") for n in _imports(module)), dotted(module)
        assert len(module.read_text().splitlines()) <= 400, f"{dotted(module)}: split it by noun"


def test_the_package_is_a_core_and_one_subpackage_per_area():
    """DESIGN.md's layout: the core modules at the top, one subpackage per script folder plus `server`."""
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subpackages == {*AREAS, "_scripts"}
    assert set(SCRIPT_FOLDERS) <= subpackages


def test_every_releng_module_is_in_the_package_map():
    """docs/conventions.md lists every module by area (dotted below the core): a new one must say where it belongs,
    and the map names no module that is gone."""
    section = (ROOT / "docs" / "conventions.md").read_text().split("## The `releng` package", 1)[1]
    listed = set(re.findall(r"`(releng(?:\.\w+)+)`", section))
    modules = {dotted(p) for p in releng_modules() if p.name != "__init__.py"}
    assert modules - listed == set(), "add these to docs/conventions.md"
    assert {m for m in listed if m.count(".") >= 1} - modules - {f"releng.{a}" for a in AREAS} == set()


def test_the_import_contracts_hold():
    """import-linter's contracts in pyproject.toml: core below server below the areas, areas independent (the
    listed exceptions aside), no import cycle anywhere in the package (TYPE_CHECKING imports included)."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


@pytest.mark.parametrize("path", scripts(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_stay_short(path):
    assert len(path.read_text().splitlines()) <= 300


def test_pypi_packaging_is_not_shadowed():
    """Our packaging/ folder must never hide the PyPI `packaging` library (DESIGN.md)."""
    code = "import packaging, packaging.version; print(packaging.__file__)"
    for cwd in (ROOT, ROOT / "packaging"):
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()).is_relative_to(sysconfig.get_paths()["purelib"])
    for name in FORBIDDEN_TOP_LEVEL - {"packaging"}:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd="/", capture_output=True)
        assert done.returncode != 0, f"{name} is importable"


def test_installed_top_level_names():
    dist = importlib.metadata.distribution("releng")
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith(("..", "releng-"))}
    tops = {t for t in tops if not t.endswith((".dist-info", ".pth")) and t != "__pycache__"}
    assert tops <= {"releng"}, tops


@pytest.mark.parametrize("path", scripts(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_works_both_ways(path):
    name = command_name(path)
    for argv in ([sys.executable, str(path), "--help"], [str(Path(sys.executable).parent / name), "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: {name}"), done.stdout[:80]


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for path in scripts():
        assert f"`{command_name(path)}" in readme, command_name(path)
