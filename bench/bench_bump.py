"""bump-version auto --dry-run on a 100,000-commit repository with 5,000 commits since the last tag.

Target: within 1.5x of the floor, `git describe --tags --abbrev=0` plus `git log LAST..HEAD --format=%s%n%b`,
side by side with commitizen's `cz bump --dry-run` and git-cliff's `--bumped-version`. Run with the venv's
python: `.venv/bin/python bench/bench_bump.py [--commits N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import subprocess

from peers import ROOT, VENV_PYTHON, cached_repo, peer, report, time_command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--tail", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    repo = cached_repo(args.commits, 50, args.tail)
    last = subprocess.run(["git", "describe", "--tags", "--abbrev=0"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    (repo / ".cz.toml").write_text(f'[tool.commitizen]\nname = "cz_conventional_commits"\n'
                                   f'version = "{last[1:]}"\ntag_format = "v$version"\n'
                                   'major_version_zero = true\n')
    floor = "T=$(git describe --tags --abbrev=0) && git log \"$T\"..HEAD --format=%s%n%b >/dev/null"
    rows = [
        ("floor: git describe + git log LAST..HEAD", time_command(["sh", "-c", floor], cwd=repo, runs=args.runs)),
        ("python versioning/bump_version.py auto --dry-run",
         time_command([str(VENV_PYTHON), str(ROOT / "versioning/bump_version.py"), "auto", "--dry-run", "-q"],
                      cwd=repo, runs=args.runs)),
        ("bump-version auto --dry-run (console script)",
         time_command([str(VENV_PYTHON.parent / "bump-version"), "auto", "--dry-run", "-q"], cwd=repo,
                      runs=args.runs)),
    ]
    cz, cliff = peer("cz"), peer("git-cliff")
    if cz:
        rows.append(("commitizen: cz bump --dry-run --yes",
                     time_command([cz, "bump", "--dry-run", "--yes"], cwd=repo, runs=3, timeout=300)))
    if cliff:
        rows.append(("git-cliff --bumped-version",
                     time_command([cliff, "--bumped-version"], cwd=repo, runs=3, timeout=300)))
    (repo / ".cz.toml").unlink()
    report(f"bump-version on {args.commits:,} commits, {args.tail:,} since {last}", rows,
           "floor: git describe + git log LAST..HEAD")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
