"""check-setup on a plugin repository that is not examples/plugin (issue 13, item 2): ready is exit 0; every
problem a release would trip on is listed in one run, exit 1; the signing key is never printed."""

from __future__ import annotations

import json
import socket

import pytest
from releng._scripts.validation import check_setup
from testkit import NEBULA_CONFIG, write_key, write_nebula

CONFIG = NEBULA_CONFIG + '''
[validation]
compatibility_matrix = "compat.json"
'''
MATRIX = {"schema": "releng/compatibility", "schema_version": 1, "product": "nebula-synth", "releases": [
    {"version": "0.3.0", "date": "2026-01-10",
     "platforms": {"linux": {"formats": ["CLAP"], "min_os": "2.31", "arch": ["x86_64"]}}, "hosts": [],
     "preset_format": {"reads": [1], "writes": 1}, "state_format": {"reads": [1], "writes": 1},
     "migration_notes": []}]}


@pytest.fixture
def nebula(make_repo, tmp_path):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "releng.toml").write_text(CONFIG)
    (repo.path / "compat.json").write_text(json.dumps(MATRIX))
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    repo.tag("v0.3.0")
    return repo


def setup(repo, capsys, *args: str) -> tuple[int, str]:
    code = check_setup.main(["--repo", str(repo.path), *args])
    return code, capsys.readouterr().err


def test_a_ready_repository_is_exit_0_and_the_key_is_never_printed(nebula, tmp_path, capsys):
    public = write_key(tmp_path / "release.pem")
    servers = tmp_path / "servers.json"
    (tmp_path / "server").mkdir()
    servers.write_text(json.dumps({"servers": [{"name": "folder", "transport": "local",
                                                "root": str(tmp_path / "server")}]}))
    code, err = setup(nebula, capsys, "--signing-key", str(tmp_path / "release.pem"), "--servers", str(servers),
                      "--online")
    assert code == 0, err
    assert "ok: version files: 2 agree on 0.3.0, last tag v0.3.0" in err
    assert "ok: compatibility matrix:" in err and "ok: server 'folder' reachable" in err
    assert "check-setup: ready to release" in err
    key_text = (tmp_path / "release.pem").read_text()
    assert "PRIVATE" not in err and key_text.splitlines()[1] not in err and public not in err


def test_every_problem_is_listed_in_one_run(nebula, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RELENG_SIGNING_KEY", raising=False)
    cfg = CONFIG.replace('tag_prefix = "v"', 'tag_prefx = "v"').replace("[project]", "[project]\nnmae = 1")
    (nebula.path / "releng.toml").write_text(cfg)
    header = nebula.path / "src/nebula_version.hpp"
    header.write_text(header.read_text().replace("MINOR 3", "MINOR 4"))
    (nebula.path / "compat.json").write_text(json.dumps({**MATRIX, "product": "audiolab-gain"}))
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"servers": [{"name": "x", "transport": "local", "root": "r", "enabld": True}]}))
    before = nebula.snapshot()
    code, err = setup(nebula, capsys, "--servers", str(servers))
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert code == 1, err
    wanted = ["unknown key 'nmae' in [project] (did you mean 'name'?)",
              "unknown key 'tag_prefx' in [versioning] (did you mean 'tag_prefix'?)",
              "NEBULA_VERSION_MAJOR/_MINOR/_PATCH says 0.4.0, where NEBULA_VERSION_STRING and the other version "
              "files say 0.3.0 (src/nebula_version.hpp)",
              "compat.json is the matrix of 'audiolab-gain', not of 'nebula-synth'",
              "no signing key: set $RELENG_SIGNING_KEY or pass --signing-key FILE",
              "unknown key 'enabld' in servers[] (did you mean 'enabled'?)"]
    for text in wanted:
        assert any(text in p for p in problems), (text, problems)
    assert len(problems) == len(wanted), "\n".join(problems)
    assert "check-setup: 6 problems" in err and nebula.snapshot() == before


def test_no_config_is_one_problem_naming_init_project(make_repo, capsys):
    repo = make_repo("bare")
    write_nebula(repo.path)
    code, err = setup(repo, capsys)
    assert code == 1 and "no releng config" in err and "init-project" in err


def test_online_names_a_server_that_cannot_be_reached(nebula, tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "known_hosts").write_text("")
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"servers": [
        {"name": "gone", "transport": "local", "root": str(tmp_path / "missing")},
        {"name": "sftp", "transport": "sftp", "host": "127.0.0.1", "port": port, "user": "u", "root": "/srv",
         "known_hosts": str(tmp_path / "known_hosts"), "base_url": "https://u.example", "timeout": 2}]}))
    write_key(tmp_path / "k.pem")
    code, err = setup(nebula, capsys, "--servers", str(servers), "--online", "--signing-key", str(tmp_path / "k.pem"))
    assert code == 1
    assert "problem: server 'gone' not reachable: the server root is not a folder" in err
    assert "problem: server 'sftp' not reachable" in err


def test_online_without_servers_is_bad_usage(nebula, capsys):
    with pytest.raises(SystemExit) as info:
        check_setup.main(["--repo", str(nebula.path), "--online"])
    assert info.value.code == 2


def test_the_staging_tree_is_checked_against_the_contents_manifest(nebula, tmp_path, capsys):
    stage = nebula.path / "build" / "package" / "linux-x86_64" / "stage"
    (stage / "bin").mkdir(parents=True)
    (stage / "bin" / "nebula-synth").write_text("")
    write_key(tmp_path / "k.pem")
    code, err = setup(nebula, capsys, "--signing-key", str(tmp_path / "k.pem"))
    assert code == 1
    assert "problem: the staging tree lacks share/doc/nebula-synth/CHANGELOG.md, share/doc/nebula-synth/LICENSE*" in err
    (stage / "share" / "doc" / "nebula-synth").mkdir(parents=True)
    for name in ("CHANGELOG.md", "LICENSE"):
        (stage / "share" / "doc" / "nebula-synth" / name).write_text("x")
    code, err = setup(nebula, capsys, "--signing-key", str(tmp_path / "k.pem"))
    assert code == 0 and "matches the contents manifest (linux)" in err
