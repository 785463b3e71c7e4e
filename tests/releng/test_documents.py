"""releng.documents: stamped JSON documents, atomic writes, strict reads."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from releng import documents
from releng.errors import BadInput

BODY = {"version": "1.3.0-rc.1", "notes": "Gain knob now goes to 11 — ünïcödé kept", "list": [1, 2]}


def test_dumps_stamps_and_formats() -> None:
    text = documents.dumps("version", BODY)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    doc = json.loads(text)
    assert list(doc)[:2] == ["schema", "schema_version"]
    assert doc["schema"] == "releng/version"
    assert doc["schema_version"] == documents.SCHEMA_VERSIONS["version"] == 1
    assert {k: doc[k] for k in BODY} == BODY
    assert "ünïcödé" in text and "\\u" not in text  # UTF-8 kept, not escaped
    assert '\n  "schema": "releng/version",\n' in text  # 2-space indent


def test_dumps_body_cannot_override_the_stamp() -> None:
    doc = json.loads(documents.dumps("changes", {"schema": "evil/other", "schema_version": 99, "x": 1}))
    assert doc == {"schema": "releng/changes", "schema_version": 1, "x": 1}


def test_dumps_unknown_name() -> None:
    with pytest.raises(KeyError):
        documents.dumps("no-such-document", {})


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "version.json"  # missing folders are created
    text = documents.write(path, "version", BODY)
    assert path.read_text(encoding="utf-8") == text
    assert path.read_bytes() == text.encode("utf-8")
    doc = documents.read(path, "version")
    assert {k: doc[k] for k in BODY} == BODY
    assert documents.read(str(path), "version") == doc


def test_write_leaves_no_temp_files(tmp_path: Path) -> None:
    for i in range(3):
        documents.write(tmp_path / "a.json", "version", {"i": i})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert documents.read(tmp_path / "a.json", "version")["i"] == 2


def test_new_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        documents.write_text_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640  # not mkstemp's 0o600


def test_existing_mode_is_preserved(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("old\n")
    target.chmod(0o751)
    documents.write_bytes_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751


def test_explicit_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o644)
    documents.write_bytes_atomic(target, b"new", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_replaces_the_inode(tmp_path: Path) -> None:
    """A reader holding the old file keeps reading the old bytes: the new file is renamed over it."""
    target = tmp_path / "doc.json"
    documents.write(target, "version", {"n": 1})
    with target.open("rb") as reader:
        before = os.fstat(reader.fileno()).st_ino
        documents.write(target, "version", {"n": 2})
        assert json.loads(reader.read())["n"] == 1
    assert target.stat().st_ino != before
    assert documents.read(target, "version")["n"] == 2


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old contents\n")
    with pytest.raises(TypeError):
        documents.write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]  # fails inside the write
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_failed_rename_keeps_the_target_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        documents.write_text_atomic(target, "x")  # a file cannot be renamed over a non-empty folder
    assert (target / "inside").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "doc.json"
    target.write_text("old\n")
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            documents.write(target, "version", {})
        assert target.read_text() == "old\n"
        assert sorted(p.name for p in folder.iterdir()) == ["doc.json"]
    finally:
        folder.chmod(0o755)


def test_read_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(documents.dumps("artifacts", {"files": []})))
    assert documents.read("-", "artifacts") == {"schema": "releng/artifacts", "schema_version": 1, "files": []}


def test_read_from_stdin_refusal_names_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("{"))
    with pytest.raises(BadInput) as info:
        documents.read("-", "artifacts")
    assert info.value.where == "-"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": "releng/changes", "schema_version": 1}', "expected a releng/version document, found schema "
                                                               "'releng/changes'"),
        ('{"schema": "version", "schema_version": 1}', "found schema 'version'"),
        ('{"schema_version": 1}', "found schema None"),
        ('{"schema": "releng/version", "schema_version": 2}', "schema_version 2 is newer than this tool's 1"),
        ('{"schema": "releng/version", "schema_version": "1"}', "must be a positive integer, found '1'"),
        ('{"schema": "releng/version", "schema_version": 1.0}', "must be a positive integer, found 1.0"),
        ('{"schema": "releng/version", "schema_version": true}', "must be a positive integer, found True"),
        ('{"schema": "releng/version", "schema_version": null}', "must be a positive integer, found None"),
        ('{"schema": "releng/version"}', "must be a positive integer, found None"),
        ('{"schema": "releng/version", "schema_version": 0}', "must be a positive integer, found 0"),
        ('{"schema": "releng/version", "schema_version": -1}', "must be a positive integer, found -1"),
        ('{"schema": "releng/version", "schema_version": 1', "malformed JSON"),
        ("", "malformed JSON: Expecting value at line 1 column 1"),
        ('{"a": 1}\n{"b": 2}', "malformed JSON: Extra data at line 2"),
        ("[]", "must be a JSON object"),
        ('"releng/version"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("1", "must be a JSON object"),
    ],
)
def test_loads_refusals(text: str, message: str) -> None:
    with pytest.raises(BadInput) as info:
        documents.loads(text, "version", "in.json")
    assert message in info.value.what
    assert info.value.where == "in.json"
    assert str(info.value).endswith("(in.json)")


@pytest.mark.parametrize(
    "content",
    [b'{"schema": "releng/changes", "schema_version": 1}', b"{not json", b"[1]", b"\xff\xfe garbage"],
)
def test_read_refusals_name_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(BadInput) as info:
        documents.read(path, "version")
    assert info.value.where == str(path)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such version document") as info:
        documents.read(tmp_path / "absent.json", "version")
    assert info.value.where == str(tmp_path / "absent.json")


def test_read_a_folder(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read version document"):
        documents.read(tmp_path, "version")


def test_every_name_round_trips(tmp_path: Path) -> None:
    for name in documents.SCHEMA_VERSIONS:
        text = documents.write(tmp_path / f"{name}.json", name, {"k": name})
        assert documents.loads(text, name)["k"] == name
        others = [n for n in documents.SCHEMA_VERSIONS if n != name]
        with pytest.raises(BadInput):
            documents.loads(text, others[0])


def test_atomic_writer_streams_and_leaves_the_target_alone_when_the_block_raises(tmp_path):
    target = tmp_path / "artifact.tar.gz"
    target.write_bytes(b"old")
    with pytest.raises(ValueError), documents.atomic_writer(target, suffix=".part") as f:
        f.write(b"new, half")
        assert [p.name for p in tmp_path.glob(".artifact.tar.gz.*.part")]  # streamed to a temp name
        raise ValueError("sha256 mismatch")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["artifact.tar.gz"]
    with documents.atomic_writer(target) as f:
        f.write(b"new, ")
        f.write(b"whole")
    assert target.read_bytes() == b"new, whole" and sorted(p.name for p in tmp_path.iterdir()) == ["artifact.tar.gz"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such snapshot ({path})"),
    (b"{nope", "corrupt snapshot: malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2"
               " ({path})"),
    (b"\xff{}", "corrupt snapshot: not UTF-8 ({path})"),
    (b"[" + b" " * 64 + b"]", "snapshot is larger than 32 bytes ({path})"),
])
def test_load_json_refuses_in_one_line_naming_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInput) as e:
        documents.load_json(path, "snapshot", cap=32)
    assert str(e.value) == message.format(path=path)


def test_load_json_reads_any_json_value(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"versions": {"1.0.0": 3}}', encoding="utf-8")
    assert documents.load_json(tmp_path / "a.json", "adoption file") == {"versions": {"1.0.0": 3}}
    with pytest.raises(BadInput, match="cannot read config: "):
        documents.load_json(tmp_path, "config")
