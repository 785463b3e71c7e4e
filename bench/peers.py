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
