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
from testkit import null_device

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
    with pytest.raises(BadInput, match="cannot write to a folder"):
        documents.write_text_atomic(target, "x")  # refused before a temp file is made (a rename would fail)
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


# --- issue 12: nesting is bad input in every reader; special files are never replaced nor read forever ------------

DEEP = ("[" * 30000, '{"a":' * 30000)  # RecursionError in json's C parser (and tomllib's) without parse_json


def _nested_readers(tmp_path: Path, text: str):
    """(name, call) for every reader of outside JSON or TOML, each fed `text` nested 30,000 deep."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from releng import config, signing
    from releng.rollback import health
    from releng.server import layout, manifest
    from releng.server.local import LocalTransport
    from releng.validation import metric_sources
    from releng.versioning import version_files

    data = text.encode()
    (tmp_path / "nested.json").write_bytes(data)
    toml = "a = " + text.replace('{"a":', "{a = ")
    (tmp_path / "nested.toml").write_text(toml)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "releng.toml").write_text(toml)
    key = signing.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    (tmp_path / "srv" / "channels").mkdir(parents=True)
    server = LocalTransport("srv", tmp_path / "srv")
    (tmp_path / "srv" / "channels" / "history.jsonl").write_bytes(data + b"\n")
    (tmp_path / "srv" / "rollback_log.jsonl").write_bytes(data + b"\n")
    return [
        ("documents.loads", lambda: documents.loads(text, "version")),
        ("documents.read (the changes document)", lambda: documents.read(tmp_path / "nested.json", "changes")),
        ("documents.load_json", lambda: documents.load_json(tmp_path / "nested.json", "snapshot")),
        ("config.load_toml", lambda: config.load_toml(tmp_path / "nested.toml")),
        ("config.load (releng.toml)", lambda: config.load(tmp_path / "repo")),
        ("layout.load_config (the update-server JSON)", lambda: layout.load_config(tmp_path / "nested.json")),
        ("layout.parse_release_document (artifacts.json on a server)",
         lambda: layout.parse_release_document(data, "1.0.0", "srv")),
        ("health.parse_feed", lambda: health.parse_feed(data, "feed")),
        ("health.read_feed (a file)", lambda: health.read_feed(str(tmp_path / "nested.json"))),
        ("metric_sources.read_adoption", lambda: metric_sources.read_adoption(tmp_path / "nested.json")),
        ("metric_sources.read_server (history.jsonl, rollback_log.jsonl)",
         lambda: metric_sources.read_server(server)),
        ("manifest.verify_envelope (the envelope)",
         lambda: manifest.verify_envelope(data, {key.key_id: key.public_raw})),
        ("manifest.verify_envelope (a signed payload)",
         lambda: manifest.verify_envelope(manifest.sign_payload_bytes(data, key), {key.key_id: key.public_raw})),
        ("version_files (a json version file)",
         lambda: version_files.read(version_files.Spec("v.json", "json"), text)),
    ]


@pytest.mark.parametrize("text", DEEP, ids=["arrays", "objects"])
@pytest.mark.parametrize("reader", range(14))
def test_nesting_30000_deep_is_bad_input_in_every_reader(tmp_path: Path, text: str, reader: int) -> None:
    """`[` x 30000 gave exit 3 (RecursionError) in every JSON and TOML reader: now one line, exit 2."""
    readers = _nested_readers(tmp_path, text)
    assert len(readers) == 14
    name, call = readers[reader]
    with pytest.raises(BadInput) as info:
        call()
    assert info.value.exit_code == 2, name
    message = str(info.value)
    assert "\n" not in message and ("nested too deeply" in message or "JSON" in message), (name, message)


def test_a_nested_jsonl_line_is_skipped_like_a_garbled_one(tmp_path: Path) -> None:
    from releng.server import layout
    from releng.server.local import LocalTransport

    t = LocalTransport("srv", tmp_path)
    (tmp_path / "log.jsonl").write_bytes(b"[" * 30000 + b'\n{"a": 1}\n' + b'{"a":' * 30000 + b"\n")
    assert layout.read_jsonl(t, "log.jsonl") == [{"a": 1}]
    layout.upsert_jsonl(t, "log.jsonl", "a", {"a": 2})
    assert layout.read_jsonl(t, "log.jsonl") == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(("text", "message"), [
    ("1" * 5000, "malformed JSON: Exceeds the limit"),  # Python's int digit limit: a ValueError, not a decode error
    (b"\xff", "corrupt x: not UTF-8"),
    ("[" * 30000, "corrupt x: malformed JSON: nested too deeply"),
])
def test_parse_json_turns_every_failure_into_one_line(text: str | bytes, message: str) -> None:
    limit = sys.get_int_max_str_digits()  # releng.semver lifts it for a huge version: set CPython's default here
    sys.set_int_max_str_digits(4300)
    try:
        with pytest.raises(BadInput, match=message) as info:
            documents.parse_json(text, "here", "x" if isinstance(text, bytes) or text.startswith("[") else None)
    finally:
        sys.set_int_max_str_digits(limit)
    assert info.value.where == "here"


def _reading(call, seconds: float = 10):
    """Run `call` in a thread, bounded: a FIFO must be refused, never waited on."""
    import threading

    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(_outcome(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read blocked"
    return out[0]


def _outcome(call):
    try:
        return call()
    except BaseException as e:  # noqa: BLE001 - handed back to the test
        return e


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "folder"])
def test_inputs_are_regular_files_read_with_a_cap(tmp_path: Path, special: str) -> None:
    """A SHA256SUMS.sig that was /dev/zero gave MemoryError, a FIFO hung publish: both are refused unread."""
    from releng import config, files

    path = tmp_path / "input"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "folder":
        path.mkdir()
    else:
        path.symlink_to(special)
    kind = {"fifo": "a FIFO", "/dev/zero": "a character device", "folder": "a folder"}[special]
    for call in (lambda: files.read_capped(path, 100, "signature"), lambda: documents.read(path, "version"),
                 lambda: documents.load_json(path, "config"), lambda: config.load_toml(path),
                 lambda: files.sha256_file(path)):
        error = _reading(call)
        assert isinstance(error, BadInput) and f": {kind}, not a regular file" in str(error), error
    assert (special == "folder" and path.is_dir()) or not path.is_file()


def test_read_capped_refuses_past_the_cap_and_reads_stdin_only_when_asked(tmp_path, monkeypatch) -> None:
    from releng import files

    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(BadInput, match=r"^sig is larger than 100 bytes"):
        files.read_capped(tmp_path / "big", 100, "sig")
    assert files.read_capped(tmp_path / "big", 101, "sig") == b"x" * 101
    with pytest.raises(files.Missing, match="no such sig"):
        files.read_capped(tmp_path / "-", 100, "sig")  # `-` is a file name unless stdin is meant
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"schema": "releng/version", '
                                                                  b'"schema_version": 1}')))
    assert documents.read("-", "version")["schema"] == "releng/version"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 200)))
    with pytest.raises(BadInput, match="larger than 100 bytes"):
        files.read_capped("-", 100, "feed", stdin=True)


def test_a_fifo_target_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    """`--out /dev/null` run as root replaced /dev/null with a regular file (the temp file and rename)."""
    import threading

    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    text = documents.write(fifo, "version", {"version": "1.0.0"})
    reader.join(10)
    assert not reader.is_alive() and got == [text.encode()]
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_character_device_target_is_written_in_place(tmp_path: Path) -> None:
    null = null_device(tmp_path / "null")
    documents.write_bytes_atomic(null, b"gone")
    with documents.atomic_writer(null) as f:
        f.write(b"gone too")
    assert stat.S_ISCHR(null.lstat().st_mode) and null.lstat().st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_a_socket_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(BadInput, match="cannot write to a socket"):
            documents.write_text_atomic(path, "x")
        assert stat.S_ISSOCK(path.lstat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["sock"]
