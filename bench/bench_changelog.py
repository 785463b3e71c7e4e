"""gen-changelog --full on a 100,000-commit repository with a tag every 50 commits (2,000 releases).

Targets: within 2x of the floor `git log --format=%H%x00%s%x00%b%x00` over the same history, faster than
git-cliff's full changelog, and under 200 MB peak memory; linear in the history, where a tool that walks the
history once per tag grows with commits x tags. Each command is timed in the same run (this machine is noisy):
the floor and ours take turns run after run; the median wall time of whole processes (and the ratio of each
pair of runs), and the peak RSS of the largest process of each command's tree (what
`/usr/bin/time -v` reports). The peers run on a 10,000-commit repository too, so a ratio exists when they time
out on the big one. Run with the venv's python: `.venv/bin/python bench/bench_changelog.py [--runs N] [--no-peers]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from peers import ROOT, VENV_PYTHON, cached_repo, peer

# Pycs must be written, as on a user's machine; with this variable set every run would compile again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
Result = tuple[float, float, float] | None  # (median wall s, median CPU s, peak MB); None: failed or timed out


def measure(argv: Sequence[str], cwd: Path, runs: int, timeout: float, warmup: int = 1) -> Result:
    """Median wall and CPU (user + system, the whole tree) times and the highest peak RSS over `runs` runs.

    CPU time is the figure to trust on a busy machine: wall time there depends on what else runs, and a tool that
    keeps two cores busy (git and Python) suffers more from other load than the single-process floor.
    """
    samples, cpu, peak = [], [], 0.0
    for i in range(warmup + runs):
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty tool can't block on it
            start = time.perf_counter()
            proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
            while True:  # wait4: the rusage of this child and of the children it waited for
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - start > timeout:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    return None
                time.sleep(0.002)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                sys.stderr.write(f"{argv[0]} failed ({proc.returncode}): {err.read().decode()[-500:]}\n")
                return None
        if i >= warmup:
            samples.append(elapsed)
            cpu.append(usage.ru_utime + usage.ru_stime)
            peak = max(peak, usage.ru_maxrss / 1024)
    return statistics.median(samples), statistics.median(cpu), peak


def cz_config(repo: Path) -> Path:
    last = subprocess.run(["git", "describe", "--tags", "--abbrev=0"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    path = repo / ".cz.toml"
    path.write_text(f'[tool.commitizen]\nname = "cz_conventional_commits"\nversion = "{last[1:]}"\n'
                    'tag_format = "v$version"\nmajor_version_zero = true\n')
    return path


def bench(commits: int, runs: int, timeout: float, out: Path, with_cz: bool,
          with_peers: bool = True) -> list[tuple[str, Result]]:
    repo = cached_repo(commits, 50)
    ours = [str(VENV_PYTHON), str(ROOT / "changelog" / "gen_changelog.py"), "--full", "-q",
            "--changelog", str(out / "CHANGELOG.md"), "--out", str(out / "changes.json")]
    floor = ["git", "log", "--format=%H%x00%s%x00%b%x00"]
    measure(floor, repo, 1, timeout, warmup=0)  # warm the caches
    measure(ours, repo, 1, timeout, warmup=0)
    # The floor and ours take turns, run after run, so a load spike from other jobs hits both alike.
    pairs = [(measure(floor, repo, 1, timeout, warmup=0), measure(ours, repo, 1, timeout, warmup=0))
             for _ in range(runs)]
    rows: list[tuple[str, Result]] = []
    for name, column in (("floor: git log --format=%H%x00%s%x00%b%x00", 0),
                         ("python changelog/gen_changelog.py --full", 1)):
        got = [pair[column] for pair in pairs]
        done = [r for r in got if r is not None]
        rows.append((name, None if len(done) < len(got) else (statistics.median(r[0] for r in done),
                                                              statistics.median(r[1] for r in done),
                                                              max(r[2] for r in done))))
    ratios = sorted(o[0] / f[0] for f, o in pairs if f and o)
    if ratios:
        print(f"  per-run wall ratios, ours / floor, sorted: {' '.join(f'{r:.2f}' for r in ratios)}")
    cliff = peer("git-cliff") if with_peers else None
    if cliff:
        rows.append(("git-cliff -o FILE (full changelog)",
                     measure([cliff, "-o", str(out / "cliff.md")], repo, 1, timeout, warmup=0)))
    cz = peer("cz") if with_peers else None
    if cz and with_cz:
        config = cz_config(repo)
        try:
            rows.append(("commitizen: cz changelog --file-name FILE",
                         measure([cz, "changelog", "--file-name", str(out / "cz.md")], repo, 1, timeout,
                                 warmup=0)))
        finally:
            config.unlink()
    return rows


def show(title: str, rows: list[tuple[str, Result]]) -> None:
    base = rows[0][1]
    load = os.getloadavg()[0]
    print(f"\n{title} (load average {load:.2f} on {os.cpu_count()} CPUs)")
    print(f"  {'':<46} {'wall':>9}   {'x floor':>7} {'CPU':>9}   {'x floor':>7} {'peak RSS':>9}")
    for name, result in rows:
        if result is None:
            print(f"  {name:<46} {'failed or timed out':>20}")
            continue
        wall, cpu, peak = result
        ratios = (f"{wall / base[0]:7.2f}x", f"{cpu / base[1]:7.2f}x") if base else ("", "")
        print(f"  {name:<46} {wall:7.2f} s {ratios[0]:>8} {cpu:7.2f} s {ratios[1]:>8} {peak:6.0f} MB")
    ours, cliff = dict(rows).get("python changelog/gen_changelog.py --full"), \
        dict(rows).get("git-cliff -o FILE (full changelog)")
    if ours and cliff:
        print(f"  git-cliff / gen-changelog: {cliff[0] / ours[0]:.1f}x wall, {cliff[1] / ours[1]:.1f}x CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="the peers' second repository (0: none)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a peer is stopped")
    parser.add_argument("--no-cz", action="store_true", help="skip commitizen")
    parser.add_argument("--no-peers", action="store_true", help="skip git-cliff and commitizen")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-changelog-") as tmp:
        for commits in (args.commits, args.small) if args.small else (args.commits,):
            rows = bench(commits, args.runs, args.timeout, Path(tmp), not args.no_cz, not args.no_peers)
            show(f"gen-changelog --full on {commits:,} commits, a tag every 50 "
                 f"(median of {args.runs}; peers once)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
