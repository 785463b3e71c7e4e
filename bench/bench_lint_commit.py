"""Benchmark lint-commit's start-up against the interpreter floor and peer tools; never part of the test suite.

  python bench/bench_lint_commit.py [--runs N] [--no-peers] [--no-pre-commit] [--no-direct]

On a valid and an invalid message file: the venv's `python -c pass` (the floor), `python changelog/lint_commit.py
MSG`, the `lint-commit` console script, the hook `lint-commit --install-hook` writes, and the peers
(bench/peers.py installs them into bench/.cache/peers, never into the project's venv): conventional-pre-commit,
`cz check --commit-msg-file`, `gitlint --msg-filename`.
Then `git commit` through pre-commit: with a no-op commit-msg hook (language: system `true`, and language: python
`python -c pass`), with ours (a `repo:` snapshot of this checkout that pre-commit installs like any consumer,
and the `repo: local` system hook this project uses) and with conventional-pre-commit.

This machine is shared and noisy, so the commands of a table run interleaved (round after round, each command
once per round in a shuffled order) rather than one after the other as hyperfine does: a load spike hits all of
them alike. Two medians per command: wall time, and CPU time (user + system of the process and its children,
from wait4), which waiting for a busy CPU does not inflate. Results also go to bench/results/lint_commit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import ensure_peers

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GOOD = ("feat(ui): add a gain knob\n\nThe knob goes from -60 to +12 dB.\n\nRefs: #12\n"
        "# Please enter the commit message for your changes. Lines starting\n# with '#' will be ignored.\n")
BAD = "feature(ui) add a gain knob\nThe knob goes from -60 to +12 dB.\n"
# Pycs must be written, as on a developer's machine; with this variable set every run would compile again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
Case = tuple[list[str], Path]  # argv, cwd


def spawn(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one run; output discarded, exit code ignored (an invalid message exits 1)."""
    os.chdir(cwd)
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    exe = argv[0] if os.sep in argv[0] else shutil.which(argv[0]) or argv[0]
    start = time.perf_counter()
    pid = os.posix_spawn(exe, argv, ENV, file_actions=devnull)
    _, _, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime


def measure(cases: dict[str, Case], runs: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Median wall and CPU ms of each case, the cases interleaved in shuffled rounds."""
    here = os.getcwd()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    order = list(cases)
    try:
        for n in range(warmup + runs):
            random.shuffle(order)
            for name in order:
                result = spawn(*cases[name])
                if n >= warmup:
                    samples[name].append(result)
    finally:
        os.chdir(here)
    return {name: {"wall_ms": statistics.median(w for w, _ in s) * 1000,
                   "cpu_ms": statistics.median(c for _, c in s) * 1000} for name, s in samples.items()}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=ENV).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for key, value in (("user.name", "bench"), ("user.email", "bench@example.com"), ("commit.gpgsign", "false")):
        git(path, "config", key, value)
    return path


def snapshot(dest: Path) -> str:
    """This checkout's working tree as a git repository (uncommitted files too), for pre-commit's `repo:`."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for folder in ("versioning", "changelog", "packaging", "distribution", "rollback", "validation"):
        if (ROOT / folder).is_dir() and not (dest / folder).is_dir():  # force-included by the wheel build
            (dest / folder).mkdir(parents=True)
            (dest / folder / ".keep").write_text("")
    make_repo(dest)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "--no-verify", "-m", "chore: snapshot")
    return git(dest, "rev-parse", "HEAD").strip()


def pre_commit_repo(path: Path, config: str) -> Path:
    repo = make_repo(path)
    (repo / ".pre-commit-config.yaml").write_text(config)
    git(repo, "add", ".pre-commit-config.yaml")
    pre_commit = str(VENV_BIN / "pre-commit")
    for args in (["install", "--hook-type", "commit-msg"], ["install-hooks"]):
        subprocess.run([pre_commit, *args], cwd=repo, env=ENV, check=True, capture_output=True)
    git(repo, "commit", "-q", "-m", "chore: start")
    return repo


def hook(name: str, entry: str, language: str, extra: str = "") -> str:
    return (f"repos:\n- repo: local\n  hooks:\n  - id: {name}\n    name: {name}\n    entry: {entry}\n"
            f"    language: {language}\n    stages: [commit-msg]\n    always_run: true\n{extra}")


def direct_cases(tmp: Path, peers: Path | None) -> dict[str, dict[str, Case]]:
    python = str(VENV_BIN / "python")
    repo = make_repo(tmp / "repo")
    script = str(ROOT / "changelog" / "lint_commit.py")
    subprocess.run([python, script, "--install-hook"], cwd=repo, env=ENV, check=True, capture_output=True)
    tables = {}
    for kind, text in (("valid", GOOD), ("invalid", BAD)):
        msg = tmp / f"{kind}.msg"
        msg.write_text(text)
        m = str(msg)
        cases: dict[str, list[str]] = {
            "python -c pass (floor)": [python, "-c", "pass"],
            "python changelog/lint_commit.py MSG": [python, script, m],
            "lint-commit MSG (console script)": [str(VENV_BIN / "lint-commit"), m],
            ".git/hooks/commit-msg MSG (--install-hook)": [str(repo / ".git" / "hooks" / "commit-msg"), m],
        }
        if peers:
            cases["conventional-pre-commit MSG"] = [str(peers / "conventional-pre-commit"), m]
            cases["gitlint --msg-filename MSG"] = [str(peers / "gitlint"), "--ignore-stdin", "--msg-filename", m]
            cases["cz check --commit-msg-file MSG"] = [str(peers / "cz"), "check", "--commit-msg-file", m]
        for argv in cases.values():  # pycs, the config cache
            subprocess.run(argv, cwd=repo, env=ENV, capture_output=True)
        tables[f"{kind} message"] = {name: (argv, repo) for name, argv in cases.items()}
    return tables


def commit_cases(tmp: Path, peers: Path | None) -> dict[str, Case]:
    sha = snapshot(tmp / "releng-snapshot")
    setups = {
        "pre-commit, no-op hook (language: system, `true`)": hook("noop", "'true'", "system"),
        "pre-commit, no-op hook (language: python, -c pass)":
            hook("noop-py", "python -c pass", "python", "    pass_filenames: false\n"),
        "pre-commit, lint-commit (repo: snapshot, python)":
            f"repos:\n- repo: {tmp / 'releng-snapshot'}\n  rev: {sha}\n  hooks:\n  - id: lint-commit\n",
        "pre-commit, lint-commit (repo: local, system)": hook("lint-commit", str(VENV_BIN / "lint-commit"), "system"),
    }
    if peers:
        setups["pre-commit, conventional-pre-commit (python)"] = hook(
            "cpc", "conventional-pre-commit", "python", "    additional_dependencies: [conventional-pre-commit]\n")
    argv = ["git", "commit", "-q", "--allow-empty", "-m", "feat(ui): add a gain knob"]
    cases = {name: (argv, pre_commit_repo(tmp / f"consumer{i}", config))
             for i, (name, config) in enumerate(setups.items())}
    cases["git commit, no hook at all"] = (argv, make_repo(tmp / "bare-commit"))
    time.sleep(2.5)  # let the installed config files leave the "racy" window, so that the config cache is used
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="rounds for the direct runs (commits: a fifth)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-pre-commit", action="store_true")
    ap.add_argument("--no-direct", action="store_true", help="only the pre-commit commit timings")
    args = ap.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as tmp_s:
        tmp = Path(tmp_s)
        peers = None if args.no_peers else ensure_peers()
        if not args.no_direct:
            for title, cases in direct_cases(tmp, peers).items():
                results[title] = measure(cases, args.runs)
                print_table(title, results[title])
        if not args.no_pre_commit:
            title = "git commit through pre-commit"
            results[title] = measure(commit_cases(tmp, peers), max(20, args.runs // 5))
            print_table(title, results[title])
    out = ROOT / "bench" / "results" / "lint_commit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "results": results}, indent=2) + "\n")
    return 0


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    base = next(iter(rows.values()))
    print(f"\n{title}: medians, and ratios to the first row")
    print(f"  {'':<52} {'wall':>9} {'ratio':>6}  {'CPU':>9} {'ratio':>6}")
    for name, r in rows.items():
        print(f"  {name:<52} {r['wall_ms']:6.1f} ms {r['wall_ms'] / base['wall_ms']:5.2f}x  "
              f"{r['cpu_ms']:6.1f} ms {r['cpu_ms'] / base['cpu_ms']:5.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
