"""Shared command-line conventions: the option groups, exit codes, one-line errors, output of results.

Exit codes (DESIGN.md): 0 done, 1 a negative answer, 2 bad usage or input, 3 internal error, 130 interrupted.

One vocabulary, defined here once (docs/conventions.md has the table of which command has which group):
`parser()` gives every command `-q`/`-v`/`--debug`; a command then adds only the groups it uses, so no flag is
accepted and ignored: `add_output` (`--json`, `--out FILE`), `add_dry_run` (`--dry-run`), `add_repository`
(`--repo PATH`, `--config FILE` = releng.toml / `[tool.releng]`) and `add_servers` (`--servers FILE` = the
update-server JSON). `emit` writes a `releng/<name>` document for --json/--out, `emit_json` a plain JSON object.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from releng.errors import RelengError

OK, NEGATIVE, BAD_INPUT, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 130


def parser(doc: str | None, prog: str) -> argparse.ArgumentParser:
    """An ArgumentParser whose description is the script's docstring, with -q, -v and --debug (every command)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-q", "--quiet", action="count", default=0, help="say less")
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (the exit code stays the same)")
    return p


def add_output(p: argparse.ArgumentParser, what: str = "the result document", *,
               out: bool = True) -> argparse._ArgumentGroup:
    """--json (print `what` on stdout) and --out FILE (write it; '-' = stdout), for `emit` or `emit_json`.

    `out=False` for the few commands whose result is only ever printed (their --json predates --out)."""
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help=f"print {what} on stdout")
    if out:
        g.add_argument("--out", metavar="FILE", help=f"write {what} to FILE ('-' = stdout)")
    return g


def add_dry_run(p: argparse.ArgumentParser) -> None:
    """--dry-run, for commands that change something (files, tags, servers)."""
    p.add_argument("--dry-run", action="store_true", help="change nothing; print what would change")


def add_repository(p: argparse.ArgumentParser, *, repo: bool = True) -> argparse._ArgumentGroup:
    """--repo PATH and --config FILE (the releng config: never the update-server JSON, which is --servers).

    `repo=False` for a command that names its repository with a flag of its own (build-package --source)."""
    g = p.add_argument_group("repository")
    if repo:
        g.add_argument("--repo", metavar="PATH", help="the repository (default: the git top level of the cwd)")
    g.add_argument("--config", metavar="FILE", help="releng config (default: releng.toml at the repository root, "
                   "else [tool.releng] in its pyproject.toml)")
    return g


def add_servers(p: argparse.ArgumentParser, *, default: str | os.PathLike[str] | None = None,
                required: bool | None = None) -> argparse._ArgumentGroup:
    """--servers FILE: the update servers' JSON config (distribution/update_server_config.json's shape).

    Required unless a `default` is given (or `required=False`: a command that also works without servers)."""
    required = default is None if required is None else required
    if required and default is not None:
        raise ValueError("a required --servers has no default")
    if default is not None:
        folder, name = os.path.split(os.fspath(default))
        what = f"JSON (default: the shipped {os.path.basename(folder)}/{name})"
    else:
        what = f"JSON like distribution/update_server_config.json ({'required' if required else 'optional'})"
    g = p.add_argument_group("update servers")
    g.add_argument("--servers", metavar="FILE", required=required, default=None if default is None else str(default),
                   help=f"the update servers' config, {what}")
    return g


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, no_gc: bool = False) -> int:
    """Call `func(args)`, turning expected errors into one line on stderr and an exit code.

    `no_gc` pauses the cyclic garbage collector for the call: a short run that builds and drops a million
    objects (a changelog of 100,000 commits) spends 10-20% of its time in collection passes that free nothing.
    `--debug` prints the traceback before the error line and keeps the exit code: re-raising would turn a refusal
    (2) into Python's 1, which check-update defines as "no update" (issue 12).
    """
    import gc

    if no_gc:
        gc.disable()
    try:
        return func(args)
    except RelengError as e:
        _traceback(args)
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
        _traceback(args)
        error(f"internal: {type(e).__name__}: {e} (rerun with --debug)")
        return INTERNAL
    finally:
        if no_gc:
            gc.enable()


def _traceback(args: argparse.Namespace) -> None:
    """With --debug, the traceback of the exception being handled, on stderr."""
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exc(file=sys.stderr)


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
    """Honour --json and --out for a `releng/<name>` result document: both get exactly the same bytes."""
    from releng import documents

    if not _wanted(args):
        return None
    return _write(args, documents.dumps(name, body))


def emit_json(args: argparse.Namespace, body: Mapping[str, Any], *, indent: int | None = 2) -> str | None:
    """Honour --json and --out for a plain JSON object (a summary that is no `releng/` document), keys sorted.

    `indent=None` gives one line per result, for a command that prints one per check (watch-health)."""
    import json

    if not _wanted(args):
        return None
    return _write(args, json.dumps(body, indent=indent, sort_keys=True) + "\n")


def _wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "out", None) or getattr(args, "json", False))


def _write(args: argparse.Namespace, text: str) -> str:
    """The same bytes to --out FILE (atomically; '-' = stdout) and to stdout for --json."""
    from releng import documents

    out = getattr(args, "out", None)
    if out and out != "-":
        documents.write_text_atomic(out, text)
    if getattr(args, "json", False) or out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    return text


def _one_line(message: str) -> str:
    return " ".join(message.split())
