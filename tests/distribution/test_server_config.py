"""The update-server config (releng.server.layout.load_config): every documented key loads, a wrong type or an
unknown key is one line and exit 2 in every server script, naming the key (issue 12, item 7)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from releng._scripts.distribution import promote_release, publish_release
from releng._scripts.rollback import rollback_release, watch_health
from releng.errors import BadInput
from releng.server import layout

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "distribution" / "update_server_config.json"
EVERY_KEY = {  # every key docs/update-server.md (and the code reading cfg[...]) knows, each with a valid value
    "servers": [
        {"name": "local", "enabled": True, "transport": "local", "root": "srv", "base_url": None, "timeout": 5},
        {"name": "mirror", "enabled": False, "transport": "sftp", "host": "h.example", "port": 2222, "user": "u",
         "known_hosts": "kh", "key_file": None, "root": "/srv", "base_url": "https://h.example", "timeout": 2.5}],
    "channels": ["dev", "beta", "stable"],
    "manifest": {"expires_days": 7, "signing_key_env": "K", "passphrase_env": None, "trusted_keys": [],
                 "base_url": "https://cdn.example", "prefer_kinds": ["tar.gz"]},
    "cdn": {"provider": None, "purge_url": None, "token_env": "T", "zone_id": None, "api_base": "https://api.example",
            "base_url": None, "max_urls_per_request": 30},
    "github": {"repository": None, "token_env": "GH", "api_base": "https://api.github.com", "tag_prefix": "v"},
    "notify": {"webhook_env": "HOOK", "smtp": {"host": "mail", "port": 25, "user": None, "from": "a@b.example",
                                               "to": ["c@d.example"], "starttls": True, "password_env": None}},
}


def write(path: Path, cfg: object) -> Path:
    path.write_text(json.dumps(cfg))
    return path


def changed(edit) -> dict:
    cfg = copy.deepcopy(EVERY_KEY)
    edit(cfg)
    return cfg


def test_the_shipped_the_demos_and_a_config_with_every_key_load(tmp_path):
    assert [s["name"] for s in layout.load_config(SHIPPED)["servers"]] == ["local", "primary"]
    demo = json.loads(SHIPPED.read_text())  # what examples/demo.sh writes
    demo["servers"] = [{"name": "local", "transport": "local", "root": str(tmp_path / "srv"),
                        "base_url": "http://127.0.0.1:8000"}]
    demo["manifest"]["base_url"] = "http://127.0.0.1:8000"
    assert layout.load_config(write(tmp_path / "demo.json", demo))["manifest"]["base_url"] == "http://127.0.0.1:8000"
    cfg = layout.load_config(write(tmp_path / "every.json", EVERY_KEY))
    assert cfg["manifest"]["expires_days"] == 7 and cfg["notify"]["smtp"]["starttls"] is True
    bare = layout.load_config(write(tmp_path / "bare.json", {"servers": [EVERY_KEY["servers"][0]],
                                                             "cdn": None, "github": None, "notify": None}))
    assert bare["channels"] == ["dev", "beta", "stable"] and bare["manifest"]["signing_key_env"] == "RELENG_SIGNING_KEY"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c.update(manifest="x"), "manifest must be an object, found 'x'"),
    (lambda c: c.update(github=5), "github must be an object or null, found 5"),
    (lambda c: c.update(cdn=[]), "cdn must be an object or null, found []"),
    (lambda c: c.update(notify="yes"), "notify must be an object or null, found 'yes'"),
    (lambda c: c["servers"][0].update(timeout="x"), "servers[0].timeout must be a number of seconds above 0"),
    (lambda c: c["servers"][0].update(timeout=-1), "servers[0].timeout must be a number of seconds above 0"),
    (lambda c: c["servers"][0].update(timeout=0), "servers[0].timeout must be a number of seconds above 0"),
    (lambda c: c["servers"][0].update(timeout=float("nan")), "servers[0].timeout must be a number"),
    (lambda c: c["servers"][0].update(timeout=1e300), "servers[0].timeout must be a number"),
    (lambda c: c["servers"][0].update(timeout=True), "servers[0].timeout must be a number"),
    (lambda c: c["servers"][0].update(enabled="no"), "servers[0].enabled must be true or false, found 'no'"),
    (lambda c: c["servers"][1].update(enabled=0), "servers[1].enabled must be true or false, found 0"),
    (lambda c: c["servers"][1].update(port="22"), "servers[1].port must be a port number 1..65535, found '22'"),
    (lambda c: c["servers"][1].update(port=70000), "servers[1].port must be a port number 1..65535"),
    (lambda c: c["servers"][1].update(key_file=5), "servers[1].key_file must be a non-empty string or null"),
    (lambda c: c["servers"][0].update(base_url=["x"]), "servers[0].base_url must be a non-empty string or null"),
    (lambda c: c["manifest"].update(signing_key_env=5), "manifest.signing_key_env must be a non-empty string, found 5"),
    (lambda c: c["manifest"].update(signing_key_env=""), "manifest.signing_key_env must be a non-empty string"),
    (lambda c: c["manifest"].update(trusted_keys="k"), "manifest.trusted_keys must be a list of non-empty strings"),
    (lambda c: c["manifest"].update(prefer_kinds=[1]), "manifest.prefer_kinds must be a list of non-empty strings"),
    (lambda c: c["manifest"].update(expires_days="7"), "manifest.expires_days must be more than 0 and at most 14"),
    (lambda c: c["cdn"].update(max_urls_per_request="100"), "cdn.max_urls_per_request must be a whole number"),
    (lambda c: c["cdn"].update(provider=1), "cdn.provider must be a non-empty string or null, found 1"),
    (lambda c: c["github"].update(repository=["o/r"]), "github.repository must be a non-empty string or null"),
    (lambda c: c["notify"].update(smtp=[]), "notify.smtp must be an object or null, found []"),
    (lambda c: c["notify"]["smtp"].update(starttls="yes"), "notify.smtp.starttls must be true or false"),
    (lambda c: c["notify"]["smtp"].update(to="c@d.example"), "notify.smtp.to must be a list of non-empty strings"),
    # unknown keys, at every level, name the nearest valid one
    (lambda c: c.update(manifst={}), "unknown key 'manifst' in the update server config (did you mean 'manifest'?)"),
    (lambda c: c.update(artifacts="x"), "unknown key 'artifacts' in the update server config"),
    (lambda c: c["servers"][0].update(enable=False), "unknown key 'enable' in servers[] (did you mean 'enabled'?)"),
    (lambda c: c["servers"][1].update(knownhosts="kh"), "(did you mean 'known_hosts'?)"),
    (lambda c: c["manifest"].update(expire_days=7), "unknown key 'expire_days' in manifest (did you mean 'expires_"),
    (lambda c: c["cdn"].update(zone="z"), "unknown key 'zone' in cdn (did you mean 'zone_id'?)"),
    (lambda c: c["github"].update(repo="o/r"), "unknown key 'repo' in github"),
    (lambda c: c["notify"].update(webhook="u"), "unknown key 'webhook' in notify (did you mean 'webhook_env'?)"),
    (lambda c: c["notify"]["smtp"].update(password="p"), "in notify.smtp (did you mean 'password_env'?)"),
])
def test_a_wrong_type_or_an_unknown_key_is_refused_naming_it(tmp_path, edit, message):
    path = write(tmp_path / "c.json", changed(edit))
    with pytest.raises(BadInput) as info:
        layout.load_config(path)
    assert message in str(info.value) and str(info.value).endswith(f"({path})")


SCRIPTS = [
    (publish_release.main, ["--artifacts", "nope.json", "--channel", "dev", "--signing-key", "nope.pem"]),
    (promote_release.main, ["1.0.0", "--to", "beta", "--signing-key", "nope.pem"]),
    (rollback_release.main, ["1.0.0", "--reason", "x", "--signing-key", "nope.pem"]),
    (watch_health.main, ["--feed", "nope.json", "--once", "--signing-key", "nope.pem"]),
]


@pytest.mark.parametrize(("main", "args"), SCRIPTS, ids=["publish", "promote", "rollback", "watch-health"])
@pytest.mark.parametrize(("cfg", "message"), [
    (changed(lambda c: c["servers"][0].update(enabled="no")), "servers[0].enabled must be true or false"),
    (changed(lambda c: c.update(cdn=[])), "cdn must be an object or null"),
    (changed(lambda c: c["manifest"].update(signing_key_env=5)), "manifest.signing_key_env must be"),
    ("[" * 30000, "nested too deeply"),
])
def test_every_server_script_exits_2_in_one_line(tmp_path, capsys, monkeypatch, main, args, cfg, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.json"
    path.write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
    assert main(["--servers", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # nothing made (no server root)


@pytest.mark.parametrize("debug", [False, True])
def test_debug_keeps_the_exit_code_of_a_refusal(tmp_path, capsys, debug):
    path = write(tmp_path / "c.json", changed(lambda c: c.update(cdn=[])))
    argv = ["--servers", str(path), "1.0.0", "--to", "beta"] + (["--debug"] if debug else [])
    assert promote_release.main(argv) == 2
    err = capsys.readouterr().err
    assert err.endswith("error: cdn must be an object or null, found [] (" + str(path) + ")\n")
    assert ("Traceback (most recent call last)" in err) is debug


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(artifacts="x"), "artifacts must be a list"),
    (lambda d: d["artifacts"][0].pop("sha256"), "artifacts[0] needs sha256"),
    (lambda d: d["artifacts"][0].pop("kind"), "artifacts[0] needs kind"),
    (lambda d: d["artifacts"][0].update(size="9"), "artifacts[0].size must be a byte count"),
    (lambda d: d["artifacts"].append(5), "artifacts[1] must be an object"),
    (lambda d: d.update(name=None), "name must be a non-empty string"),
])
def test_a_malformed_artifacts_document_is_refused_before_anything(tmp_path, key, key_file, capsys, edit, message):
    """The artifacts document publish-release is given: `"artifacts": "x"` or an artifact without sha256 or kind
    was an internal error (exit 3); now exit 2 in one line, and no server root is made."""
    from testkit import make_release

    doc_path = make_release(tmp_path / "dist", key)
    doc = json.loads(doc_path.read_text())
    edit(doc)
    doc_path.write_text(json.dumps(doc))
    cfg = write(tmp_path / "c.json", {"servers": [{"name": "local", "transport": "local",
                                                   "root": str(tmp_path / "srv")}]})
    argv = ["--servers", str(cfg), "--artifacts", str(doc_path), "--channel", "dev", "--signing-key", str(key_file)]
    assert publish_release.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: malformed artifacts document: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "srv").exists()
