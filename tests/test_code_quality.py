"""ruff and mypy --strict over the package and the scripts: CI refuses what a reviewer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = tuple(f for f in ("versioning", "changelog", "packaging", "distribution", "rollback", "validation")
                if (ROOT / f).is_dir())
BIN = Path(sys.executable).parent


def test_ruff_is_clean():
    done = subprocess.run([str(BIN / "ruff"), "check", "shared", *FOLDERS, "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean():
    scripts = [str(p.relative_to(ROOT)) for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.py"))]
    done = subprocess.run([str(BIN / "mypy"), "--no-error-summary", "shared/releng", *scripts], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
