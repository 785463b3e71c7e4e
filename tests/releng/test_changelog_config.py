from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from releng.changelog import settings
from releng.errors import BadInput

ROOT = Path(__file__).resolve().parent.parent.parent
OLD = 1_600_000_000  # a source this old is past the racy window, so the result may be cached


def _age(*paths: Path) -> None:
    for p in paths:
        os.utime(p, (OLD, OLD))


def test_defaults_are_the_shipped_file():
    assert Path(settings.defaults_path()) == ROOT / "changelog" / "changelog_config.yml"
    cfg = settings.load(None)
    raw = yaml.safe_load((ROOT / "changelog" / "changelog_config.yml").read_text())
    assert cfg["types"] == raw["types"]
    assert cfg["footers"] == raw["footers"]
    assert cfg["lint"] == raw["lint"]
    assert cfg["changelog"] == raw["changelog"]
    assert settings.allowed_types(cfg) == sorted(
        ["feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert",
         "deprecate", "remove", "security"])


def test_repository_without_config_gets_the_defaults(git_repo):
    assert settings.load(git_repo.path) == settings.load(None)


def test_releng_toml_table_merges_over_defaults(git_repo):
    git_repo.write("releng.toml", '[changelog_config.types]\nfeature = "Added"\nFIX = "Fixed"\n'
                   '[changelog_config.lint]\nscopes = ["ui", "dsp"]\nmax_header_length = 72\n')
    cfg = settings.load(git_repo.path)
    assert cfg["types"]["feature"] == "Added"
    assert cfg["types"]["feat"] == "Added"  # defaults kept
    assert cfg["types"]["fix"] == "Fixed"  # type names are case-insensitive: lowered
    assert cfg["lint"]["scopes"] == ["ui", "dsp"]
    assert cfg["lint"]["max_header_length"] == 72
    assert cfg["lint"]["allow_merge"] is True
    assert "feature" in settings.allowed_types(cfg)


def test_pyproject_tool_releng_table(git_repo):
    git_repo.write("pyproject.toml", '[project]\nname = "x"\n[tool.releng.changelog_config.lint]\n'
                   'extra_types = ["wip"]\n')
    cfg = settings.load(git_repo.path)
    assert "wip" in settings.allowed_types(cfg)


def test_yaml_file_named_by_the_repo_config(git_repo):
    git_repo.write("releng.toml", 'changelog_config = "conf/changes.yml"\n')
    git_repo.write("conf/changes.yml", "footers:\n  Closes: null\nchangelog:\n  repo_url: https://x.example\n")
    cfg = settings.load(git_repo.path)
    assert cfg["footers"]["Closes"] is None
    assert cfg["footers"]["Security"] == "Security"
    assert cfg["changelog"]["repo_url"] == "https://x.example"


def test_explicit_config_file(git_repo, tmp_path):
    explicit = tmp_path / "elsewhere.toml"
    explicit.write_text('[changelog_config.lint]\nallow_merge = false\n')
    git_repo.write("releng.toml", '[changelog_config.lint]\nallow_revert = false\n')
    cfg = settings.load(git_repo.path, str(explicit))
    assert cfg["lint"]["allow_merge"] is False
    assert cfg["lint"]["allow_revert"] is True


@pytest.mark.parametrize(("toml", "problem"), [
    ('changelog_config = 3', "must be a table or the path"),
    ('changelog_config = "missing.yml"', "not found"),
    ('[changelog_config]\ntypes = ["feat"]', "types must be a mapping"),
    ('[changelog_config.types]\n"feat ure" = "Added"', "is not a commit type"),
    ('[changelog_config.types]\nfeat = 3', "must be a changelog category"),
    ('[changelog_config.lint]\nscopes = "ui"', "lint.scopes must be a list"),
    ('[changelog_config.lint]\nextra_types = [""]', "lint.extra_types must be a list"),
    ('[changelog_config.lint]\nmax_header_length = true', "max_header_length"),
    ('[changelog_config.lint]\nmax_header_length = 0', "max_header_length"),
    ('[changelog_config.lint]\nallow_merge = "yes"', "allow_merge must be true or false"),
    ('[changelog_config.changelog]\nrepo_url = 1', "repo_url must be a string"),
    ('[changelog_config.changelog]\nother_heading = false', "other_heading"),
    ('[changelog_config.changelog]\nsquashed_commits = "yes"', "changelog.squashed_commits must be true or false"),
    ('[changelog_config.changelog]\nfold_prereleases = 1', "changelog.fold_prereleases must be true or false"),
    ('[changelog_config.footers]\n"Refs by" = "Fixed"', "is not a commit type"),
    ('changelog_config = [', "malformed TOML"),
])
def test_bad_shapes_are_bad_input(git_repo, toml, problem):
    git_repo.write("releng.toml", toml + "\n")
    with pytest.raises(BadInput, match=problem):
        settings.load(git_repo.path)


@pytest.mark.parametrize("text", ["types: [a\n", "- a list\n", "types: {feat: 1}\n", b"\xff\xfe".decode("latin-1")])
def test_bad_yaml_file_is_bad_input(git_repo, text):
    git_repo.write("releng.toml", 'changelog_config = "c.yml"\n')
    (git_repo.path / "c.yml").write_bytes(text.encode("latin-1"))
    with pytest.raises(BadInput):
        settings.load(git_repo.path)


@pytest.mark.parametrize(("text", "message"), [
    ('[changelog_config]\nnew_feature = {a = 1}\n', "unknown key 'new_feature' in changelog_config"),
    ('[changelog_config.lint]\nmax_header_lenght = 72\n', "(did you mean 'max_header_length'?)"),
    ('[changelog_config.changelog]\nbreaking_lable = "!"\n', "(did you mean 'breaking_label'?)"),
])
def test_unknown_keys_are_refused_with_the_nearest_name(git_repo, text, message):
    """Issue 13: a typo was ignored and the default silently applied."""
    git_repo.write("releng.toml", text)
    with pytest.raises(BadInput) as info:
        settings.load(git_repo.path)
    assert message in str(info.value)


def test_types_and_footers_stay_free_form(git_repo):
    git_repo.write("releng.toml", '[changelog_config.types]\nwip = "Changed"\n'
                                  '[changelog_config.footers]\nX = "Added"\n')
    assert settings.load(git_repo.path)["types"]["wip"] == "Changed"


# --- the cache ---------------------------------------------------------------------------------------------------

def _cache(repo) -> Path:
    """The repository's cache file for this installation and Python (the file name is a hash of that key)."""
    found = sorted((repo.path / ".git" / "releng").glob("changelog_config.*.cache"))
    assert len(found) <= 1, found
    if found:
        return found[0]
    candidates = (str(repo.path / "releng.toml"), str(repo.path / "pyproject.toml"))
    head = (settings.CACHE_FORMAT, sys.version_info[:2], settings.defaults_path(), "", candidates)
    return repo.path / ".git" / "releng" / f"changelog_config.{settings._hash(repr(head)):08x}.cache"


def test_fresh_sources_are_not_cached_then_old_ones_are(git_repo):
    toml = git_repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui"]\n')
    settings.load(git_repo.path)
    assert not _cache(git_repo).exists()  # racy: the file was written just now
    _age(toml)
    first = settings.load(git_repo.path)
    assert _cache(git_repo).exists()
    assert settings.load(git_repo.path) == first


def test_cache_hit_imports_no_parser(git_repo):
    _age(git_repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui"]\n'))
    code = ("import sys; from releng.changelog import settings as c; cfg = c.load(sys.argv[1]); "
            "print(cfg['lint']['scopes'], sorted({'yaml', 'tomllib', 're', 'pathlib'} & set(sys.modules)))")
    run = [sys.executable, "-c", code, str(git_repo.path)]
    subprocess.run(run, check=True, capture_output=True)  # fills the cache
    out = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['ui'] []"


def test_cache_is_invalidated_by_an_edit_or_a_new_file(git_repo):
    toml = git_repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui"]\n')
    _age(toml)
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["ui"]
    toml.write_text('[changelog_config.lint]\nscopes = ["dsp"]\n')  # same size, new mtime
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["dsp"]
    _age(toml)
    settings.load(git_repo.path)
    toml.write_text('changelog_config = "c.yml"\n')
    yml = git_repo.write("c.yml", "lint:\n  scopes: [core]\n")
    _age(toml, yml)
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["core"]
    yml.write_text("lint:\n  scopes: [gui]\n")  # the named YAML file is a source too
    os.utime(yml, (OLD + 5, OLD + 5))
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["gui"]


def test_garbled_or_unwritable_cache_is_ignored(git_repo):
    _age(git_repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui"]\n'))
    _cache(git_repo).parent.mkdir(parents=True)
    _cache(git_repo).write_bytes(b"\x00garbage")
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["ui"]
    _cache(git_repo).unlink()
    _cache(git_repo).mkdir()  # a directory where the file should be: cannot write, still works
    assert settings.load(git_repo.path)["lint"]["scopes"] == ["ui"]


def test_worktree_and_no_git_dir(git_repo, tmp_path):
    _age(git_repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui"]\n'))
    git_repo.commit("chore: config", files={"releng.toml": '[changelog_config.lint]\nscopes = ["ui"]\n'})
    _age(git_repo.path / "releng.toml")
    wt = tmp_path / "wt"
    git_repo.git("worktree", "add", "-q", str(wt))
    _age(wt / "releng.toml")
    assert settings.load(wt)["lint"]["scopes"] == ["ui"]
    plain = tmp_path / "plain"
    plain.mkdir()
    _age(plain)
    (plain / "releng.toml").write_text('[changelog_config.lint]\nscopes = ["x"]\n')
    assert settings.load(plain)["lint"]["scopes"] == ["x"]


def test_two_installations_keep_their_own_cache_outside_a_repository(tmp_path):
    """Issue 14: one `defaults` cache file for every installation made two installs evict each other's entry on
    every run, and the hook then imported yaml. Each (installation, Python, config) now has its own file."""
    sites = []
    for name in ("a", "b"):
        site = tmp_path / name
        shutil.copytree(ROOT / "shared" / "releng", site / "releng",
                        ignore=shutil.ignore_patterns("__pycache__", "_scripts"))
        shipped = site / "releng" / "_scripts" / "changelog" / "changelog_config.yml"
        shipped.parent.mkdir(parents=True)
        shutil.copy(ROOT / "changelog" / "changelog_config.yml", shipped)
        if name == "b":  # another version of the defaults: another result to cache
            shipped.write_text(shipped.read_text() + "\nunknown_b: 1\n")
        _age(shipped)
        sites.append(site)
    code = ("import sys; from releng.changelog import settings as c; cfg = c.load(None); "
            "print(c.defaults_path(), 'unknown_b' in cfg, 'yaml' in sys.modules)")
    outside = tmp_path / "outside"
    outside.mkdir()

    def run(site: Path) -> str:
        env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
        return subprocess.run([sys.executable, "-c", code], cwd=outside, env=env, capture_output=True, text=True,
                              check=True).stdout.split()

    a, b = (str(s / "releng" / "_scripts" / "changelog" / "changelog_config.yml") for s in sites)
    assert run(sites[0]) == [a, "False", "True"]  # misses: each fills its own file
    assert run(sites[1]) == [b, "True", "True"]
    assert run(sites[0]) == [a, "False", "False"]  # hits, turn after turn: no yaml
    assert run(sites[1]) == [b, "True", "False"]
    assert len(list((tmp_path / "cache" / "releng").glob("changelog_config.*.cache"))) == 2


@pytest.mark.slow
def test_defaults_are_found_in_a_built_wheel(tmp_path):
    """In a wheel the scripts live under releng/_scripts/: `__path__` differs from the checkout's."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("releng-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import releng._scripts as s; from releng.changelog import settings as c; "
            "print(s.__path__); print(c.defaults_path()); print(c.load(None)['types']['feat'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(site)}).stdout.splitlines()
    assert out[0] == repr([str(site / "releng" / "_scripts")])
    assert out[1] == str(site / "releng" / "_scripts" / "changelog" / "changelog_config.yml")
    assert out[2] == "Added"
