"""Reproducible zip files, deflated on every core and hashed while written (PKWARE APPNOTE 6.3.10).

Not `zipfile`: it compresses one file at a time on one core and seeks back to patch each header. Here each file's
deflate stream is cut into independent blocks compressed on the thread pool (releng.packaging.archive.output),
and each entry's CRC and sizes follow its data in a data descriptor (general purpose flag bit 3), so the file is
written front to back exactly once. Fixed fields make the bytes reproducible: the DOS time of SOURCE_DATE_EPOCH in
UTC (clamped to 1980..2107), "made by" Unix 2.0 with the normalised mode as external attributes, no extra fields
except Zip64 ones where a size or offset needs them, no comment. Symlinks are stored entries whose data is the
target (Info-ZIP's convention), so macOS bundles keep theirs.
"""

from __future__ import annotations

import stat
import struct
import time
from dataclasses import dataclass
from functools import partial

from releng.packaging.archive import output
from releng.packaging.archive.entries import Entry, read_chunks
from releng.progress import Progress

_LOCAL, _DESCRIPTOR, _CENTRAL = 0x04034B50, 0x08074B50, 0x02014B50
_END64, _LOCATOR64, _END = 0x06064B50, 0x07064B50, 0x06054B50
_MAX32 = 0xFFFFFFFF
_ZIP64_FROM = 0xFF000000  # a file this big might not fit 32 bits once deflated (stored blocks add 5 bytes per 64 KiB)
_UTF8, _DESCRIBED = 0x0800, 0x0008
_DOS_MIN, _DOS_MAX = 315532800, 4354819198  # 1980-01-01 and 2107-12-31 23:59:58 UTC


@dataclass
class _Record:
    name: bytes
    flags: int
    method: int
    mode: int  # st_mode with file type bits
    usize: int
    zip64: bool
    crc: int = 0
    csize: int = 0
    offset: int = 0


def dos_datetime(epoch: int) -> tuple[int, int]:
    """(time, date) DOS fields of a Unix time, in UTC so the time zone of the build never shows."""
    t = time.gmtime(min(max(epoch, _DOS_MIN), _DOS_MAX))
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return dos_time, ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


def write_zip(entries: list[Entry], out: output.HashingFile, mtime: int, level: int, jobs: int,
              progress: Progress | None = None) -> None:
    dos_time, dos_date = dos_datetime(mtime)
    records: list[_Record] = []
    with output.OrderedPool(jobs) as pool:
        for e in entries:
            name = (e.name + "/" if e.kind == "dir" else e.name).encode("utf-8")
            flags = 0 if name.isascii() else _UTF8
            if e.kind == "file":
                rec = _Record(name, flags | _DESCRIBED, 8, stat.S_IFREG | e.mode, e.size, e.size >= _ZIP64_FROM)
            else:
                data = e.target.encode("utf-8") if e.kind == "symlink" else b""
                kind = stat.S_IFLNK if e.kind == "symlink" else stat.S_IFDIR
                rec = _Record(name, flags, 0, kind | e.mode, len(data), False, _crc(data), len(data))
            records.append(rec)
            pool.then(partial(_local_header, out, rec, dos_time, dos_date))
            if e.kind == "file":
                stream = output.DeflateStream(pool, level, out.write)
                for chunk in read_chunks(e):
                    stream.write(chunk)
                    if progress is not None:
                        progress.add(len(chunk))
                stream.finish()
                pool.then(partial(_descriptor, out, rec, stream))
            elif rec.usize:
                pool.then(partial(_write, out, data))
        pool.drain()
    _central_directory(out, records, dos_time, dos_date)


def _write(out: output.HashingFile, data: bytes) -> None:
    out.write(data)


def _crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)


def _local_header(out: output.HashingFile, r: _Record, dos_time: int, dos_date: int) -> None:
    r.offset = out.size
    described = bool(r.flags & _DESCRIBED)
    extra = struct.pack("<HHQQ", 1, 16, r.usize, 0) if r.zip64 else b""
    crc, csize, usize = (0, 0, 0) if described else (r.crc, r.csize, r.usize)
    if r.zip64:
        csize = usize = _MAX32
    out.write(struct.pack("<IHHHHHIIIHH", _LOCAL, 45 if r.zip64 else 20, r.flags, r.method, dos_time, dos_date,
                          crc, csize, usize, len(r.name), len(extra)) + r.name + extra)


def _descriptor(out: output.HashingFile, r: _Record, stream: output.DeflateStream) -> None:
    r.crc, r.csize = stream.crc & _MAX32, stream.compressed
    if r.zip64:
        out.write(struct.pack("<IIQQ", _DESCRIPTOR, r.crc, r.csize, r.usize))
    else:
        out.write(struct.pack("<IIII", _DESCRIPTOR, r.crc, r.csize, r.usize))


def _central_directory(out: output.HashingFile, records: list[_Record], dos_time: int, dos_date: int) -> None:
    start = out.size
    for r in records:
        big = r.zip64 or r.offset >= _MAX32
        extra = b""
        if big:
            wide = [r.usize, r.csize] if r.zip64 else []
            if r.offset >= _MAX32:
                wide.append(r.offset)
            extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide)
        version = 45 if big else 20
        attributes = (r.mode << 16) | (0x10 if stat.S_ISDIR(r.mode) else 0)
        out.write(struct.pack(
            "<IHHHHHHIIIHHHHHII", _CENTRAL, (3 << 8) | version, version, r.flags, r.method, dos_time, dos_date,
            r.crc, _MAX32 if r.zip64 else r.csize, _MAX32 if r.zip64 else r.usize, len(r.name), len(extra), 0, 0,
            0, attributes, _MAX32 if r.offset >= _MAX32 else r.offset) + r.name + extra)
    size, count = out.size - start, len(records)
    if count >= 0xFFFF or size >= _MAX32 or start >= _MAX32:
        end64 = out.size
        out.write(struct.pack("<IQHHIIQQQQ", _END64, 44, (3 << 8) | 45, 45, 0, 0, count, count, size, start))
        out.write(struct.pack("<IIQI", _LOCATOR64, 0, end64, 1))
    count16, size32, start32 = min(count, 0xFFFF), min(size, _MAX32), min(start, _MAX32)
    out.write(struct.pack("<IHHHHIIH", _END, 0, 0, count16, count16, size32, start32, 0))
