"""releng.packaging.archive (entries, formats, output, tar, zip): reproducible tar.gz, tar.zst and zip, read back by
independent tools; the progress line they draw (releng.progress)."""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from releng import progress
from releng.errors import BadInput
from releng.packaging.archive import entries as archive_entries
from releng.packaging.archive import formats, output
from releng.packaging.archive import zip as zip_archive

MTIME = 1_700_000_000


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A small tree with what archives must handle: big multi-block files, empties, modes, symlinks, UTF-8."""
    root = tmp_path_factory.mktemp("tree") / "stage"
    rng = random.Random(7)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(rng.randbytes(3 << 20) + b"tail")  # 3+ deflate blocks
    (root / "bin" / "tool").chmod(0o700)
    (root / "share" / "docs").mkdir(parents=True)
    (root / "share" / "docs" / "big.txt").write_bytes(b"lorem ipsum dolor " * 200_000)
    (root / "share" / "docs" / "naïve résumé.txt").write_text("unicode name\n")
    (root / "share" / "docs" / "empty").write_bytes(b"")
    (root / "share" / "docs" / "private").write_text("mode 600 becomes 644")
    (root / "share" / "docs" / "private").chmod(0o600)
    (root / "share" / "empty-folder").mkdir()
    (root / "share" / "link-to-tool").symlink_to("../bin/tool")
    (root / ("a-long-" + "x" * 120)).mkdir()  # a path over ustar's 100 characters needs a pax header
    (root / ("a-long-" + "x" * 120) / "file").write_text("deep")
    return root


def entries(tree: Path) -> list[archive_entries.Entry]:
    return archive_entries.under("pkg-1.0", archive_entries.scan(tree))


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_output_does_not_depend_on_the_number_of_threads(tree, tmp_path, fmt):
    got = {jobs: formats.write(fmt, entries(tree), tmp_path / f"{jobs}.{fmt}", mtime=MTIME, jobs=jobs)
           for jobs in (1, 2, 4)}
    assert len(set(got.values())) == 1
    assert got[1][0] == (tmp_path / f"1.{fmt}").stat().st_size
    assert (tmp_path / f"1.{fmt}").read_bytes() == (tmp_path / f"4.{fmt}").read_bytes()


def test_tar_gz_is_normalised_and_read_by_gzip_tar_and_tarfile(tree, tmp_path):
    target = tmp_path / "x.tar.gz"
    formats.write("tar.gz", entries(tree), target, mtime=MTIME, jobs=2)
    raw = target.read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00"  # FLG 0: no name, no comment, no extra
    assert raw[4:8] == bytes(4)  # gzip mtime 0
    assert raw[9] == 255  # OS byte fixed, whatever builds it
    assert subprocess.run(["gzip", "-t", str(target)]).returncode == 0
    listing = subprocess.run(["tar", "-tvzf", str(target)], capture_output=True, text=True, check=True).stdout
    assert "root" not in listing and " 0/0 " in listing
    with tarfile.open(target) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "pkg-1.0" and "pkg-1.0/share/docs/naïve résumé.txt" in names
    assert names == [m.name for m in members]  # one pass, order as written
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", MTIME)
        expected = 0o755 if m.isdir() or m.name.endswith("/tool") else 0o777 if m.issym() else 0o644
        assert m.mode == expected, m.name
    by_name = {m.name: m for m in members}
    assert by_name["pkg-1.0/share/link-to-tool"].linkname == "../bin/tool"
    assert len(gzip.decompress(raw)) % tarfile.RECORDSIZE == 0


def test_folders_come_before_their_contents_and_siblings_sort_by_name(tree, tmp_path):
    names = [e.name for e in entries(tree)]
    for i, name in enumerate(names):
        parent = name.rsplit("/", 1)[0]
        if "/" in name:
            assert parent in names[:i], name
    share = [n for n in names if n.count("/") == 3 and n.startswith("pkg-1.0/share/docs/")]
    assert share == sorted(share, key=lambda n: n.encode())


def test_tar_zst_holds_the_same_tar_stream_as_tar_gz(tree, tmp_path):
    import zstandard

    formats.write("tar.gz", entries(tree), tmp_path / "x.tar.gz", mtime=MTIME, jobs=2)
    formats.write("tar.zst", entries(tree), tmp_path / "x.tar.zst", mtime=MTIME, jobs=2)
    tar_from_gz = gzip.decompress((tmp_path / "x.tar.gz").read_bytes())
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO((tmp_path / "x.tar.zst").read_bytes())) as r:
        tar_from_zst = r.read()
    assert tar_from_gz == tar_from_zst
    if shutil.which("zstd"):
        assert subprocess.run(["zstd", "-q", "-t", str(tmp_path / "x.tar.zst")]).returncode == 0


def test_zip_is_normalised_and_read_by_zipfile_and_unzip(tree, tmp_path):
    target = tmp_path / "x.zip"
    formats.write("zip", entries(tree), target, mtime=MTIME, jobs=2)
    with zipfile.ZipFile(target) as z:
        assert z.testzip() is None
        infos = {i.filename: i for i in z.infolist()}
        assert z.read("pkg-1.0/bin/tool") == (tree / "bin" / "tool").read_bytes()
    assert infos["pkg-1.0/"].is_dir() and infos["pkg-1.0/share/empty-folder/"].is_dir()
    for info in infos.values():
        assert info.date_time == (2023, 11, 14, 22, 13, 20)  # MTIME in UTC, not the local time zone
        assert info.create_system == 3 and not info.extra and not info.comment
    assert stat.S_IMODE(infos["pkg-1.0/bin/tool"].external_attr >> 16) == 0o755
    assert stat.S_IMODE(infos["pkg-1.0/share/docs/private"].external_attr >> 16) == 0o644
    assert stat.S_ISLNK(infos["pkg-1.0/share/link-to-tool"].external_attr >> 16)
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tq", str(target)], capture_output=True).returncode == 0


def test_zip_timestamps_clamp_to_the_dos_range():
    assert zip_archive.dos_datetime(0) == zip_archive.dos_datetime(315532800)  # 1980-01-01
    assert zip_archive.dos_datetime(10**11) == zip_archive.dos_datetime(4354819198)


def test_zip64_records_are_read_by_zipfile_and_unzip(tree, tmp_path, monkeypatch):
    """Entries over 4 GiB take a minute to write; mark every file Zip64 instead, which uses the same code."""
    monkeypatch.setattr(zip_archive, "_ZIP64_FROM", 0)
    target = tmp_path / "x64.zip"
    formats.write("zip", entries(tree), target, mtime=MTIME, jobs=2)
    with zipfile.ZipFile(target) as z:
        assert z.testzip() is None
        assert z.read("pkg-1.0/share/docs/big.txt") == (tree / "share" / "docs" / "big.txt").read_bytes()
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tq", str(target)], capture_output=True).returncode == 0


def test_many_entries_take_the_zip64_end_record(tmp_path):
    many = [archive_entries.generated(f"d/f{i:05d}", b"x") for i in range(70_000)]
    formats.write("zip", many, tmp_path / "many.zip", mtime=MTIME, jobs=2)
    with zipfile.ZipFile(tmp_path / "many.zip") as z:
        assert len(z.infolist()) == 70_000 and z.read("d/f69999") == b"x"


@pytest.mark.parametrize("name", ["/etc/passwd", "../up", "a/../../b", "a//b", "./a", "a/.", "C:/x", "\\x",
                                  "a\\b", "a\x00b", "a\nb", ""])
def test_unsafe_names_are_refused(name):
    with pytest.raises(BadInput):
        archive_entries.check_name(name)


@pytest.mark.parametrize(("name", "target", "ok"), [
    ("bin/link", "tool", True), ("bin/link", "../share/x", True), ("a/b/c", "../../top", True),
    ("bin/link", "../../etc/passwd", False), ("link", "..", False), ("bin/link", "/usr/bin/tool", False),
    ("a/b/c", "../../../x", False), ("link", "", False),
])
def test_symlink_targets_must_stay_inside(name, target, ok):
    if ok:
        archive_entries.check_symlink(name, target, "here")
    else:
        with pytest.raises(BadInput, match="leaves the staging tree"):
            archive_entries.check_symlink(name, target, "here")


def test_scan_refuses_special_files_and_escaping_symlinks(tmp_path):
    root = tmp_path / "stage"
    (root / "bin").mkdir(parents=True)
    os.mkfifo(root / "bin" / "pipe")
    with pytest.raises(BadInput, match="is a FIFO"):
        archive_entries.scan(root)
    (root / "bin" / "pipe").unlink()
    (root / "bin" / "escape").symlink_to("../../outside")
    with pytest.raises(BadInput, match="leaves the staging tree"):
        archive_entries.scan(root)
    (root / "bin" / "escape").unlink()
    (root / "bin" / "abs").symlink_to("/etc/passwd")
    with pytest.raises(BadInput, match="absolute target"):
        archive_entries.scan(root)
    (root / "bin" / "abs").unlink()
    # Textually inside, really outside: through a folder symlink that points up.
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (root / "up").symlink_to("bin")
    (root / "bin" / "sneaky").symlink_to(str(Path("..") / ".." / "outside"))
    with pytest.raises(BadInput):
        archive_entries.scan(root)


def test_scan_refuses_names_that_are_not_utf8(tmp_path):
    root = tmp_path / "stage"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"bad-\xff-name"), "wb") as f:
        f.write(b"x")
    with pytest.raises(BadInput, match="UTF-8"):
        archive_entries.scan(root)


def test_a_file_that_changes_while_archived_is_refused(tmp_path):
    root = tmp_path / "stage"
    root.mkdir()
    (root / "f").write_bytes(b"12345")
    found = archive_entries.scan(root)
    (root / "f").write_bytes(b"1234567")
    with pytest.raises(BadInput, match="changed while"):
        formats.write("tar.gz", found, tmp_path / "x.tar.gz", mtime=MTIME, jobs=1)
    assert list(tmp_path.glob("*x.tar.gz*")) == []


def test_a_failed_write_leaves_neither_the_artifact_nor_its_temp_file(tmp_path):
    with pytest.raises(RuntimeError), output.atomic_output(tmp_path / "a.tar.gz") as out:
        out.write(b"half")
        assert len(list(tmp_path.iterdir())) == 1
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_deflate_blocks_concatenate_into_one_valid_stream():
    """pigz's scheme: sync-flushed blocks primed with the previous 32 KiB decompress as one stream."""
    import zlib

    data = random.Random(1).randbytes(20_000) * 150  # repeats within deflate's 32 KiB window
    with output.OrderedPool(3) as pool:
        out = bytearray()
        stream = output.DeflateStream(pool, 6, out.extend)
        for i in range(0, len(data), 77_777):
            stream.write(data[i:i + 77_777])
        stream.finish()
        pool.drain()
    assert zlib.decompress(bytes(out), -15) == data
    assert stream.crc == zlib.crc32(data) and stream.size == len(data) and stream.compressed == len(out)
    # Each block is primed with the previous 32 KiB, so the 20 kB of random bytes are paid for once, not per block.
    independent = sum(len(output.deflate_block(data[i:i + output.BLOCK], b"", 6, False))
                      for i in range(0, len(data), output.BLOCK))
    assert len(out) < independent * 0.6


def test_zstd_output_is_the_same_for_one_or_four_workers_across_many_jobs(tmp_path):
    """zstd's streaming multi-threaded mode splits input into jobs (8 MiB at level 3) independently of workers."""
    rng = random.Random(3)
    data = b"".join(rng.randbytes(64) * rng.randint(1, 50) for _ in range(40_000))[: 30 << 20]
    big = [archive_entries.generated("big.bin", data)]
    sizes = {jobs: formats.write("tar.zst", big, tmp_path / f"{jobs}.tar.zst", mtime=MTIME, jobs=jobs, level=3)
             for jobs in (1, 4)}
    assert sizes[1] == sizes[4]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_never_in_ci(monkeypatch):
    terminal = _Terminal()
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert progress.drawable(terminal)
    bar = progress.Progress(4 << 20, terminal, label="compressing x.tar.gz")
    bar.add(2 << 20)
    bar.close()
    assert "\rcompressing x.tar.gz  50% 2/4 MiB" in terminal.getvalue() and terminal.getvalue().endswith("\r\x1b[K")
    for var in ("CI", "NO_COLOR"):
        monkeypatch.setenv(var, "1")
        assert not progress.drawable(terminal)
        monkeypatch.delenv(var)
    assert not progress.drawable(io.StringIO())  # a pipe or a log file
