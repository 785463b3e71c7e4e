"""The release workflow and the shell scripts, linted the way CI would, and kept to the chain scripts/release.sh runs.

actionlint cannot be installed here (it downloads from GitHub), so the workflow is checked by three tools that can:
check-jsonschema's GitHub-workflow schema (structure, keys, event names), zizmor (security: unpinned actions,
template injection, excessive permissions, credential persistence) and shellcheck on every `run:` script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE_YML = WORKFLOWS / "release.yml"
RELEASE_SH = ROOT / "scripts" / "release.sh"
SHELL_SCRIPTS = [RELEASE_SH, ROOT / "examples" / "demo.sh"]
# The releng commands, and ctest (the tests' evidence for validate-release), as the chain's steps.
COMMANDS = sorted([*tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"], "ctest"])
# Before the tag is pushed (the release manager's machine) and after publishing (a human decision): not in CI.
LOCAL_ONLY = {"bump-version", "promote-release"}
SHIPPING_ORDER = ["build-package", "verify-artifacts", "ctest", "validate-release", "publish-release"]
SHELLCHECK = shutil.which("shellcheck")
needs_shellcheck = pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (apt install shellcheck)")


def executable(command: str) -> str:
    """A releng command from this venv; ctest from PATH (CMake)."""
    return str(BIN / command) if (BIN / command).exists() else shutil.which(command) or command


def workflow() -> dict[str, object]:
    return yaml.load(RELEASE_YML.read_text(), Loader=yaml.BaseLoader)  # BaseLoader: `on:` stays a string key


def run_scripts() -> list[tuple[str, str]]:
    """(job id, script) of every `run:` step, build job first, in file order."""
    jobs = workflow()["jobs"]
    assert isinstance(jobs, dict)
    return [(job, step["run"]) for job, spec in jobs.items() for step in spec["steps"] if "run" in step]


def invocations(script: str) -> list[tuple[str, list[str]]]:
    """(command, its --options in order) for each releng command a shell script runs, heredocs and messages aside.

    A command counts where it starts a logical line (continuations joined) or a `$(...)` substitution; a command's
    name inside a quoted message (`step "bump-version ..."`) or a here-document (usage text) does not.
    """
    text = re.sub(r"<<'?(\w+)'?\n.*?\n\1\n", "\n", script, flags=re.S)
    text = text.replace("\\\n", " ")
    names = "|".join(re.escape(c) for c in COMMANDS)
    start = re.compile(rf"(?:^\s*|\$\()({names})(?=\s|$|\))")
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for m in start.finditer(line):
            rest = re.split(r"[|;)]|&&", line[m.end():])[0]
            found.append((m[1], re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)))
    return found


def chain(calls: list[tuple[str, list[str]]]) -> list[str]:
    """The commands in first-call order."""
    return list(dict.fromkeys(c for c, _ in calls))


def options(calls: list[tuple[str, list[str]]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for command, opts in calls:
        out.setdefault(command, set()).update(opts)
    return out


def sh_calls() -> list[tuple[str, list[str]]]:
    return invocations(RELEASE_SH.read_text())


def yml_calls() -> list[tuple[str, list[str]]]:
    return [call for _, script in run_scripts() for call in invocations(script)]


# ---- linters -----------------------------------------------------------------------------------------------------


def test_every_workflow_matches_the_github_workflow_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))
    assert str(RELEASE_YML) in files
    done = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    """The linter is not a rubber stamp: a job without runs-on and a misspelt key are refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text(RELEASE_YML.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest"))
    done = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout


def zizmor(path: Path) -> list[dict[str, object]]:
    """zizmor's findings at its strictest persona (pedantic: every audit, informational ones too)."""
    done = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "pedantic", "--format", "json", str(path)],
                          capture_output=True, text=True)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1x: findings, by highest severity
    findings = json.loads(done.stdout)
    assert isinstance(findings, list)
    return findings


@pytest.mark.parametrize("name", ["release.yml", "build.yml"])
def test_zizmor_finds_nothing_in_the_workflows(name):
    """No finding at any severity, pedantic persona included: pinned actions, no injection, least privilege."""
    findings = zizmor(RELEASE_YML.with_name(name))
    assert findings == [], [(f["ident"], f["desc"]) for f in findings]


def test_zizmor_would_catch_injection_and_unpinned_actions(tmp_path):
    bad = tmp_path / "release.yml"
    text = RELEASE_YML.read_text()
    text = text.replace("actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b", "actions/setup-python@v5")
    text = text.replace('validate-release --profile "$profile"', 'validate-release --profile "${{ github.ref_name }}"')
    bad.write_text(text)
    idents = {f["ident"] for f in zizmor(bad)}
    assert {"unpinned-uses", "template-injection"} <= idents, idents


@needs_shellcheck
@pytest.mark.parametrize("path", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_scripts_pass_shellcheck(path):
    done = subprocess.run([SHELLCHECK, "--severity=style", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_shellcheck
def test_every_run_script_passes_shellcheck(tmp_path):
    """What actionlint would do: each `run:` block is a bash script (the jobs' default shell)."""
    for number, (job, script) in enumerate(run_scripts()):
        assert "${{" not in script, f"{job}: an expression inside run: (pass it through env:)"
        path = tmp_path / f"{job}-{number}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
        done = subprocess.run([SHELLCHECK, "--severity=style", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{job} step {number}:\n{script}\n{done.stdout}"


# ---- the workflow's shape ----------------------------------------------------------------------------------------


def test_release_workflow_shape():
    wf = workflow()
    assert wf["on"] == {"push": {"tags": ["v*"]}}
    assert wf["permissions"] == {}, "start with no permissions; each job asks for its own"
    jobs = wf["jobs"]
    assert isinstance(jobs, dict) and set(jobs) == {"build", "publish"}
    build, publish = jobs["build"], jobs["publish"]
    assert [m["os"] for m in build["strategy"]["matrix"]["include"]] == ["ubuntu-latest", "windows-latest",
                                                                      "macos-latest"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"contents": "write"}  # the GitHub release; nothing else
    uses = [s["uses"] for job in jobs.values() for s in job["steps"] if "uses" in s]
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert any(u.startswith("actions/download-artifact@") for u in uses)
    for u in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u), f"{u}: pin actions by full commit SHA"
    for job in jobs.values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] == "false"


def test_secrets_reach_commands_through_env_only():
    text = RELEASE_YML.read_text()
    for m in re.finditer(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", text):
        line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.end())]
        assert re.fullmatch(rf"\s+{m[1]}: \$\{{\{{ secrets\.{m[1]} \}}\}}", line), line
    for _, script in run_scripts():
        assert "--signing-key" not in script  # the key stays in $RELENG_SIGNING_KEY, never in a file or argv


# ---- the same chain as scripts/release.sh ------------------------------------------------------------------------


def test_the_parser_sees_release_sh_chain():
    """Guard for the structural tests below: the extraction finds the whole chain in release.sh."""
    assert chain(sh_calls()) == ["bump-version", "gen-changelog", "build-package", "verify-artifacts", "ctest",
                                 "validate-release", "publish-release", "promote-release"]
    assert ("bump-version", []) not in invocations('step "bump-version auto"\necho "gen-changelog"\n')


def test_workflow_runs_the_chain_of_release_sh_after_the_tag():
    sh, yml = chain(sh_calls()), chain(yml_calls())
    assert set(yml) == set(sh) - LOCAL_ONLY
    assert [c for c in yml if c in SHIPPING_ORDER] == [c for c in sh if c in SHIPPING_ORDER] == SHIPPING_ORDER


def test_workflow_passes_the_options_release_sh_passes():
    sh, yml = options(sh_calls()), options(yml_calls())
    for command, used in yml.items():
        assert used <= sh[command], f"{command}: {sorted(used - sh[command])} only in the workflow"
    for text in (RELEASE_SH.read_text(), RELEASE_YML.read_text()):
        assert re.search(r"publish-release[^\n]*(\\\n[^\n]*)*--channel dev\b", text)


@pytest.mark.parametrize("command", sorted(set(chain(sh_calls())) | set(chain(yml_calls()))))
def test_every_option_used_exists(command):
    """Each --option the script and the workflow pass is one the command's --help lists."""
    done = subprocess.run([executable(command), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    accepted = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", done.stdout))
    used = options(sh_calls()).get(command, set()) | options(yml_calls()).get(command, set())
    assert used <= accepted, sorted(used - accepted)


# ---- scripts/release.sh: bad input changes nothing ---------------------------------------------------------------


def release_sh(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    environ.pop("RELENG_SIGNING_KEY", None)
    environ.update(env or {})
    return subprocess.run(["bash", str(RELEASE_SH), *args], cwd=cwd, capture_output=True, text=True, env=environ)


def test_release_sh_help():
    done = release_sh("--help", cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("usage: scripts/release.sh")
    for command in chain(sh_calls()):
        assert command in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "unknown argument: --bogus"),
    (["--servers"], "--servers needs a value"),
    (["--signing-key", "KEY", "--servers", "S.json", "--promote", "beta@half"], "--promote takes CHANNEL"),
    (["--signing-key", "missing.pem"], "--signing-key: no such file"),
    (["--signing-key", "KEY"], "--servers FILE is required"),
    (["--signing-key", "KEY", "--servers", "nope.json"], "--servers: no such file"),
    (["--signing-key", "KEY", "--no-publish", "--hotfix", "--pre-id", "rc"], "contradict"),
    (["--signing-key", "KEY", "--no-publish", "--tagged"], "--tagged: HEAD carries no release tag"),
    (["--no-publish"], "no signing key"),
])
def test_release_sh_bad_input_is_exit_2_and_changes_nothing(plugin_repo, args, message):
    plugin_repo.commit("feat: something to release")
    key = plugin_repo.path.parent / "release.pem"
    key.write_text("not read before the arguments are checked\n")
    (plugin_repo.path.parent / "S.json").write_text("{}")
    args = [str(key) if a == "KEY" else str(plugin_repo.path.parent / a) if a == "S.json" else a for a in args]
    before, head = plugin_repo.snapshot(), plugin_repo.head()
    done = release_sh(*args, cwd=plugin_repo.path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1
    assert plugin_repo.snapshot() == before and plugin_repo.head() == head
    assert plugin_repo.git("tag", "-l").split() == ["v0.1.0"]


def test_release_sh_tag_only_bumps_writes_the_changelog_and_tags(plugin_repo, validate_document):
    """The first half on a real repository: decide, write the notes, commit, tag; then stop (CI does the rest)."""
    plugin_repo.commit("feat(dsp): a soft-knee limiter")
    plugin_repo.commit("fix(wav): read extensible float files")
    done = release_sh("--tag-only", cwd=plugin_repo.path)
    assert done.returncode == 0, done.stderr
    assert plugin_repo.git("tag", "-l").split() == ["v0.1.0", "v0.2.0"]
    assert plugin_repo.git("cat-file", "-t", "v0.2.0").strip() == "tag"
    assert plugin_repo.git("log", "-1", "--format=%s").strip() == "chore(release): 0.2.0"
    assert plugin_repo.status() == ""  # CHANGELOG.md went into the release commit
    assert "## [0.2.0]" in (plugin_repo.path / "CHANGELOG.md").read_text()
    out = plugin_repo.path / "build" / "release"
    for name, schema in (("version.json", "releng/version"), ("changes.json", "releng/changes")):
        doc = json.loads((out / name).read_text())
        assert doc["schema"] == schema
        validate_document(doc)
    assert json.loads((out / "version.json").read_text())["version"] == "0.2.0"
    assert f"document: {out / 'version.json'}" in done.stderr
    assert not (plugin_repo.path / "dist").exists()


def test_release_sh_tag_only_with_nothing_to_release_is_exit_1(plugin_repo):
    plugin_repo.commit("docs: a typo")
    done = release_sh("--tag-only", cwd=plugin_repo.path)
    assert done.returncode == 1, done.stderr
    assert plugin_repo.git("tag", "-l").split() == ["v0.1.0"]


# ---- the guides point at real commands ---------------------------------------------------------------------------

GUIDES = [ROOT / "docs" / n for n in ("release-cycle.md", "hotfix.md", "rollback-runbook.md")]


def guide_calls(path: Path) -> list[tuple[str, list[str]]]:
    blocks = re.findall(r"^```sh\n(.*?)^```", path.read_text(), flags=re.S | re.M)
    return [call for block in blocks for call in invocations(re.sub(r"\s+#.*", "", block))]


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.name)
def test_guides_use_real_commands_and_options(path):
    calls = guide_calls(path)
    assert calls, "a guide that points at no command"
    for command, used in options(calls).items():
        done = subprocess.run([executable(command), "--help"], capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-300:]}"
        accepted = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", done.stdout))
        assert set(used) <= accepted, f"{path.name}: {command} {sorted(set(used) - accepted)}"
    text = path.read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (path.parent / target).resolve().exists(), f"{path.name}: broken link {target}"
    for script_option in re.findall(r"scripts/release\.sh((?: --?[a-z-]+(?: [^\s-][^\s]*)?)*)", text):
        for option in re.findall(r"--[a-z-]+", script_option):
            assert option in RELEASE_SH.read_text(), f"{path.name}: scripts/release.sh has no {option}"


def _release_key() -> str:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    return pem.decode()


@pytest.mark.slow
def test_release_sh_whole_chain_of_a_release_candidate(plugin_repo, tmp_path, validate_document):
    """bump (rc) -> changelog -> tag -> build -> verify -> ctest -> validate -> publish dev -> promote beta, on a
    local-folder server, the key only in $RELENG_SIGNING_KEY: every document valid, the key never printed."""
    plugin_repo.commit("feat(dsp): a soft-knee limiter")
    root = tmp_path / "update-server"
    config = json.loads((ROOT / "distribution" / "update_server_config.json").read_text())
    config["servers"] = [{"name": "local", "transport": "local", "root": str(root), "base_url": "http://127.0.0.1:9"}]
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps(config))
    key = _release_key()
    done = release_sh("--pre-id", "rc", "--servers", str(servers), "--promote", "beta", "--dist", "../dist",
                      "--out", "../documents", cwd=plugin_repo.path, env={"RELENG_SIGNING_KEY": key})
    assert done.returncode == 0, done.stderr[-3000:]
    secret = "".join(key.splitlines()[1:-1])
    assert secret not in done.stdout + done.stderr
    out = tmp_path / "documents"  # --out relative to where it was run; every step read its inputs from there
    assert not (plugin_repo.path / "build" / "release").exists()
    for name in ("version.json", "changes.json", "verified.json", "validation.json", "publish.json"):
        doc = json.loads((out / name).read_text())
        validate_document(doc)
        assert secret not in json.dumps(doc)
    assert json.loads((out / "validation.json").read_text())["profile"] == "rc"
    assert json.loads((out / "validation.json").read_text())["passed"] is True
    assert json.loads((out / "promote-beta.json").read_text())["version"] == "0.2.0-rc.1"
    assert (tmp_path / "dist" / "artifacts.json").is_file()  # --dist relative to where it was run
    assert (root / "releases" / "0.2.0-rc.1").is_dir()
    assert {p.name for p in (root / "channels").glob("*.json")} == {"dev.json", "beta.json"}
    assert plugin_repo.git("describe", "--tags", "--exact-match").strip() == "v0.2.0-rc.1"
    order = [line[3:].split(":")[0] for line in done.stderr.splitlines() if line.startswith("== ")]
    assert [o.split()[0] for o in order][:8] == ["bump-version", "gen-changelog", "bump-version", "build-package",
                                                 "verify-artifacts", "ctest", "validate-release", "publish-release"]
