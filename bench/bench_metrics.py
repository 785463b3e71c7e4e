"""release-metrics on a 100,000-commit repository with a tag every 50 commits (2,000 releases and their rcs).

Target (issue 14): within 3x of the floor, `git log --all` with the fields release-metrics reads (sha, parents,
committer time, message) over the same history, and under 200 MB peak memory. It reads the history once; it used
to start git processes per release, one a `git log --all ^<tag>` over the whole graph, and ran for more than 25
minutes here. The two commands take turns run after run (this machine is noisy): median wall and CPU time of
whole processes, the ratio of each pair of runs, and the peak RSS of the largest process of each command's tree.
Run with the venv's python: `.venv/bin/python bench/bench_metrics.py [--commits N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from peers import ROOT, VENV_PYTHON, alternate, cached_repo, table

FLOOR = ["git", "log", "--all", "--format=%H%x00%P%x00%ct%x00%B%x00"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a command is stopped")
    args = parser.parse_args()
    repo = cached_repo(args.commits, 50)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        ours = [str(VENV_PYTHON), str(ROOT / "validation" / "release_metrics.py"), "-q", "--out",
                str(Path(tmp) / "metrics.json")]  # the document, not the 5 MB table, and no terminal
        rows = alternate([("floor: git log --all --format=%H%x00%P%x00%ct%x00%B%x00", FLOOR),
                          ("python validation/release_metrics.py --out FILE", ours)], repo, args.runs, args.timeout)
        table(f"release-metrics on {args.commits:,} commits, a tag every 50 (median of {args.runs})", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
