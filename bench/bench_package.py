"""Packaging and checksumming a staging tree: build-package side by side with tar | gzip and peers.

Target (docs/packaging.md, "Fast"): our .tar.gz plus its sha256 in at most 0.55x the time of
`tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - DIR | gzip -n -6 > x.tar.gz
&& sha256sum x.tar.gz` on the same tree, measured in the same run. The tree (built once, cached under
bench/.cache/) mimics a plugin release: a few large files (PCM-like samples, an incompressible resource pack, a
binary-like library) and thousands of small ones (JSON presets, text, images), 1 GiB by default.

Run with the venv's python: `.venv/bin/python bench/bench_package.py [--size MiB] [--runs N] [--jobs N]`
(`--size 128` for a quick look). Our rows run the real command (`build-package --staging TREE --format F`:
start-up, scan, contents check, SHA256SUMS, signature and artifacts.json included). The peers `pigz`
(`apt-get install pigz`) and `zstd` run when installed. Rows are interleaved run by run, and each shows its wall
time and its CPU time (user + system of every thread and child): on a shared machine the wall-time ratios move
with other work, the CPU ratios much less.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import CACHE, VENV_PYTHON

SEED = 20240501


def _text(rng: random.Random, size: int) -> bytes:
    words = [bytes(rng.choice(b"etaoinshrdlucmfwyp") for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    pool = b" ".join(rng.choice(words) for _ in range(150_000))
    out = bytearray()
    while len(out) < size:
        start = rng.randrange(len(pool) - 70_000)
        out += pool[start:start + rng.randint(500, 60_000)] + b"\n"
    return bytes(out[:size])


def _pcm(rng: random.Random, size: int) -> bytes:
    """Quiet 16-bit audio: a random low byte, a high byte that is only the sign (about 55% after deflate)."""
    half = size // 2
    low = rng.randbytes(half)
    high = rng.randbytes(half).translate(bytes([0] * 128 + [255] * 128))
    out = bytearray(2 * half)
    out[0::2], out[1::2] = low, high
    return bytes(out)


def _random(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _binary(rng: random.Random, size: int) -> bytes:
    """Code-like bytes: a repeated 4 KiB template with every 5th byte random (about 45% after deflate)."""
    data = bytearray((rng.randbytes(4096) * (size // 4096 + 1))[:size])
    data[::5] = rng.randbytes(len(range(0, size, 5)))
    return bytes(data)


def build_tree(dest: Path, size_mib: int) -> None:
    rng = random.Random(SEED)
    total = size_mib << 20
    large = {  # 55% of the tree in four large files
        "share/audiolab-gain/samples/impulses.wav": (_pcm, 0.20),
        "share/audiolab-gain/resources.pak": (_random, 0.20),
        "lib/vst3/AudioLabGain.vst3/Contents/x86_64-linux/AudioLabGain.so": (_binary, 0.10),
        "bin/audiolab-gain": (_binary, 0.05),
    }
    for name, (make, share) in large.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make(rng, int(total * share)))
    (dest / "bin/audiolab-gain").chmod(0o755)
    left, i = total - sum(int(total * s) for _, s in large.values()), 0
    text = _text(rng, 8 << 20)
    while left > 0:  # 45% in small files: presets, docs, thumbnails; 4 KiB..200 KiB
        n = min(left, int(rng.lognormvariate(10.5, 1.0)) % (200 << 10) + 200)
        kind = rng.random()
        if kind < 0.5:
            start = rng.randrange(len(text) - n)
            name, data = f"share/audiolab-gain/presets/{i // 500:02d}/preset-{i:05d}.json", text[start:start + n]
        elif kind < 0.8:
            name, data = f"share/audiolab-gain/thumbnails/{i // 500:02d}/thumb-{i:05d}.png", rng.randbytes(n)
        else:
            name, data = f"share/doc/audiolab-gain/manual/page-{i:05d}.txt", _binary(rng, n)
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        left -= n
        i += 1
    (dest / ".files").write_text(str(i))


def cached_tree(size_mib: int) -> Path:
    """The staging tree of `size_mib` MiB, built once under bench/.cache/."""
    root = CACHE / f"package-tree-{size_mib}M"
    tree = root / "stage"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        tree.mkdir(parents=True)
        print(f"building a {size_mib} MiB staging tree in {tree} (once) ...", file=sys.stderr)
        build_tree(tree, size_mib)
        (tree / ".files").rename(root / "small-files")
        (root / ".complete").touch()
    return tree


def _project(root: Path) -> tuple[Path, Path]:
    """A source folder with a releng.toml accepting the tree, a version document, and a throwaway key."""
    src = root / "project"
    src.mkdir(exist_ok=True)
    (src / "releng.toml").write_text('[project]\nname = "audiolab-gain"\n\n[packaging]\ncontents = "contents.toml"\n'
                                     "version_command = []  # the tree's binaries are made-up bytes\n")
    (src / "contents.toml").write_text('[all]\nrequired = ["bin/audiolab-gain"]\noptional = ["**"]\n')
    (src / "CMakeLists.txt").write_text("project(AudioLabGain VERSION 1.0.0 LANGUAGES CXX)\n")
    key = src / "release.pem"
    if not key.exists():
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True)
    return src, key


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads and children) of one run; raises if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="staging tree size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs per row (median)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker threads for ours")
    parser.add_argument("--only", action="append", help="run only rows whose label contains this")
    args = parser.parse_args()
    tree = cached_tree(args.size)
    count = (tree.parent / "small-files").read_text()
    work = Path(tempfile.mkdtemp(prefix="bench-package-", dir=CACHE))
    try:
        src, key = _project(work)
        out = work / "out"
        tar = ("tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "
               f"{tree.parent} -cf - {tree.name}")
        rows: list[tuple[str, list[str], Path]] = [
            ("tar | gzip -n -6 && sha256sum  (baseline)",
             ["bash", "-o", "pipefail", "-c", f"{tar} | gzip -n -6 > {work}/x.tar.gz && sha256sum {work}/x.tar.gz"],
             work / "x.tar.gz")]
        if shutil.which("pigz"):
            rows.append(("tar | pigz -n -6 && sha256sum", ["bash", "-o", "pipefail", "-c",
                         f"{tar} | pigz -n -6 > {work}/p.tar.gz && sha256sum {work}/p.tar.gz"], work / "p.tar.gz"))
        exe = str(VENV_PYTHON.parent / "build-package")
        for fmt in ("tar.gz", "tar.zst", "zip"):
            rows.append((f"build-package --format {fmt}  (ours, {args.jobs} jobs)",
                         [exe, "--source", str(src), "--staging", str(tree), "--platform", "linux", "--arch",
                          "x86_64", "--format", fmt, "--out", str(out), "--signing-key", str(key), "--jobs",
                          str(args.jobs), "-q"], out / f"audiolab-gain-1.0.0-linux-x86_64.{fmt}"))
        if shutil.which("zstd"):
            rows.append(("tar | zstd -T0 -10 && sha256sum", ["bash", "-o", "pipefail", "-c",
                         f"{tar} | zstd -q -T0 -10 > {work}/z.tar.zst && sha256sum {work}/z.tar.zst"],
                         work / "z.tar.zst"))
        if args.only:
            rows = [r for r in rows if any(o in r[0] for o in args.only) or r is rows[0]]
        subprocess.run(["bash", "-c", f"{tar} > /dev/null"], check=True)  # page cache warm for every row
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", NO_COLOR="1")
        walls: dict[str, list[float]] = {label: [] for label, _, _ in rows}
        cpus: dict[str, list[float]] = {label: [] for label, _, _ in rows}
        load = os.getloadavg()[0]
        for _ in range(args.runs):  # rows interleaved, so a burst of load from elsewhere hits all of them
            for label, argv, _ in rows:
                wall, cpu = _time(argv, env)
                walls[label].append(wall)
                cpus[label].append(cpu)
        print(f"\nPackaging + sha256 of a {args.size} MiB staging tree ({count} small files), "
              f"{os.cpu_count()} cores, median of {args.runs} interleaved runs (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after: other work shares the cores):")
        print(f"  {'':<48} {'wall':>9}  {'ratio':>5}  {'CPU':>8}  {'ratio':>5}  output")
        base_wall, base_cpu = statistics.median(walls[rows[0][0]]), statistics.median(cpus[rows[0][0]])
        for label, _, output in rows:
            wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
            size = output.stat().st_size if output.exists() else 0
            print(f"  {label:<48} {wall:8.2f}s  {wall / base_wall:4.2f}x  {cpu:7.2f}s  {cpu / base_cpu:4.2f}x  "
                  f"{size / (args.size << 20):6.1%} of input", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
