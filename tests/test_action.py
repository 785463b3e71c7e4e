"""action.yml, the reusable action a plugin's repository runs the chain with (issue 13, item 7): valid, pinned,
no finding at zizmor's strictest persona, shellcheck-clean, and installing releng itself rather than the plugin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
RELEASE_SH = ROOT / "scripts" / "release.sh"


def steps() -> list[dict[str, object]]:
    return yaml.safe_load(ACTION.read_text())["runs"]["steps"]


def test_the_action_matches_the_github_action_schema():
    done = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_in_the_action():
    done = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "pedantic", "--format", "json", str(ACTION)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def test_every_action_is_pinned_and_no_expression_reaches_a_shell():
    for step in steps():
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", str(step["uses"])), step["uses"]
        if "run" in step:
            assert "${{" not in str(step["run"]), step.get("name")


def test_it_installs_releng_from_its_own_checkout_never_the_plugin():
    install = next(s for s in steps() if "pip install" in str(s.get("run", "")))
    assert install["env"] == {"RELENG_SOURCE": "${{ github.action_path }}"}
    assert 'pip install -q "$RELENG_SOURCE"' in str(install["run"])
    assert not re.search(r"pip install[^\n]* \.(\s|$)", str(install["run"]))


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt install shellcheck)")
def test_every_run_script_passes_shellcheck(tmp_path):
    for number, step in enumerate(s for s in steps() if "run" in s):
        path = tmp_path / f"step-{number}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + str(step["run"]))
        done = subprocess.run(["shellcheck", "--severity=style", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_the_options_it_passes_exist():
    runs = "\n".join(str(s["run"]) for s in steps() if "run" in s)
    for option in re.findall(r"releng-release ([^\n]*)", runs):
        for flag in re.findall(r"--[a-z-]+", option):
            assert f"{flag})" in RELEASE_SH.read_text() or f"{flag}|" in RELEASE_SH.read_text(), flag
    done = subprocess.run([str(BIN / "check-setup"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--servers" in done.stdout
