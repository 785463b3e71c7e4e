"""Issue 13, items 5 and 6 on a local-folder server and a real git repository that is not examples/plugin
(nebula-synth): after rolling 0.3.1 back, the hint names the next free patch (0.3.2, not the taken 0.3.1) branched
from v0.3.0, and bump-version accepts it there; each channel gets back its own earlier rollout of 0.3.0 (stable:
50%, halted), not 100%, and the report says so; the changelog's [YANKED] step is printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from releng._scripts.changelog import gen_changelog
from releng._scripts.distribution import promote_release, publish_release
from releng._scripts.rollback import rollback_release
from releng._scripts.versioning import bump_version
from releng.rollback import notify
from testkit import NEBULA_CONFIG, make_release, write_nebula

CONFIG = NEBULA_CONFIG


@pytest.fixture
def servers(tmp_path, server_config, local_spec, rollback_key, rollback_key_file) -> Path:
    """0.3.0 on dev and beta at 100% and on stable at 50%, halted; then 0.3.1 on dev, beta and stable at 20%."""
    config = server_config(local_spec(tmp_path / "server"))
    key = ["--servers", str(config), "--signing-key", str(rollback_key_file), "-q"]
    for i, v in enumerate(("0.3.0", "0.3.1")):
        doc = make_release(tmp_path / v, rollback_key, v, size=2000, seed=i)
        assert publish_release.main([*key, "--artifacts", str(doc), "--channel", "dev",
                                     "--changes", str(doc.parent / "changes.json")]) == 0
        assert promote_release.main([*key, v, "--to", "beta"]) == 0
        assert promote_release.main([*key, v, "--to", "stable", "--rollout", "50" if v == "0.3.0" else "20"]) == 0
        if v == "0.3.0":
            assert promote_release.main([*key, v, "--to", "stable", "--halt"]) == 0
    return config


def _rollback(config: Path, key_file: Path, *extra: str) -> int:
    return rollback_release.main(["--servers", str(config), "--signing-key", str(key_file), "0.3.1",
                                  "--reason", "crash on load", *extra])


def test_each_channel_gets_its_earlier_rollout_back_and_the_report_says_so(servers, rollback_key_file, payload_of,
                                                                         capsys, validate_document):
    root = servers.parent / "server"
    assert _rollback(servers, rollback_key_file, "--dry-run") == 0
    assert "stable: would offer 0.3.0 to 50%, halted (its rollout on stable before 0.3.1)" in capsys.readouterr().err
    assert payload_of(root, "stable")["version"] == "0.3.1"
    assert _rollback(servers, rollback_key_file, "--json") == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    validate_document(body)
    assert {m["channel"]: m["rollout"] for m in body["manifests"]} == {
        "dev": {"percent": 100, "halted": False}, "beta": {"percent": 100, "halted": False},
        "stable": {"percent": 50, "halted": True}}
    stable = payload_of(root, "stable")
    assert (stable["version"], stable["rollout"], stable["rollback_of"]) == ("0.3.0", {"percent": 50, "halted": True},
                                                                             "0.3.1")
    assert "stable offers 0.3.0 to 50%, halted (its rollout on stable before 0.3.1)" in err
    assert not (root / "releases" / "latest").exists()  # stable never reached 100%: latest does not appear


def test_a_channel_that_never_offered_the_fallback_offers_it_to_everybody_and_says_so(
        tmp_path, server_config, local_spec, rollback_key, rollback_key_file, payload_of, capsys):
    config = server_config(local_spec(tmp_path / "server"))
    key = ["--servers", str(config), "--signing-key", str(rollback_key_file), "-q"]
    for i, v in enumerate(("0.3.0", "0.3.1")):
        doc = make_release(tmp_path / v, rollback_key, v, size=2000, seed=i)
        assert publish_release.main([*key, "--artifacts", str(doc), "--channel", "dev",
                                     "--changes", str(doc.parent / "changes.json")]) == 0
    assert promote_release.main([*key, "0.3.1", "--to", "stable", "--hotfix", "--rollout", "30"]) == 0
    assert rollback_release.main(key[:-1] + ["0.3.1", "--reason", "r", "--channel", "stable"]) == 0
    assert payload_of(tmp_path / "server", "stable")["rollout"] == {"percent": 100, "halted": False}
    assert "stable offers 0.3.0 to 100% (stable never offered 0.3.0: everybody)" in capsys.readouterr().err


def test_the_hotfix_hint_names_a_branch_and_version_bump_version_accepts(servers, rollback_key_file, make_repo,
                                                                          capsys):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "releng.toml").write_text(CONFIG)
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    repo.tag("v0.3.0")
    repo.commit("fix: voices stay in tune")
    assert bump_version.main(["--repo", str(repo.path), "auto", "--commit", "--tag", "-q"]) == 0
    assert "v0.3.1" in repo.git("tag").split()
    capsys.readouterr()

    assert _rollback(servers, rollback_key_file) == 0
    err = capsys.readouterr().err
    hint = re.search(r"^next: git checkout -b (hotfix/(\S+)) (v\S+)", err, re.M)
    assert hint is not None and hint.groups() == ("hotfix/0.3.2", "0.3.2", "v0.3.0"), err
    log = servers.parent / "server" / "rollback_log.jsonl"
    assert f"changelog: gen-changelog --yanked-from {log} marks 0.3.1 [YANKED]; or add \"0.3.1\" to `yanked` " \
           "under [changelog] in releng.toml, then run gen-changelog" in err
    assert gen_changelog.main(["--repo", str(repo.path), "--yanked-from", str(log), "-q"]) == 0  # as printed
    assert re.search(r"^## \[0\.3\.1\] - \d{4}-\d{2}-\d{2} \[YANKED\]$", (repo.path / "CHANGELOG.md").read_text(), re.M)
    (repo.path / "CHANGELOG.md").unlink()

    repo.git("checkout", "-q", "-b", "hotfix/0.3.1", "v0.3.0")  # the old hint's branch: refused, naming 0.3.2
    repo.commit("fix: no crash on load")
    assert bump_version.main(["--repo", str(repo.path), "patch", "--commit", "--tag"]) == 2
    assert "tag v0.3.1 already exists (a rolled-back release?): the next free patch is 0.3.2; make it on the " \
           "branch hotfix/0.3.2" in capsys.readouterr().err

    repo.git("checkout", "-q", "-b", hint[1], hint[3])  # the hint, literally
    repo.commit("fix: no crash on load")
    assert bump_version.main(["--repo", str(repo.path), "auto", "--commit", "--tag"]) == 0
    assert capsys.readouterr().out == "0.3.2\n"
    assert repo.git("describe", "--tags", "--exact-match").strip() == "v0.3.2"
    assert '"0.3.2"' in (repo.path / "src/nebula_version.hpp").read_text()


@pytest.mark.parametrize(("previous", "taken", "expected"), [
    ("1.2.0", [], "1.2.1"), ("0.4.0", ["0.4.1"], "0.4.2"), ("0.4.0", ["0.4.1", "0.4.2", "0.5.0"], "0.4.3"),
    ("2.0.0-rc.1", ["2.0.0"], "2.0.1"),
])
def test_the_next_free_patch_on_the_line(previous, taken, expected):
    assert notify.hotfix_version(previous, taken) == expected


def test_watch_health_dry_run_predicts_the_manifest_numbers_the_real_run_writes(update_root, server_config, local_spec,
                                                                                rollback_key_file, payload_of, capsys):
    from releng._scripts.rollback import watch_health

    config = server_config(local_spec(update_root))
    feed = update_root.parent / "feed.json"
    feed.write_text(json.dumps({"versions": {"1.3.0": {"sessions": 1000, "crashes": 11, "clients": 100}}}))
    argv = ["--servers", str(config), "--feed", str(feed), "--once", "--signing-key", str(rollback_key_file), "--json"]
    assert watch_health.main([*argv, "--dry-run"]) == 0
    predicted = {m["channel"]: m["manifest_number"] for m in json.loads(capsys.readouterr().out)["rollbacks"][0]
                 ["manifests"]}
    assert watch_health.main(argv) == 0
    written = {c: payload_of(update_root, c)["manifest_number"] for c in ("dev", "beta", "stable")}
    assert predicted == written  # halt then rollback: two numbers each, in the dry run too
