"""gen-changelog --full, and its update mode, on a 100,000-commit repository with a tag every 50 (2,000 releases).

Targets: --full within 1.5x of the floor `git log --format=%H%x00%s%x00%b%x00` over the same history, faster
than git-cliff's full changelog, and under 120 MB peak memory, linear in the history (a tool that walks the history
once per tag grows with commits x tags); update mode (one new release at the top) within 1.5x of `git log
LAST..HEAD` plus the tag listing, whatever the history's length. Each command is timed in the same run (this
machine is noisy): the floor and ours take turns run after run; the median wall time of whole processes (and the
ratio of each pair of runs), and the peak RSS of the largest process of each command's tree (what
`/usr/bin/time -v` reports). The peers run on a 10,000-commit repository too, so a ratio exists when they time
out on the big one. Run with the venv's python: `.venv/bin/python bench/bench_changelog.py [--runs N] [--no-peers]`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from peers import ENV, ROOT, VENV_PYTHON, Result, alternate, cached_repo, measure, peer, table


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
    rows = alternate([("floor: git log --format=%H%x00%s%x00%b%x00", floor),
                      ("python changelog/gen_changelog.py --full", ours)], repo, runs, timeout)
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


def update_mode(commits: int, runs: int, timeout: float, out: Path) -> list[tuple[str, Result]]:
    """One new release at the top of a changelog of every other: the file --full writes, its newest section cut
    out, is restored before each run (a `cp` of 3 MB, in both commands' shells alike: both run through `sh`)."""
    repo = cached_repo(commits, 50)
    full, base, file = out / "full.md", out / "base.md", out / "CHANGELOG.md"
    subprocess.run([str(VENV_PYTHON), str(ROOT / "changelog" / "gen_changelog.py"), "--full", "-q",
                    "--changelog", str(full), "--out", str(out / "full.json")], cwd=repo, check=True, env=ENV)
    text = full.read_text()
    top = text.index("\n## [", text.index("## [Unreleased]") + 1)  # the newest release's section
    below = text.index("\n## [", top + 1)
    base.write_text(text[:top] + text[below:])
    last = "v" + text[below + 5:text.index("]", below)]
    ours = ["sh", "-c", 'cp "$0" "$1" && exec "$2" "$3" -q --changelog "$1" --out "$4"', str(base), str(file),
            str(VENV_PYTHON), str(ROOT / "changelog" / "gen_changelog.py"), str(out / "changes.json")]
    floor = ["sh", "-c", 'cp "$0" "$1" && git log --format=%H%x00%s%x00%b%x00 "$2..HEAD" >/dev/null && '
             "git for-each-ref refs/tags >/dev/null", str(base), str(out / "copy.md"), last]
    rows = alternate([(f"floor: git log {last}..HEAD + for-each-ref", floor),
                      ("python changelog/gen_changelog.py (update)", ours)], repo, runs, timeout)
    if file.read_text() != text:
        raise SystemExit("update mode did not write what --full writes")
    return rows


def show(title: str, rows: list[tuple[str, Result]]) -> None:
    table(title, rows)
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
            table(f"gen-changelog update mode: one new release on {commits:,} commits (median of {args.runs})",
                  update_mode(commits, args.runs, args.timeout, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
