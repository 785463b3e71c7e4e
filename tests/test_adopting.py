"""docs/adopting.md followed literally (issue 13, item 7): every `sh` block of the guide, in order, in one bash
session, on a fresh CMake plugin that is not examples/plugin, with releng installed from a wheel built from a
tagged clone of this checkout into a fresh virtual environment (not this venv), the commit hook through pre-commit
pinned to that tag, and the first release through the installed chain (releng-release)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import write_nebula

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adopting.md"


def blocks(text: str, lang: str = "sh") -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def releng_clone(dest: Path) -> Path:
    """This checkout's files as they are now (committed or not), committed in a new repository and tagged v0.1.0:
    the "real tag of a local clone" the guide pins."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "releng"],
                 ["tag", "-a", "v0.1.0", "-m", "releng 0.1.0"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True)
    return dest


def test_the_guide_runs_only_real_commands_and_the_readme_shows_its_hook():
    text = GUIDE.read_text()
    hook = next(b for b in blocks(text) if "pre-commit install" in b)
    snippet = hook[hook.index("default_install_hook_types"):hook.index("EOF\n", hook.index("repos:"))]
    assert snippet in (ROOT / "README.md").read_text(), "README's pre-commit snippet is not the tested one"
    assert "rev: $RELENG_TAG" in snippet and "repo: $RELENG_REPO" in snippet


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("openssl") is None,
                    reason="cmake or openssl not installed")
def test_following_the_guide_makes_the_first_release(tmp_path):
    clone = releng_clone(tmp_path / "releng")
    plugin = write_nebula(tmp_path / "nebula-synth")
    (plugin / ".gitignore").write_text("build/\ndist/\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Nova Dev\n\temail = nova@nebula.example\n")
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([str(Path(sys.base_prefix) / "bin"),
                            *(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)])
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), "PATH": path,
           "RELENG_REPO": str(clone), "RELENG_TAG": "v0.1.0", "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                "RELENG_SIGNING_KEY", "VIRTUAL_ENV"):
        env.pop(var, None)

    def sh(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=plugin, env=env, text=True,
                              capture_output=True, timeout=900)

    history = sh('git init -q -b main && git add -A && git commit -q -m "feat: the nebula synth" && '
                 'git tag -a v0.3.0 -m "Release 0.3.0" && git commit -q --allow-empty -m "fix: voices stay in tune"')
    assert history.returncode == 0, history.stderr
    guide = "\n".join(blocks(GUIDE.read_text()))
    refused = '\nif git commit -q --allow-empty -m "added stuff"; then echo "hook let it through"; exit 9; fi\n'
    done = sh(guide + refused)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "check-setup: ready to release" in done.stderr
    tags = subprocess.run(["git", "tag", "-l"], cwd=plugin, capture_output=True, text=True, env=env).stdout.split()
    assert tags == ["v0.3.0", "v0.3.1"]
    assert (plugin / "dist" / "artifacts.json").is_file()
    assert "Validated 0.3.1" in done.stderr
