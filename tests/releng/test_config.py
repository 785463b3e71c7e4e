"""releng.config: where the configuration comes from, and how it is merged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from releng import config
from releng.errors import BadInput

RELENG_TOML = '[versioning]\ntag_prefix = "rel-"\n'
PYPROJECT = '[project]\nname = "x"\n\n[tool.releng.versioning]\ntag_prefix = "py-"\n'
EXPLICIT = '[versioning]\ntag_prefix = "explicit-"\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def test_nothing(repo: Path) -> None:
    assert config.find(repo) is None
    assert config.load(repo) == {}


def test_pyproject_without_tool_releng_is_not_a_config(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.ruff]\nline-length = 120\n')
    assert config.find(repo) is None
    assert config.load(repo) == {}


def test_pyproject_tool_releng(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT)
    assert config.find(repo) == repo / "pyproject.toml"
    assert config.load(repo) == {"versioning": {"tag_prefix": "py-"}}


def test_releng_toml_beats_pyproject(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "releng.toml").write_text(RELENG_TOML)
    assert config.find(repo) == repo / "releng.toml"
    assert config.load(repo) == {"versioning": {"tag_prefix": "rel-"}}


def test_explicit_beats_everything(repo: Path, tmp_path: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "releng.toml").write_text(RELENG_TOML)
    explicit = tmp_path / "other.toml"
    explicit.write_text(EXPLICIT)
    assert config.find(repo, str(explicit)) == explicit
    assert config.load(repo, str(explicit)) == {"versioning": {"tag_prefix": "explicit-"}}


def test_explicit_relative_to_the_working_directory(repo: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "mine.toml").write_text(EXPLICIT)
    monkeypatch.chdir(tmp_path / "cwd")
    assert config.load(repo, "mine.toml") == {"versioning": {"tag_prefix": "explicit-"}}


def test_explicit_pyproject_reads_tool_releng(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "pyproject.toml").write_text(PYPROJECT)
    assert config.load(repo, str(other / "pyproject.toml")) == {"versioning": {"tag_prefix": "py-"}}


def test_empty_explicit_means_none_given(repo: Path) -> None:
    (repo / "releng.toml").write_text(RELENG_TOML)
    assert config.find(repo, "") == repo / "releng.toml"


@pytest.mark.parametrize("name", ["missing.toml", "folder"])
def test_missing_explicit_file(repo: Path, tmp_path: Path, name: str) -> None:
    (tmp_path / "folder").mkdir()
    (repo / "releng.toml").write_text(RELENG_TOML)  # not used as a fallback
    path = str(tmp_path / name)
    with pytest.raises(BadInput, match="config file not found") as info:
        config.load(repo, path)
    assert info.value.where == path


@pytest.mark.parametrize("name", ["releng.toml", "pyproject.toml"])
@pytest.mark.parametrize(
    "text",
    ['[tool.releng]\nkey = "unterminated\n', "[tool.releng]\nkey = 1\nkey = 2\n", "[tool.releng]\n= 1\n"],
)
def test_malformed_toml_names_the_path(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    with pytest.raises(BadInput, match="malformed TOML") as info:
        config.load(repo)
    assert info.value.where == str(repo / name)
    assert str(repo / name) in str(info.value)


def test_non_utf8_config_is_bad_input(repo: Path) -> None:
    (repo / "releng.toml").write_bytes(b'[versioning]\ntag_prefix = "\xff"\n')
    with pytest.raises(BadInput, match="malformed TOML: not UTF-8") as info:
        config.load(repo)
    assert info.value.where == str(repo / "releng.toml")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_config(repo: Path) -> None:
    path = repo / "releng.toml"
    path.write_text(RELENG_TOML)
    path.chmod(0)
    with pytest.raises(BadInput, match="cannot read config") as info:
        config.load(repo)
    assert info.value.where == str(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool]\nother = 1\n# [tool.releng] is documented elsewhere\n", {}),  # found by text, empty by value
        ('[tool.releng]\n[tool.releng.project]\nname = "T"\n', {"project": {"name": "T"}}),
    ],
)
def test_pyproject_shapes(repo: Path, text: str, expected: dict[str, object]) -> None:
    (repo / "pyproject.toml").write_text(text)
    assert config.load(repo) == expected


def test_tool_releng_must_be_a_table(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("# [tool.releng\n[tool]\nreleng = 5\n")
    with pytest.raises(BadInput, match=r"\[tool.releng\] must be a table") as info:
        config.load(repo)
    assert info.value.where == str(repo / "pyproject.toml")


def test_merged_is_deep() -> None:
    defaults = {
        "versioning": {"tag_prefix": "v", "files": [{"path": "a"}], "bump": {"pre_id": "rc", "commit": True}},
        "changelog": {"title": "Changelog"},
        "scalar": 1,
    }
    override = {
        "versioning": {"files": [{"path": "b"}], "bump": {"commit": False}},
        "scalar": {"now": "a table"},
        "new": [1],
    }
    out = config.merged(defaults, override)
    assert out == {
        "versioning": {"tag_prefix": "v", "files": [{"path": "b"}], "bump": {"pre_id": "rc", "commit": False}},
        "changelog": {"title": "Changelog"},
        "scalar": {"now": "a table"},
        "new": [1],
    }
    # the inputs are untouched
    assert defaults["versioning"] == {"tag_prefix": "v", "files": [{"path": "a"}],
                                      "bump": {"pre_id": "rc", "commit": True}}
    assert defaults["scalar"] == 1


def test_merged_table_replaced_by_scalar() -> None:
    assert config.merged({"a": {"b": 1}}, {"a": "flat"}) == {"a": "flat"}
    assert config.merged({}, {}) == {}
    assert config.merged({"a": 1}, {}) == {"a": 1}


def test_merged_over_loaded_file(repo: Path) -> None:
    (repo / "releng.toml").write_text('[packaging]\nname = "rel"\n[packaging.levels]\nzip = 9\n')
    defaults = {"packaging": {"name": "x", "levels": {"zip": 6, "tar.gz": 6}}}
    assert config.merged(defaults, config.load(repo)) == {
        "packaging": {"name": "rel", "levels": {"zip": 9, "tar.gz": 6}}}


def test_section() -> None:
    cfg = {"versioning": {"a": 1}, "bad": [1, 2], "text": "x"}
    assert config.section(cfg, "versioning") == {"a": 1}
    assert config.section(cfg, "absent") == {}
    for name in ("bad", "text"):
        with pytest.raises(BadInput, match=rf"\[{name}\] must be a table") as info:
            config.section(cfg, name, "releng.toml")
        assert info.value.where == "releng.toml"


# --- issue 12: nesting and oversized configs are bad input; configured paths stay in the repository ---------------

@pytest.mark.parametrize("text", ["a = " + "[" * 30000, "a = " + "{b = " * 30000, "a = " + "1" * 5000])
def test_a_deep_or_huge_toml_value_is_malformed_not_an_internal_error(repo: Path, text: str) -> None:
    import sys

    (repo / "releng.toml").write_text(text)
    limit = sys.get_int_max_str_digits()  # releng.semver lifts it for a huge version: set CPython's default here
    sys.set_int_max_str_digits(4300)
    try:
        with pytest.raises(BadInput, match="^malformed TOML: ") as info:
            config.load(repo)
    finally:
        sys.set_int_max_str_digits(limit)
    assert info.value.where == str(repo / "releng.toml")


def test_a_config_past_the_cap_is_refused(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "CONFIG_CAP", 64)
    (repo / "releng.toml").write_text("# " + "x" * 100 + "\n")
    with pytest.raises(BadInput, match="config is larger than 64 bytes"):
        config.load(repo)


@pytest.mark.parametrize("value", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "out-link", "out-dir/x",
                                   "loop"])
def test_repo_path_refuses_whatever_resolves_outside(repo: Path, tmp_path: Path, value: str) -> None:
    (tmp_path / "outside.txt").write_text("x")
    (repo / "out-link").symlink_to(tmp_path / "outside.txt")
    (repo / "out-dir").symlink_to(tmp_path)
    (repo / "loop").symlink_to(repo / "loop")
    with pytest.raises(BadInput) as info:
        config.repo_path(repo, value, "[versioning] files", "releng.toml")
    assert str(info.value).startswith(f"[versioning] files {value!r} is outside the repository")
    assert info.value.where == "releng.toml"


@pytest.mark.parametrize("value", ["a.txt", "sub/../a.txt", "in-link", "not/yet/there.txt"])
def test_repo_path_keeps_what_stays_inside(repo: Path, value: str) -> None:
    (repo / "a.txt").write_text("x")
    (repo / "in-link").symlink_to(repo / "a.txt")
    assert config.repo_path(repo, value, "key") == repo / value


@pytest.mark.parametrize("value", [None, "", 5, "a\0b", ["a"]])
def test_repo_path_needs_a_path(repo: Path, value: object) -> None:
    with pytest.raises(BadInput, match="key must be a path inside the repository"):
        config.repo_path(repo, value, "key")


def test_check_keys_names_the_nearest_valid_key() -> None:
    config.check_keys({"a": 1, "b": 2}, ["a", "b", "c"], "[x]", "here")
    with pytest.raises(BadInput, match=r"unknown key 'tag_prefx' in \[versioning\] \(did you mean 'tag_prefix'\?\)"):
        config.check_keys({"tag_prefx": "v"}, ["tag_prefix", "files"], "[versioning]", "releng.toml")
    with pytest.raises(BadInput, match=r"unknown key 'zzz' in \[x\] \(known: a, b\)"):
        config.check_keys({"zzz": 1}, ["a", "b"], "[x]", "here")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[versioning.file]]\npath = "v.txt"\n', r"unknown key 'file' in \[versioning\] \(did you mean 'files'\?\)"),
        ('[versioning]\ntag_prefx = "v"\n', r"'tag_prefx' in \[versioning\] \(did you mean 'tag_prefix'\?\)"),
        ('[versoning]\ntag_prefix = "v"\n', r"'versoning' in the releng config \(did you mean 'versioning'"),
        ('[project]\nnmae = "x"\n', r"'nmae' in \[project\] \(did you mean 'name'\?\)"),
        ('[packaging]\nmaintaner = "a <a@b>"\n', r"did you mean 'maintainer'\?"),
        ('[packaging.formats]\nlinuxx = ["deb"]\n', r"'linuxx' in \[packaging.formats\] \(did you mean 'linux'"),
        ('[validation]\ncompatibility_matirx = "m.json"\n', r"did you mean 'compatibility_matrix'\?"),
        ('[metrics]\nbug_window = 3\n', r"did you mean 'bug_window_days'\?"),
        ('[project]\nname = "x"\nproject = 3\n', r"unknown key 'project' in \[project\]"),
    ],
)
def test_every_unknown_table_and_key_is_refused_with_the_nearest_name(repo: Path, text: str, message: str) -> None:
    (repo / "releng.toml").write_text(text)
    with pytest.raises(BadInput, match=message) as info:
        config.load(repo)
    assert info.value.where == str(repo / "releng.toml")


def test_unknown_keys_under_tool_releng_are_refused_too(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.releng.versioning]\ntag_prefx = "v"\n')
    with pytest.raises(BadInput, match=r"in \[tool.releng.versioning\] \(did you mean 'tag_prefix'"):
        config.load(repo)


def test_the_key_list_holds_every_default_of_every_area() -> None:
    """An area that adds a setting to its DEFAULTS must list it in config.TABLES, or its own key is refused."""
    import importlib.util

    from releng.validation import checklist
    from releng.versioning import bump

    root = Path(__file__).resolve().parents[2]
    found = {"versioning": set(bump.DEFAULTS), "validation": set(checklist.DEFAULTS)}
    for table, script in (("packaging", "packaging/build_package.py"), ("metrics", "validation/release_metrics.py")):
        spec = importlib.util.spec_from_file_location(f"_keys_{table}", root / script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[table] = set(module.DEFAULTS)
    for table, keys in found.items():
        assert keys <= config.TABLES[table], (table, keys - config.TABLES[table])
