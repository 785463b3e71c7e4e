"""bump-version auto --dry-run on a 100,000-commit repository with 5,000 commits since the last tag.

Target: within 1.5x of the floor, `git describe --tags --abbrev=0` plus `git log LAST..HEAD --format=%s%n%b`,
side by side with commitizen's `cz bump --dry-run` and git-cliff's `--bumped-version`. Run with the venv's
python: `.venv/bin/python bench/bench_bump.py [--commits N] [--runs N] [--no-peers | --no-cliff]`.

The floor and ours run interleaved, round after round in a shuffled order, so that a load spike from other jobs on
this shared machine hits both alike; the table gives the median and the best run of each, and the ratio of the
medians and of the best runs (the figures least disturbed by other load). The peers run a few times afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time

from peers import ROOT, VENV_PYTHON, cached_repo, peer, report, time_command

FLOOR = "floor: git describe + git log LAST..HEAD"
# Pycs must be written, as on a user's machine; with this variable set every run would compile again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def interleaved(cases: dict[str, list[str]], cwd: str, runs: int, warmup: int = 2) -> dict[str, list[float]]:
    """Wall seconds of each case's runs, the cases taking turns in a shuffled order each round."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    for n in range(warmup + runs):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            done = subprocess.run(cases[name], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=ENV)
            elapsed = time.perf_counter() - start
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed with exit {done.returncode}")
            if n >= warmup:
                samples[name].append(elapsed)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--tail", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-peers", action="store_true", help="skip commitizen and git-cliff (minutes)")
    parser.add_argument("--no-cliff", action="store_true", help="skip git-cliff (it times out after 300 s)")
    args = parser.parse_args()
    repo = cached_repo(args.commits, 50, args.tail)
    last = subprocess.run(["git", "describe", "--tags", "--abbrev=0"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    floor = "T=$(git describe --tags --abbrev=0) && git log \"$T\"..HEAD --format=%s%n%b >/dev/null"
    cases = {
        FLOOR: ["sh", "-c", floor],
        "python versioning/bump_version.py auto --dry-run":
            [str(VENV_PYTHON), str(ROOT / "versioning/bump_version.py"), "auto", "--dry-run", "-q"],
        "bump-version auto --dry-run (console script)":
            [str(VENV_PYTHON.parent / "bump-version"), "auto", "--dry-run", "-q"],
    }
    samples = interleaved(cases, str(repo), args.runs)
    print(f"\nbump-version on {args.commits:,} commits, {args.tail:,} since {last} "
          f"({args.runs} interleaved rounds, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    base_med, base_min = statistics.median(samples[FLOOR]), min(samples[FLOOR])
    print(f"  {'':<52} {'median':>9} {'x floor':>8} {'best':>9} {'x floor':>8} {'spread (q1-q3)':>16}")
    for name, s in samples.items():
        q1, _, q3 = statistics.quantiles(s, n=4)
        print(f"  {name:<52} {statistics.median(s) * 1000:7.1f}ms {statistics.median(s) / base_med:7.2f}x "
              f"{min(s) * 1000:7.1f}ms {min(s) / base_min:7.2f}x {q1 * 1000:7.1f}-{q3 * 1000:.1f}ms")
    if args.no_peers:
        return 0
    (repo / ".cz.toml").write_text(f'[tool.commitizen]\nname = "cz_conventional_commits"\n'
                                   f'version = "{last[1:]}"\ntag_format = "v$version"\n'
                                   'major_version_zero = true\n')
    rows = [(FLOOR, statistics.median(samples[FLOOR]))]
    cz, cliff = peer("cz"), None if args.no_cliff else peer("git-cliff")
    try:
        if cz:
            rows.append(("commitizen: cz bump --dry-run --yes",
                         time_command([cz, "bump", "--dry-run", "--yes"], cwd=repo, runs=3, timeout=300)))
        if cliff:
            rows.append(("git-cliff --bumped-version",
                         time_command([cliff, "--bumped-version"], cwd=repo, runs=3, timeout=300)))
    finally:
        (repo / ".cz.toml").unlink()
    report("peers (median of 3, against the floor's median above)", rows, FLOOR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
