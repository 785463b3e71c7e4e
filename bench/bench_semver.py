"""`semver-tool valid 1.2.3` against the interpreter's own start-up (`python -c pass`).

Target: within 1.5x of the floor; both entry forms. Run: `.venv/bin/python bench/bench_semver.py [--runs N]`.
"""

from __future__ import annotations

import argparse

from peers import ROOT, VENV_PYTHON, report, time_command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    py = str(VENV_PYTHON)
    rows = [
        ("floor: python -c pass", time_command([py, "-c", "pass"], runs=args.runs, warmup=5)),
        ("python versioning/semver_tool.py valid 1.2.3",
         time_command([py, str(ROOT / "versioning/semver_tool.py"), "valid", "1.2.3"], runs=args.runs, warmup=5)),
        ("semver-tool valid 1.2.3 (console script)",
         time_command([str(VENV_PYTHON.parent / "semver-tool"), "valid", "1.2.3"], runs=args.runs, warmup=5)),
        ("semver-tool compare 1.0.0-rc.1 1.0.0 (argparse path)",
         time_command([str(VENV_PYTHON.parent / "semver-tool"), "compare", "1.0.0-rc.1", "1.0.0"], runs=args.runs,
                      warmup=5)),
    ]
    report("semver-tool start-up", rows, "floor: python -c pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
