"""semver-tool: valid, compare, sort, next; in-process and through both entry forms."""

from __future__ import annotations

import io

import pytest
from releng._scripts.versioning import semver_tool


@pytest.mark.parametrize(("version", "rc"), [("1.2.3", 0), ("1.0.0-rc.1+build.5", 0), ("1.2", 1),
                                             ("01.2.3", 1), ("1.2.3-", 1), ("v", 1), ("v1.2.3", 1)])
def test_valid(version, rc):
    assert semver_tool.main(["valid", version]) == rc


@pytest.mark.parametrize(("a", "b", "out"), [("1.0.0-rc.1", "1.0.0", "-1"), ("1.0.0+a", "1.0.0+b", "0"),
                                             ("2.0.0", "1.99.99", "1"), ("1.0.0-beta.11", "1.0.0-beta.2", "1")])
def test_compare(a, b, out, capsys):
    assert semver_tool.main(["compare", a, b]) == 0
    assert capsys.readouterr().out == out + "\n"


def test_sort_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("1.0.0\n1.0.0-rc.1\n\n1.0.0-alpha\n0.9.9\n"))
    assert semver_tool.main(["sort"]) == 0
    assert capsys.readouterr().out == "0.9.9\n1.0.0-alpha\n1.0.0-rc.1\n1.0.0\n"


@pytest.mark.parametrize(
    ("args", "out"),
    [(["1.0.0-rc.1", "prerelease"], "1.0.0-rc.2"), (["1.0.0-rc.2", "release"], "1.0.0"),
     (["1.2.3", "minor"], "1.3.0"), (["1.2.3", "prerelease", "--pre-id", "beta"], "1.2.4-beta.1"),
     (["1.2.3", "premajor"], "2.0.0-rc.1")],
)
def test_next(args, out, capsys):
    assert semver_tool.main(["next", *args]) == 0
    assert capsys.readouterr().out == out + "\n"


@pytest.mark.parametrize(
    "args",
    [["compare", "1.2", "1.0.0"], ["next", "01.2.3", "patch"], ["next", "1.2.3", "release"],
     ["next", "1.0.0-beta.1", "prerelease", "--pre-id", "alpha"]],
)
def test_bad_input_is_exit_2_with_one_line(args, capsys):
    assert semver_tool.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_sort_names_the_bad_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("1.0.0\n1.2\n"))
    assert semver_tool.main(["sort"]) == 2
    assert capsys.readouterr().err == "error: not a SemVer 2.0.0 version: '1.2' (line 2)\n"


def test_unknown_bump_kind_is_usage_error():
    with pytest.raises(SystemExit) as e:
        semver_tool.main(["next", "1.2.3", "huge"])
    assert e.value.code == 2


def test_both_entry_forms(script, command):
    for run in (lambda *a, **k: script("versioning", "semver_tool", *a, **k),
                lambda *a, **k: command("semver-tool", *a, **k)):
        assert run("valid", "1.2.3").returncode == 0
        assert run("valid", "1.2").returncode == 1
        assert run("next", "1.2", "patch").returncode == 2
        done = run("sort", input="1.0.0\n1.0.0-rc.1\n")
        assert (done.returncode, done.stdout) == (0, "1.0.0-rc.1\n1.0.0\n")
