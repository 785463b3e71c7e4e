"""JSON documents between scripts: `schema`/`schema_version` stamps, atomic writes, strict cheap reads.

Every document is `{"schema": "releng/<name>", "schema_version": N, ...}`. Readers refuse another name, a newer
version, or malformed JSON (exit 2); older versions are upgraded by `_UPGRADES` so code sees one shape only.
Full JSON Schema validation (shared/releng/schemas/) runs in tests and in validate-release, not here: importing
jsonschema alone would cost more than most commands take (bench/README.md). `load_json` reads the other JSON files
(the update-server config, telemetry snapshots) with a size cap and one-line errors; `parse_json` is the one JSON
parse every reader of outside bytes goes through, so that nesting `[` 30,000 deep (RecursionError), a 5,000-digit
number or bytes that are not UTF-8 are bad input (exit 2) everywhere, never an internal error.

Writers never replace what is not a regular file: `--out /dev/null` run as root once replaced /dev/null with a
file (issue 12). A character device or FIFO is written in place; a folder, block device or socket is refused.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from releng import files
from releng.errors import BadInput

# The newest schema_version of each document this code writes.
SCHEMA_VERSIONS: dict[str, int] = {
    "version": 1,
    "changes": 1,
    "artifacts": 1,
    "validation": 1,
    "publish": 1,
    "channel-manifest": 1,
    "rollback": 1,
    "metrics": 1,
    "compatibility": 1,
}
JSON_CAP = 16 << 20  # inputs are read with a size cap (DESIGN.md): no config or snapshot comes near 16 MiB
# name -> {old version: function turning it into version old+1}
_UPGRADES: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}


def dumps(name: str, body: Mapping[str, Any]) -> str:
    """The document's canonical text: stamped, one top-level key a line, one list item a line, UTF-8 kept.

    Not `json.dumps(indent=2)`: with an indent, json falls back to its pure-Python encoder, slow for the commits
    of a big release (bench/README.md); this layout uses the C encoder for each value and still diffs line by line.
    """
    return "".join(_pieces(name, body))


def _pieces(name: str, body: Mapping[str, Any]) -> Iterator[str]:
    """`dumps`' text in pieces, a list item each: written as they come, a 13 MB document is never whole in memory."""
    doc = {"schema": f"releng/{name}", "schema_version": SCHEMA_VERSIONS[name]}
    doc.update({k: v for k, v in body.items() if k not in ("schema", "schema_version")})
    yield "{\n"
    for n, (key, value) in enumerate(doc.items()):
        yield (",\n  " if n else "  ") + _compact(key) + ": "
        if isinstance(value, list) and value:
            yield "[\n"
            for i, item in enumerate(value):
                yield (",\n    " if i else "    ") + _compact(item)
            yield "\n  ]"
        else:
            yield _compact(value)
    yield "\n}\n"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class Pending:
    """A document being encoded, by a forked child (`dumps_in_child`) or, failing that, here: `write_to` copies its
    UTF-8 bytes to a file in pieces, so neither process holds the whole text (13 MB for 100,000 commits)."""

    def __init__(self, name: str, body: Mapping[str, Any], pid: int | None = None,
                 out: BinaryIO | None = None) -> None:
        self.name, self.body, self._pid, self._out = name, body, pid, out
        self._written = False  # by the child, whole

    def _reap(self) -> None:
        """Wait for the child once; what it wrote counts only if it exited 0."""
        if self._pid is not None:
            _, status = os.waitpid(self._pid, 0)
            self._pid, self._written = None, os.waitstatus_to_exitcode(status) == 0

    def write_to(self, f: BinaryIO) -> None:
        self._reap()
        if self._written and self._out is not None:
            self._out.seek(0)
            while chunk := self._out.read(1 << 20):
                f.write(chunk)
            return
        for piece in _pieces(self.name, self.body):
            f.write(piece.encode("utf-8"))

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Reap the child and drop its file (also when the text was never asked for)."""
        try:
            self._reap()
        finally:
            if self._out is not None:
                self._out.close()


def dumps_in_child(name: str, body: Mapping[str, Any], fork: bool = True) -> Pending:
    """`dumps` run by a forked child (if `fork`), beside the caller's own work; the result writes or gives the text.

    For big documents: encoding holds the GIL (a thread would not help), and for the changes document of 100,000
    commits it is long enough (bench/README.md) to be worth giving to the other core while the caller renders
    something else. `body` must not change until the text is taken. The child shares the caller's memory
    copy-on-write, writes the UTF-8 text piece by piece into an unnamed temporary file and leaves with os._exit (no
    atexit handler or buffered output runs twice). Without fork, or if the child fails, the text is made in this
    process instead.
    """
    if not fork or not hasattr(os, "fork"):
        return Pending(name, body)
    import tempfile

    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Pending.close, after the child has written it
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            for piece in _pieces(name, body):
                out.write(piece.encode("utf-8"))
            out.flush()
            code = 0
        finally:
            os._exit(code)
    return Pending(name, body, pid, out)


def write(path: Path | str, name: str, body: Mapping[str, Any]) -> str:
    """Write a stamped document atomically and return its text."""
    text = dumps(name, body)
    write_text_atomic(path, text)
    return text


def read(path: Path | str, name: str, cap: int = JSON_CAP) -> dict[str, Any]:
    """Read a document from a regular file or `-` (stdin), at most `cap` bytes, and check its stamp; BadInput on
    anything wrong."""
    where = str(path)
    return loads(files.read_capped(path, cap, f"{name} document", stdin=True), name, where)


def parse_json(data: bytes | str, where: str, what: str | None = None) -> Any:
    """JSON from outside (a file, a server, a pipe); BadInput in one line for anything json.loads would raise.

    "[corrupt <what>: ]malformed JSON: <msg> at line L column C", "...: nested too deeply" (RecursionError: the C
    parser recurses once per level), "...: not UTF-8". ValueError covers the rest (a number over Python's
    4,300-digit limit). The caller checks the shape.
    """
    head = f"corrupt {what}: " if what else ""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return json.loads(text)
    except UnicodeDecodeError:
        raise BadInput(f"{head}not UTF-8", where) from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{head}malformed JSON: {e.msg} at line {e.lineno} column {e.colno}", where) from None
    except RecursionError:
        raise BadInput(f"{head}malformed JSON: nested too deeply", where) from None
    except ValueError as e:
        raise BadInput(f"{head}malformed JSON: {e}", where) from None


def loads(text: str | bytes, name: str, where: str = "<string>") -> dict[str, Any]:
    doc = parse_json(text, where)
    if not isinstance(doc, dict):
        raise BadInput(f"a releng/{name} document must be a JSON object", where)
    if doc.get("schema") != f"releng/{name}":
        raise BadInput(f"expected a releng/{name} document, found schema {doc.get('schema')!r}", where)
    version = doc.get("schema_version")
    newest = SCHEMA_VERSIONS[name]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadInput(f"schema_version must be a positive integer, found {version!r}", where)
    if version > newest:
        raise BadInput(f"releng/{name} schema_version {version} is newer than this tool's {newest}", where)
    while version < newest:
        upgrade = _UPGRADES.get(name, {}).get(version)
        if upgrade is None:
            raise BadInput(f"releng/{name} schema_version {version} is too old (need {newest})", where)
        doc = upgrade(doc)
        version += 1
        doc["schema_version"] = version
    result: dict[str, Any] = doc
    return result


def load_json(path: Path | str, what: str, cap: int = JSON_CAP) -> Any:
    """A whole JSON file that is not a releng document (a config, a telemetry snapshot), read with a size cap.

    BadInput in one line naming `what` and the path: "no such <what>", "cannot read <what>: ...", "<what> is larger
    than N bytes", "corrupt <what>: malformed JSON at line L column C". The caller checks the shape.
    """
    where = str(path)
    return parse_json(files.read_capped(path, cap, what), where, what)


def write_text_atomic(path: Path | str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path | str, data: bytes, mode: int | None = None) -> None:
    """Write to a temp file in the same folder, fsync, rename over `path`: readers never see half a file.

    Keeps the mode of a file it replaces (or uses `mode`), so rewriting a version file doesn't change its permissions.
    """
    with atomic_writer(path, mode) as f:
        f.write(data)


@contextmanager
def atomic_writer(path: Path | str, mode: int | None = None, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file that becomes `path` (fsynced, then renamed over it) only if the `with` block ends normally.

    For content streamed in pieces (a download checked against its signed hash before it may exist): raise inside
    the block and the temp file (`.<name>.<pid>.<random><suffix>`) is removed, leaving `path` as it was. Mode as
    for write_bytes_atomic.

    A target that exists and is a character device or a FIFO (`/dev/null`, `>(cat)`) is written in place, never
    replaced by the rename; a folder, block device or socket is refused (BadInput), left as it was.
    """
    target = Path(path)
    special = _open_special(target)
    if special is not None:
        with special as f:
            yield f
        return
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    # Not tempfile.mkstemp: importing tempfile costs more than this (O_EXCL gives the same safety).
    tmp = folder / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}{suffix}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _open_special(target: Path) -> BinaryIO | None:
    """The target opened for writing in place when it is a character device or FIFO; None for a regular file (or
    none yet, or a dangling link): those get the temp file and the rename. The type is checked again on the open
    descriptor, so a regular file put there meanwhile still gets the atomic write."""
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise BadInput(f"cannot write: {e.strerror or e}", str(target)) from None
    if stat.S_ISREG(mode):
        return None
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        raise BadInput(f"cannot write to {files.file_kind(mode)}", str(target))
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise BadInput(f"cannot write: {e.strerror or e}", str(target)) from None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "wb")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
