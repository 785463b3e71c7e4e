"""The release chain, installed: runs the scripts/release.sh bundled with this releng (in the wheel at
releng/_scripts/release.sh) with the arguments given, so that a plugin's repository needs no copy of it (issue 13).
Every option is release.sh's own; `releng-release --help` prints them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from releng import cli

HERE = Path(__file__).resolve().parent
CANDIDATES = (HERE.parent / "release.sh", HERE.parent / "scripts" / "release.sh")  # a wheel, a checkout


def script() -> Path:
    """The bundled release.sh; BadInput (exit 2) when this installation has none."""
    from releng.errors import BadInput

    found = next((p for p in CANDIDATES if p.is_file()), None)
    if found is None:
        raise BadInput("release.sh is not bundled with this releng (reinstall it)", str(HERE.parent))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = cli.parser(__doc__, prog="releng-release")
    if argv[:1] in (["-h"], ["--help"]):
        parser.description = f"{__doc__}\n{_usage()}"
        return cli.run(lambda _args: cli.OK, parser.parse_args(["--help"]))
    args = parser.parse_args([])  # every argument is release.sh's
    return cli.run(lambda _args: _exec(argv), args)


def _usage() -> str:
    """release.sh's own usage text (its options), from the script's usage() here-document."""
    text = script().read_text(encoding="utf-8")
    start = text.find("usage: scripts/release.sh")
    end = text.find("\nEOF", start)
    return text[start:end].replace("usage: scripts/release.sh", "release.sh (releng-release)", 1) if start >= 0 else ""


def _exec(argv: list[str]) -> int:
    bash = shutil.which("bash")
    if bash is None:
        from releng.errors import ExternalError

        raise ExternalError("bash not found: releng-release runs release.sh with it")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(bash, [bash, str(script()), *argv])  # the script's own exit status, output and signals
    return cli.INTERNAL  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
