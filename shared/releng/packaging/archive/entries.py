"""Archive members and the staging-tree scan that makes them: what every archive writer (tar, zip) and installer
reads, and where the tree's safety rules live.

A tree holding what an archive must never carry is refused with BadInput (exit 2): an absolute name or `..`, a
symlink whose target leaves the tree, a device file, FIFO or socket, a name that is not UTF-8. The scan is in
name order (each folder's entries sorted by their UTF-8 bytes, like `tar --sort=name`) and modes are normalised
(0755 for folders and executables, 0644 otherwise, 0777 for symlinks), so the same tree gives the same members
whoever builds it. Hard links are plain files here.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from releng.errors import BadInput
from releng.packaging.archive import output

_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


@dataclass(frozen=True)
class Entry:
    """One archive member. `name` is a POSIX path without leading `/`; folders have no trailing `/`."""

    name: str
    kind: str  # "dir", "file" or "symlink"
    mode: int = 0o644  # permission bits, already normalised
    size: int = 0
    source: Path | None = None  # where a file's bytes are read from
    data: bytes | None = None  # a generated file's bytes (then `source` is None)
    target: str = ""  # a symlink's target

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def check_name(name: str, where: str | None = None) -> str:
    """`name` if it is a safe relative POSIX path inside an archive; BadInput otherwise."""
    where = where or name
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":") or name.startswith("\\"):
        raise BadInput(f"absolute or empty path {name!r} cannot go into an archive", where)
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"path {name!r} has an empty, '.' or '..' component", where)
    if any(c in name for c in "\0\\") or any(ord(c) < 32 for c in name):
        raise BadInput(f"path {name!r} holds a NUL, backslash or control character", where)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("file name is not valid UTF-8", where) from None
    return name


def check_symlink(name: str, target: str, where: str) -> None:
    """Refuse a symlink whose target is absolute or resolves outside the tree (`name` is relative to its root)."""
    if not target or target.startswith("/") or "\\" in target:
        raise BadInput(f"symlink {name} -> {target} leaves the staging tree (absolute target)", where)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise BadInput(f"symlink {name} -> {target} leaves the staging tree", where)


def normal_mode(st_mode: int) -> int:
    if stat.S_ISDIR(st_mode) or st_mode & 0o111:
        return 0o755
    return 0o644


def scan(root: Path) -> list[Entry]:
    """Every folder, file and symlink under `root` (not `root` itself), in archive order; refuses unsafe ones."""
    if not root.is_dir():
        raise BadInput("staging tree not found (not a folder)", str(root))
    real_root = os.path.realpath(root)
    return list(_walk(root, "", real_root))


def _walk(root: Path, rel: str, real_root: str) -> Iterator[Entry]:
    folder = root / rel if rel else root
    with os.scandir(folder) as it:
        items = sorted(it, key=lambda d: d.name.encode("utf-8", "surrogateescape"))
    for item in items:
        name = f"{rel}/{item.name}" if rel else item.name
        where = str(root / name)
        check_name(name, where)
        st = item.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(item.path)
            check_symlink(name, target, where)
            real = os.path.realpath(item.path)
            if real != real_root and not real.startswith(real_root + os.sep):
                raise BadInput(f"symlink {name} -> {target} resolves outside the staging tree", where)
            yield Entry(name, "symlink", 0o777, target=target)
        elif stat.S_ISDIR(st.st_mode):
            yield Entry(name, "dir", 0o755)
            yield from _walk(root, name, real_root)
        elif stat.S_ISREG(st.st_mode):
            yield Entry(name, "file", normal_mode(st.st_mode), st.st_size, source=Path(item.path))
        else:
            what = next((w for test, w in _SPECIAL if test(st.st_mode)), "a special file")
            raise BadInput(f"{name} is {what}: archives hold only files, folders and symlinks", where)


def generated(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(check_name(name), "file", mode, len(data), data=data)


def under(prefix: str, entries: Iterable[Entry]) -> list[Entry]:
    """The entries moved below a top-level folder `prefix` (with an entry for the folder itself)."""
    if not prefix:
        return list(entries)
    check_name(prefix)
    moved = [Entry(f"{prefix}/{e.name}", e.kind, e.mode, e.size, e.source, e.data, e.target) for e in entries]
    return [Entry(prefix, "dir", 0o755), *moved]


def sort_entries(entries: Iterable[Entry]) -> list[Entry]:
    """Archive order for a merged list: each folder's members by name, a folder before its contents."""
    return sorted(entries, key=lambda e: [p.encode("utf-8") for p in e.name.split("/")])


def read_chunks(entry: Entry, chunk: int = output.BLOCK) -> Iterator[bytes]:
    """A file entry's bytes; BadInput if the file changed size while it was being archived."""
    if entry.data is not None:
        yield entry.data
        return
    assert entry.source is not None
    left = entry.size
    try:
        with entry.source.open("rb", buffering=0) as f:
            while left:
                data = f.read(min(chunk, left))
                if not data:
                    break
                left -= len(data)
                yield data
            grew = bool(f.read(1))
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror}", str(entry.source)) from None
    if left or grew:
        raise BadInput("file changed while it was being archived", str(entry.source))


def total_size(entries: Iterable[Entry]) -> int:
    return sum(e.size for e in entries if e.is_file)
