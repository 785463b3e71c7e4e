"""Reproducible archives of a staging tree: which formats exist, their default levels, and `write`, which picks the
writer (releng.packaging.archive.tar for tar.gz and tar.zst, releng.packaging.archive.zip) and writes atomically.

The rules of reproducible-builds.org/docs/archives, so the same tree gives the same bytes whoever builds it, where and
when: the members come from releng.packaging.archive.entries (name order, normalised modes, unsafe trees refused);
each writer fixes every timestamp, owner and header field. This module sits above the writers and the entry model:
it imports them, none of them imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from releng.errors import BadInput
from releng.packaging.archive import output
from releng.packaging.archive.entries import Entry
from releng.packaging.archive.tar import tar_gz, tar_zst
from releng.packaging.archive.zip import write_zip
from releng.progress import Progress

FORMATS = ("tar.gz", "tar.zst", "zip")
DEFAULT_LEVELS = {"tar.gz": 6, "tar.zst": 10, "zip": 6}

# (entries, out, mtime, level, jobs, progress)
Writer = Callable[[list[Entry], output.HashingFile, int, int, int, Progress | None], None]
WRITERS: dict[str, Writer] = {"tar.gz": tar_gz, "tar.zst": tar_zst, "zip": write_zip}


def write(fmt: str, entries: list[Entry], target: Path, *, mtime: int, jobs: int | None = None,
          level: int | None = None, progress: Progress | None = None) -> tuple[int, str]:
    """Write an archive atomically (temp file, then rename); return its size and sha256, hashed while written."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown archive format {fmt!r} (one of {', '.join(FORMATS)})")
    jobs = jobs or os.cpu_count() or 1
    with output.atomic_output(target) as out:
        WRITERS[fmt](entries, out, mtime, DEFAULT_LEVELS[fmt] if level is None else level, jobs, progress)
    return out.size, out.hexdigest()
