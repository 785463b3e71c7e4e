"""Reproducible POSIX pax tar streams, gzipped in parallel blocks or zstd-compressed on every core.

The rules of reproducible-builds.org/docs/archives: every mtime = SOURCE_DATE_EPOCH, uid/gid 0 with empty user and
group names, the entries' normalised modes and order (releng.packaging.archive.entries), no gzip name or timestamp,
the stream padded to a whole 10 KiB record as GNU tar does.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from typing import IO, Any, cast

from releng.packaging.archive import output
from releng.packaging.archive.entries import Entry, read_chunks
from releng.progress import Progress


def write_tar(entries: Iterable[Entry], out: Any, mtime: int,
              progress: Progress | None = None) -> None:
    """A POSIX.1-2001 (pax) tar stream of `entries` to `out.write`, normalised for reproducibility."""
    written = 0
    for e in entries:
        info = tarfile.TarInfo(e.name)
        info.mtime, info.mode = mtime, e.mode
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if e.kind == "dir":
            info.type = tarfile.DIRTYPE
        elif e.kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, e.target
        else:
            info.size = e.size
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out.write(header)
        written += len(header)
        if e.is_file:
            for data in read_chunks(e):
                out.write(data)
                if progress is not None:
                    progress.add(len(data))
            padded = -e.size % tarfile.BLOCKSIZE
            out.write(bytes(padded))
            written += e.size + padded
    # Two zero blocks end the archive; GNU tar and tarfile then pad it to a whole 10 KiB record.
    written += 2 * tarfile.BLOCKSIZE
    out.write(bytes(2 * tarfile.BLOCKSIZE + (-written % tarfile.RECORDSIZE)))


def tar_gz(entries: list[Entry], out: output.HashingFile, mtime: int, level: int, jobs: int,
           progress: Progress | None) -> None:
    """A tar.gz: the tar stream deflated in parallel blocks (pigz's scheme), with a fixed gzip header."""
    out.write(output.gzip_header(level))
    with output.OrderedPool(jobs) as pool:
        stream = output.DeflateStream(pool, level, out.write)
        write_tar(entries, stream, mtime, progress)
        stream.finish()
        pool.drain()
    out.write(output.gzip_trailer(stream.crc, stream.size))


def tar_zst(entries: list[Entry], out: output.HashingFile, mtime: int, level: int, jobs: int,
            progress: Progress | None) -> None:
    """A tar.zst: the tar stream through zstd's multi-threaded compressor, with a content checksum."""
    import zstandard

    # threads >= 1 always: zstd's multi-threaded mode gives the same bytes for any number of workers, while its
    # single-threaded mode (threads=0) would give other bytes.
    cctx = zstandard.ZstdCompressor(level=level, threads=max(1, jobs), write_checksum=True)
    writer = cctx.stream_writer(cast(IO[bytes], out), closefd=False, write_size=output.BLOCK)
    write_tar(entries, writer, mtime, progress)
    writer.close()  # type: ignore[no-untyped-call]
