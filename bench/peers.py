"""Shared by the benchmarks: the peer tools in their own venv, timing of whole commands, a results table.

Peers (commitizen, git-cliff, conventional-pre-commit, gitlint) go into bench/.cache/peers, never into the
project's venv, so their dependencies cannot change what the tests see. Times are medians of whole processes
(start-up included, as a user or a hook pays it), and every benchmark times the peers in the same run as ours:
this machine is noisy, so only ratios measured side by side mean anything.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
PEERS = CACHE / "peers"
PEER_PACKAGES = ("commitizen", "git-cliff", "conventional-pre-commit", "gitlint")
VENV_PYTHON = Path(sys.executable)  # run the benchmarks with the project's venv python


def ensure_peers() -> Path:
    """The peers' venv bin folder, created once (under a lock: several benchmarks may start at once)."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "peers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = PEERS / ".installed"
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEERS)], check=True)
            pip = [str(PEERS / "bin" / "python"), "-m", "pip", "install", "-q"]
            subprocess.run([*pip, "--upgrade", "pip"], check=True)
            subprocess.run([*pip, *PEER_PACKAGES], check=True)
            marker.touch()
    return PEERS / "bin"


def peer(name: str) -> str | None:
    exe = ensure_peers() / name
    return str(exe) if exe.exists() else shutil.which(name)


def cached_repo(commits: int, tag_every: int, untagged_tail: int = 0) -> Path:
    """A bench/make_repo.py repository, built once and kept under bench/.cache."""
    dest = CACHE / f"repo-{commits}-t{tag_every}-u{untagged_tail}"
    if not (dest / ".git").is_dir():
        if dest.exists():
            shutil.rmtree(dest)
        subprocess.run([sys.executable, str(HERE / "make_repo.py"), str(dest), "--commits", str(commits),
                        "--tag-every", str(tag_every), "--untagged-tail", str(untagged_tail)], check=True)
    return dest


def time_command(argv: Sequence[str], *, cwd: Path | None = None, runs: int = 10, warmup: int = 1,
                 timeout: float | None = None, env: dict[str, str] | None = None) -> float | None:
    """Median wall time in seconds of a whole process; None if it failed or timed out."""
    samples = []
    # This workplace sets PYTHONDONTWRITEBYTECODE: without cached bytecode every Python tool would recompile.
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for i in range(warmup + runs):
        start = time.perf_counter()
        try:
            done = subprocess.run(list(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 1):
            return None
        if i >= warmup:
            samples.append(elapsed)
    return statistics.median(samples)


def report(title: str, rows: list[tuple[str, float | None]], baseline: str) -> None:
    """Print a table of medians with each row's ratio to the baseline row."""
    base = dict(rows)[baseline]
    print(f"\n{title}")
    for name, seconds in rows:
        if seconds is None:
            print(f"  {name:<58} {'failed or timed out':>12}")
            continue
        ratio = f"{seconds / base:6.2f}x" if base else ""
        print(f"  {name:<58} {seconds * 1000:10.1f} ms  {ratio}")


# Pycs must be written, as on a user's machine; with this variable set every run would compile again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
Result = tuple[float, float, float] | None  # (median wall s, median CPU s, peak MB); None: failed or timed out


def measure(argv: Sequence[str], cwd: Path, runs: int, timeout: float, warmup: int = 1) -> Result:
    """Median wall and CPU (user + system, the whole tree) times and the highest peak RSS over `runs` runs.

    CPU time is the figure to trust on a busy machine: wall time there depends on what else runs, and a tool that
    keeps two cores busy (git and Python) suffers more from other load than the single-process floor. The peak
    RSS is the largest process of the command's tree (what `/usr/bin/time -v` reports).
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


def alternate(commands: Sequence[tuple[str, Sequence[str]]], cwd: Path, runs: int,
              timeout: float) -> list[tuple[str, Result]]:
    """Each command's Result, the commands taking turns run after run (after one warm-up each), so a load spike
    from other jobs hits them alike; prints the per-run wall ratios of each command to the first."""
    for _, argv in commands:
        measure(argv, cwd, 1, timeout, warmup=0)  # warm the caches
    turns = [[measure(argv, cwd, 1, timeout, warmup=0) for _, argv in commands] for _ in range(runs)]
    rows: list[tuple[str, Result]] = []
    for column, (name, _) in enumerate(commands):
        got = [turn[column] for turn in turns]
        done = [r for r in got if r is not None]
        rows.append((name, None if len(done) < len(got) else (statistics.median(r[0] for r in done),
                                                              statistics.median(r[1] for r in done),
                                                              max(r[2] for r in done))))
        if column:
            ratios = sorted(t[column][0] / t[0][0] for t in turns if t[0] and t[column])
            print(f"  per-run wall ratios, {name} / the first, sorted: {' '.join(f'{r:.2f}' for r in ratios)}")
    return rows


def table(title: str, rows: list[tuple[str, Result]]) -> None:
    """Wall, CPU and peak RSS of each row, with the wall and CPU ratios to the first row (the floor)."""
    base = rows[0][1]
    print(f"\n{title} (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    print(f"  {'':<52} {'wall':>9}   {'x floor':>7} {'CPU':>9}   {'x floor':>7} {'peak RSS':>9}")
    for name, result in rows:
        if result is None:
            print(f"  {name:<52} {'failed or timed out':>20}")
            continue
        wall, cpu, peak = result
        ratios = (f"{wall / base[0]:7.2f}x", f"{cpu / base[1]:7.2f}x") if base else ("", "")
        print(f"  {name:<52} {wall:7.2f} s {ratios[0]:>8} {cpu:7.2f} s {ratios[1]:>8} {peak:6.0f} MB")
