"""Shared command-line conventions: common flags, exit codes, one-line errors, output of documents.

Exit codes (DESIGN.md): 0 done, 1 a negative answer, 2 bad usage or input, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from releng.errors import RelengError

OK, NEGATIVE, BAD_INPUT, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 130


def parser(doc: str | None, prog: str, *, common: bool = True) -> argparse.ArgumentParser:
    """An ArgumentParser whose description is the script's docstring, with the shared flags."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if common:
        g = p.add_argument_group("common options")
        g.add_argument("--json", action="store_true", help="print the result document on stdout")
        g.add_argument("--out", metavar="FILE", help="write the result document to FILE ('-' = stdout)")
        g.add_argument("--dry-run", action="store_true", help="change nothing; print what would change")
        g.add_argument("--repo", metavar="PATH", help="repository (default: git top-level of the cwd)")
        g.add_argument("--config", metavar="FILE", help="config file (default: releng.toml, pyproject)")
    p.add_argument("-q", "--quiet", action="count", default=0, help="say less")
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    return p


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, no_gc: bool = False) -> int:
    """Call `func(args)`, turning expected errors into one line on stderr and an exit code.

    `no_gc` pauses the cyclic garbage collector for the call: a short run that builds and drops a million
    objects (a changelog of 100,000 commits) spends 10-20% of its time in collection passes that free nothing.
    """
    import gc

    if no_gc:
        gc.disable()
    try:
        return func(args)
    except RelengError as e:
        if getattr(args, "debug", False):
            raise
        error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): not our failure. Silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into exit 3
        if getattr(args, "debug", False):
            raise
        error(f"internal: {type(e).__name__}: {e} (rerun with --debug)")
        return INTERNAL
    finally:
        if no_gc:
            gc.enable()


def error(message: str) -> None:
    sys.stderr.write(f"error: {_one_line(message)}\n")


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {_one_line(message)}\n")


def info(args: argparse.Namespace, message: str, *, level: int = 0) -> None:
    """Human progress on stderr; `level` 1 shows only with -v, -1 still shows with -q."""
    verbosity = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
    if verbosity >= level:
        sys.stderr.write(message + "\n")


def color(stream: TextIO) -> bool:
    """Colour only on a terminal and only when NO_COLOR is unset (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def emit(args: argparse.Namespace, name: str, body: Mapping[str, Any]) -> str | None:
    """Honour --json and --out for a result document: both get exactly the same bytes."""
    from releng import documents

    out = getattr(args, "out", None)
    if not out and not getattr(args, "json", False):
        return None
    text = documents.dumps(name, body)
    if out and out != "-":
        documents.write_text_atomic(out, text)
    if getattr(args, "json", False) or out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    return text


def _one_line(message: str) -> str:
    return " ".join(message.split())
