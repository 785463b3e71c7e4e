"""releng.files: the one sha256-and-size of a local file or a stream, with its progress count."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from releng import files, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("size", [0, 1, files.BLOCK - 1, files.BLOCK, 3 * files.BLOCK + 17])
def test_a_file_and_its_stream_hash_the_same_as_hashlib(tmp_path, size):
    data = random.Random(size).randbytes(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = (size, hashlib.sha256(data).hexdigest())
    assert files.sha256_file(path) == expected
    assert files.sha256_file(str(path)) == expected
    with path.open("rb") as f:
        assert files.hash_stream(f.read, 4096) == expected


def test_the_progress_line_counts_every_byte_hashed(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (2 * files.BLOCK + 5))
    stream = _Terminal()
    bar = progress.Progress(path.stat().st_size, stream, label="hashing f.bin", interval=0)
    files.sha256_file(path, bar)
    assert bar.count == path.stat().st_size
    assert stream.getvalue().endswith("\rhashing f.bin 100% 2/2 MiB\x1b[K")
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        files.sha256_file(tmp_path / "absent")
