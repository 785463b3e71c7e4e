"""releng.git on real repositories: streamed log, tags, repository state, and error mapping."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from releng import git, tag_history
from releng.errors import BadInput, ExternalError

REAL_GIT = shutil.which("git")
assert REAL_GIT is not None


@pytest.fixture
def counted_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `git` first on PATH that logs each invocation (one line per process) and execs the real git."""
    bin_dir = tmp_path / "counting-bin"
    bin_dir.mkdir()
    calls = tmp_path / "git-calls.log"
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{REAL_GIT}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    calls.write_text("")
    return calls


@pytest.fixture
def no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def fast_import(repo: Path, messages: list[bytes], start: int = 1_700_000_000) -> None:
    """Build a linear history on main in one `git fast-import`: one commit per message, a minute apart."""
    stream = bytearray()
    for i, msg in enumerate(messages, 1):
        stream += b"commit refs/heads/main\nmark :%d\n" % i
        stream += b"committer Fast Importer <fi@example.com> %d +0000\n" % (start + 60 * i)
        stream += b"data %d\n%s\n" % (len(msg), msg)
        if i % 100 == 1:
            stream += b"M 644 inline file.txt\ndata %d\n%d\n" % (len(str(i)) + 1, i)
    subprocess.run([REAL_GIT, "-C", str(repo), "fast-import", "--quiet"], input=bytes(stream), check=True)


# --- log -------------------------------------------------------------------------------------------------------

def test_log_entries(git_repo) -> None:
    a = git_repo.commit("feat: first ünïcödé ✓\n\nbody with\ttab", date=1_700_000_100)
    b = git_repo.commit("fix: second\x1ewith a record separator\x1e\x1e\n\nand \x1f unit sep", date=1_700_000_200)
    c = git_repo.commit("chore: third", date=1_700_000_300)
    entries = list(git.log(git_repo.path))
    assert [e.sha for e in entries] == [c, b, a]  # newest first
    assert [e.parents for e in entries] == [(b,), (a,), ()]
    assert [e.timestamp for e in entries] == [1_700_000_300, 1_700_000_200, 1_700_000_100]
    assert {e.author for e in entries} == {"Release Tester"}
    assert entries[2].message == "feat: first ünïcödé ✓\n\nbody with\ttab\n"
    assert entries[1].message == "fix: second\x1ewith a record separator\x1e\x1e\n\nand \x1f unit sep\n"
    assert entries[0].message == "chore: third\n"
    assert not any(e.is_merge for e in entries)


def test_log_merges_revisions_and_extra_options(git_repo) -> None:
    base = git_repo.commit("feat: base")
    git_repo.tag("v1.0.0")
    git_repo.git("checkout", "-q", "-b", "topic")
    side = git_repo.commit("feat: on topic")
    git_repo.git("checkout", "-q", "main")
    main = git_repo.commit("fix: on main")
    git_repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    merge = git_repo.head()

    entries = list(git.log(git_repo.path))
    assert entries[0].sha == merge and entries[0].is_merge and entries[0].parents == (main, side)
    assert {e.sha for e in entries} == {merge, main, side, base}

    since = list(git.log(git_repo.path, ["v1.0.0..HEAD"]))
    assert {e.sha for e in since} == {merge, main, side}
    first_parent = list(git.log(git_repo.path, ["HEAD"], "--first-parent"))
    assert [e.sha for e in first_parent] == [merge, main, base]
    assert list(git.log(git_repo.path, ["topic"])) == [e for e in entries if e.sha in (side, base)]


def test_log_of_an_empty_repository(git_repo) -> None:
    with pytest.raises(BadInput, match="HEAD") as info:
        list(git.log(git_repo.path))
    assert info.value.where == str(git_repo.path)


def test_log_of_a_bad_revision(git_repo) -> None:
    git_repo.commit("feat: x")
    with pytest.raises(BadInput, match="nope") as info:
        list(git.log(git_repo.path, ["nope"]))
    assert info.value.exit_code == 2 and info.value.where == str(git_repo.path)


def test_log_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(ExternalError, match="not a git repository"):
        list(git.log(tmp_path))


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """2,000 commits whose messages add up to more than git.log's 1 MiB read size, plus one 1.5 MB message."""
    path = tmp_path_factory.mktemp("big") / "repo"
    subprocess.run([REAL_GIT, "init", "-q", "-b", "main", str(path)], check=True)
    messages = [(f"feat: commit {i} ✓\n\n".encode() + (b"x" * 700) + b"\x1e" + str(i).encode() + b"\n")
                for i in range(1, 2000)]
    messages.append(b"docs: huge\n\n" + b"\x1e".join([b"y" * 1000] * 1500) + b"\n")
    fast_import(path, messages)
    return path, messages


def test_log_streams_2000_commits_from_one_process(big_repo: tuple[Path, list[bytes]], counted_git: Path) -> None:
    path, messages = big_repo
    entries = list(git.log(path))
    calls = counted_git.read_text().rstrip("\n").split("\n")  # not splitlines(): the format holds \x1e
    assert len(calls) == 1 and " log " in f" {calls[0]} "
    assert len(entries) == 2000
    assert [e.message.encode() for e in entries] == messages[::-1]
    assert all(e.parents == (nxt.sha,) for e, nxt in itertools.pairwise(entries))
    assert entries[-1].parents == ()
    assert [e.timestamp for e in entries] == [1_700_000_000 + 60 * i for i in range(2000, 0, -1)]
    assert entries[0].author == "Fast Importer"
    assert len({e.sha for e in entries}) == 2000


def test_log_stopped_early_does_not_hang(big_repo: tuple[Path, list[bytes]]) -> None:
    path, _ = big_repo
    stream = git.log(path)
    first = list(itertools.islice(stream, 3))
    stream.close()  # the consumer gives up: the git process is closed and reaped, no error
    assert [e.message.split("\n", 1)[0] for e in first] == ["docs: huge", "feat: commit 1999 ✓",
                                                            "feat: commit 1998 ✓"]


# --- tags --------------------------------------------------------------------------------------------------------

def _annotated(repo, name: str, date: int, ref: str = "HEAD") -> None:
    repo.git("tag", "-a", name, "-m", f"release {name}", ref, env={"GIT_COMMITTER_DATE": f"{date} +0000"})


def test_tags_sorted_by_precedence_with_dates(git_repo, capsys: pytest.CaptureFixture[str]) -> None:
    c1 = git_repo.commit("feat: one", date=1_000_000_000)
    c2 = git_repo.commit("feat: two", date=1_000_000_100)
    c3 = git_repo.commit("fix: three", date=1_000_000_200)
    _annotated(git_repo, "v1.0.0", 1_234_567_890, c2)  # tagger date differs from the commit's
    git_repo.tag("v1.0.1", annotated=False, ref=c3)
    git_repo.tag("v1.0.0-rc.1", annotated=False, ref=c1)
    git_repo.tag("v0.10.0", annotated=False, ref=c1)  # refname order would put v0.10.0 before v0.9.0
    _annotated(git_repo, "v0.9.0", 999_999_999, c1)
    capsys.readouterr()

    found = git.tags(git_repo.path)
    assert [t.name for t in found] == ["v0.9.0", "v0.10.0", "v1.0.0-rc.1", "v1.0.0", "v1.0.1"]
    by_name = {t.name: t for t in found}
    assert str(by_name["v1.0.0-rc.1"].version) == "1.0.0-rc.1"
    v100 = by_name["v1.0.0"]
    assert v100.annotated and v100.commit == c2 and v100.timestamp == 1_234_567_890
    tag_object = git_repo.git("rev-parse", "v1.0.0").strip()
    assert tag_object != c2  # the peeled commit, not the tag object
    v101 = by_name["v1.0.1"]
    assert not v101.annotated and v101.commit == c3 and v101.timestamp == 1_000_000_200
    assert by_name["v0.9.0"].timestamp == 999_999_999
    assert capsys.readouterr().err == ""


def test_non_semver_tags_are_skipped_with_a_warning(git_repo, capsys: pytest.CaptureFixture[str]) -> None:
    git_repo.commit("feat: one")
    for name in ("v1.2.3", "latest", "v1.2", "v01.2.3", "1.2.4", "vv1.0.0", "release-2.0.0"):
        git_repo.tag(name, annotated=False)
    capsys.readouterr()
    found = git.tags(git_repo.path)
    assert [t.name for t in found] == ["v1.2.3"]
    for name in ("latest", "v1.2", "v01.2.3", "1.2.4", "vv1.0.0", "release-2.0.0"):
        assert f"ignoring tag '{name}': not v<SemVer>" in found.warnings
    assert not any("'v1.2.3'" in w for w in found.warnings)
    assert capsys.readouterr().err == ""  # library code returns its warnings; the scripts print them


def test_tag_prefixes(git_repo, capsys: pytest.CaptureFixture[str]) -> None:
    git_repo.commit("feat: one")
    for name in ("v1.0.0", "1.1.0", "rel-2.0.0"):
        git_repo.tag(name, annotated=False)
    assert [t.name for t in git.tags(git_repo.path, "")] == ["1.1.0"]
    assert [t.name for t in git.tags(git_repo.path, "rel-")] == ["rel-2.0.0"]
    assert [str(t.version) for t in git.tags(git_repo.path, "rel-")] == ["2.0.0"]


def test_tags_merged_into_head(git_repo) -> None:
    git_repo.fork("other", "v2.0.0", side="feat: elsewhere")
    git_repo.tag("v1.5.0", annotated=False, ref="other")
    assert [t.name for t in git.tags(git_repo.path, merged="HEAD")] == ["v1.0.0"]
    assert [t.name for t in git.tags(git_repo.path)] == ["v1.0.0", "v1.5.0", "v2.0.0"]
    assert [t.name for t in git.tags(git_repo.path, merged="other")] == ["v1.0.0", "v1.5.0", "v2.0.0"]


def test_no_tags(git_repo) -> None:
    git_repo.commit("feat: one")
    assert git.tags(git_repo.path) == []


def test_tag_of_a_tag_peels_to_the_commit(git_repo) -> None:
    commit = git_repo.commit("feat: one")
    _annotated(git_repo, "v1.0.0", 1_700_000_500)
    git_repo.git("-c", "advice.nestedTag=false", "tag", "-a", "v1.0.1", "-m", "nested", "v1.0.0")
    found = {t.name: t for t in git.tags(git_repo.path)}
    assert found["v1.0.0"].commit == commit
    assert found["v1.0.1"].commit == commit and found["v1.0.1"].annotated


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_tag_names_with_unicode_line_breaks(git_repo, odd: str) -> None:
    git_repo.commit("feat: one")
    git_repo.tag("v1.0.0", annotated=False)
    git_repo.tag(f"notes{odd}v2.0.0", annotated=False)
    found = git.tags(git_repo.path)
    assert [t.name for t in found] == ["v1.0.0"]
    assert any(w.startswith("ignoring tag 'notes") for w in found.warnings)


def test_non_utf8_tag_name(git_repo) -> None:
    git_repo.commit("feat: one")
    git_repo.tag("v1.0.0", annotated=False)
    subprocess.run([REAL_GIT.encode(), b"tag", b"v\xff1.0.0"], cwd=git_repo.path, check=True)
    found = git.tags(git_repo.path)
    assert [t.name for t in found] == ["v1.0.0"]
    assert any(w.startswith("ignoring tag 'v\ufffd1.0.0'") for w in found.warnings)


# --- repository state ----------------------------------------------------------------------------------------------

def test_head_and_branch(git_repo) -> None:
    assert git.head(git_repo.path) is None
    assert git.branch(git_repo.path) == "main"  # unborn, but checked out
    first = git_repo.commit("feat: one")
    second = git_repo.commit("feat: two")
    assert git.head(git_repo.path) == second
    git_repo.git("checkout", "-q", "-b", "feature/knob")
    assert git.branch(git_repo.path) == "feature/knob"
    git_repo.git("checkout", "-q", "--detach", first)
    assert git.branch(git_repo.path) is None
    assert git.head(git_repo.path) == first


def test_is_shallow(git_repo, tmp_path: Path) -> None:
    for i in range(3):
        git_repo.commit(f"feat: {i}", files={"f.txt": str(i)})
    clone = tmp_path / "shallow"
    subprocess.run([REAL_GIT, "clone", "-q", "--depth", "1", f"file://{git_repo.path}", str(clone)], check=True)
    assert git.is_shallow(clone) is True
    assert git.is_shallow(git_repo.path) is False
    assert len(list(git.log(clone))) == 1


def test_dirty_files(git_repo) -> None:
    git_repo.commit("feat: files", files={"a.txt": "a", "b.txt": "b", "sp ace ü.txt": "c", "gone.txt": "d",
                                          "sub/deep.txt": "e"})
    assert git.dirty_files(git_repo.path) == []
    git_repo.write("untracked.txt", "new")
    assert git.dirty_files(git_repo.path) == []  # untracked files don't count
    git_repo.write("a.txt", "changed")  # modified, unstaged
    git_repo.write("sp ace ü.txt", "changed")
    git_repo.write("b.txt", "staged")
    git_repo.git("add", "b.txt")  # modified, staged
    (git_repo.path / "gone.txt").unlink()  # deleted
    git_repo.write("sub/deep.txt", "changed")
    git_repo.write("added.txt", "x")
    git_repo.git("add", "added.txt")  # new but staged: tracked now
    assert sorted(git.dirty_files(git_repo.path)) == ["a.txt", "added.txt", "b.txt", "gone.txt",
                                                      "sp ace ü.txt", "sub/deep.txt"]


def test_dirty_files_with_a_staged_rename(git_repo) -> None:
    git_repo.commit("feat: file", files={"old-name.txt": "content\n" * 20, "other.txt": "o"})
    git_repo.git("mv", "old-name.txt", "new-name.txt")
    git_repo.write("other.txt", "changed")
    assert sorted(git.dirty_files(git_repo.path)) == ["new-name.txt", "old-name.txt", "other.txt"]


def test_config_value(git_repo) -> None:
    assert git.config_value(git_repo.path, "releng.missing") is None
    git_repo.git("config", "releng.answer", "forty two")
    assert git.config_value(git_repo.path, "releng.answer") == "forty two"


def test_run_errors_name_git_and_the_repo(git_repo) -> None:
    with pytest.raises(ExternalError) as info:
        git.run(git_repo.path, "rev-parse", "--verify", "no-such-ref")
    assert info.value.what.startswith("git rev-parse failed: fatal: ")
    assert info.value.where == str(git_repo.path)
    assert git.run(git_repo.path, "rev-parse", "--verify", "no-such-ref", check=False) == ""
    assert git.run(git_repo.path, "hash-object", "--stdin", input="hello\n").strip() == \
        "ce013625030ba8dba906f756967f9e9ca394464a"


def test_toplevel(git_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git_repo.commit("feat: x", files={"a/b/c.txt": "x"})
    top = git_repo.path.resolve()
    assert git.toplevel(git_repo.path / "a" / "b") == top
    assert git.toplevel(git_repo.path) == top
    monkeypatch.chdir(git_repo.path / "a")
    assert git.toplevel() == top


def test_toplevel_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BadInput, match="not a git repository") as info:
        git.toplevel(tmp_path / "plain")
    assert info.value.where == str(tmp_path / "plain")
    with pytest.raises(BadInput, match="not a directory"):
        git.toplevel(tmp_path / "file.txt")
    with pytest.raises(BadInput, match="not a directory"):
        git.toplevel(tmp_path / "missing")


@pytest.mark.usefixtures("no_git")
def test_git_missing_is_an_external_error(tmp_path: Path) -> None:
    for call in (lambda: git.run(tmp_path, "status"), lambda: git.toplevel(tmp_path),
                 lambda: list(git.log(tmp_path))):
        with pytest.raises(ExternalError, match="git is not installed"):
            call()


# --- history: the last release tag reachable from HEAD and the commits since it -------------------------------

def _since(repo: Path) -> tuple[str | None, list[str]]:
    h = tag_history.history(repo)
    return (h.last.name if h.last else None), [e.sha for e in h.since]


def _reference(repo: Path, finals: bool = False) -> tuple[str | None, set[str]]:
    """The answer from first principles: rev-list HEAD minus what each reachable release tag (or final release tag)
    contains."""
    def rev_list(*revs: str) -> set[str]:
        return set(subprocess.run([REAL_GIT, "-C", str(repo), "rev-list", *revs, "--"], capture_output=True,
                                  text=True, check=True).stdout.split())

    reachable = rev_list("HEAD")
    out = subprocess.run([REAL_GIT, "-C", str(repo), "for-each-ref", "--format=%(refname:strip=2) %(*objectname)"
                          "%(objectname)", "refs/tags"], capture_output=True, text=True, check=True).stdout
    released: set[str] = set()
    best: tuple[tuple[int, ...], str] | None = None
    for line in out.split("\n"):
        if not line:
            continue
        name, obj = line.split(" ")
        sha = obj[:40]
        if sha in reachable and git.semver.is_valid(name[1:]) and name.startswith("v"):
            version = git.semver.parse(name[1:])
            if finals and version.is_prerelease:
                continue
            released |= rev_list(sha)
            best = max(best or (version.precedence_key(), name), (version.precedence_key(), name))
    return (best[1] if best else None), reachable - released


def test_history_of_a_linear_history(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v0.1.0")
    b = git_repo.commit("fix: b")
    c = git_repo.commit("feat: c")
    assert _since(git_repo.path) == ("v0.1.0", [c, b])


def test_history_counts_a_branch_forked_before_the_tag_and_merged_after(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.git("checkout", "-q", "-b", "topic")
    t1 = git_repo.commit("feat: on the branch since before the release")
    git_repo.git("checkout", "-q", "main")
    git_repo.commit("fix: released")
    git_repo.tag("v0.2.0")
    after = git_repo.commit("fix: after")
    git_repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    last, since = _since(git_repo.path)
    assert last == "v0.2.0" and set(since) == {git_repo.head(), after, t1}


def test_history_ignores_tags_head_cannot_reach(git_repo) -> None:
    base = git_repo.commit("feat: a")
    git_repo.tag("v0.1.0")
    git_repo.git("checkout", "-q", "-b", "next")
    git_repo.commit("feat: b")
    git_repo.tag("v0.2.0")  # on another branch
    git_repo.git("checkout", "-q", "main")
    fork = git_repo.commit("fix: c")
    git_repo.git("checkout", "-q", "-b", "other")
    git_repo.commit("feat: d")
    git_repo.tag("v0.3.0")  # below it: `fork`, which main's HEAD reaches without any release containing it
    git_repo.git("checkout", "-q", "main")
    top = git_repo.commit("fix: e")
    assert _since(git_repo.path) == ("v0.1.0", [top, fork])
    assert base not in _since(git_repo.path)[1]


def test_history_when_head_is_a_release_or_inside_one(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v0.1.0")
    b = git_repo.commit("feat: b")
    git_repo.tag("v0.2.0", annotated=False)
    assert _since(git_repo.path) == ("v0.2.0", [])
    git_repo.git("checkout", "-q", "-b", "old", "HEAD~1")
    git_repo.tag("v0.1.0-rc.1", ref=b)
    git_repo.git("checkout", "-q", "--detach", b)
    assert _since(git_repo.path) == ("v0.2.0", [])  # the highest of the tags on HEAD


def test_history_skips_tags_that_only_look_like_releases(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v0.1.0")
    b = git_repo.commit("fix: b")
    git_repo.tag("v1.2")  # matches v[0-9]* but is not SemVer: not a release
    git_repo.tag("v2-next", annotated=False)
    c = git_repo.commit("fix: c")
    assert _since(git_repo.path) == ("v0.1.0", [c, b])
    assert "ignoring tag 'v1.2': not v<SemVer>" in tag_history.history(git_repo.path).warnings


def test_history_through_a_tag_of_a_tag(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v0.9.0", annotated=False)
    git_repo.git("tag", "-a", "inner", "-m", "not a release name")
    git_repo.git("-c", "advice.nestedTag=false", "tag", "-a", "v1.0.0", "-m", "nested", "inner")
    b = git_repo.commit("fix: b")
    assert _since(git_repo.path) == ("v1.0.0", [b])


def test_history_of_a_prerelease_line_reads_on_to_the_last_final_release(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    b = git_repo.commit("feat!: b")
    git_repo.tag("v2.0.0-beta.1")
    c = git_repo.commit("fix: c")
    git_repo.tag("v2.0.0-beta.2", annotated=False)
    d = git_repo.commit("chore: d")
    h = tag_history.history(git_repo.path)
    assert (h.last.name, [e.sha for e in h.since]) == ("v2.0.0-beta.2", [d]) if h.last else False
    assert (h.last_final.name, [e.sha for e in h.since_final or []]) == ("v1.0.0", [d, c, b]) if h.last_final \
        else False
    git_repo.tag("v2.0.0")
    h = tag_history.history(git_repo.path)
    assert h.last and h.last_final and h.last.name == h.last_final.name == "v2.0.0" and h.since_final == []


def test_history_without_prerelease_tags_has_one_answer(git_repo) -> None:
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    git_repo.commit("fix: b")
    h = tag_history.history(git_repo.path)
    assert h.last_final == h.last and h.since_final is h.since


def test_history_without_tags(git_repo) -> None:
    a = git_repo.commit("feat: a")
    assert _since(git_repo.path) == (None, [a])


def test_history_takes_the_highest_tag_of_a_merged_branch(git_repo) -> None:
    c = git_repo.fork("release", "v1.1.0", base="feat: a", side="fix: b", main="fix: c")
    git_repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'release'", "release")
    assert _since(git_repo.path) == ("v1.1.0", [git_repo.head(), c])


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[list[tuple[int, ...]], list[int], dict[int, str], int]:
    """A random DAG (parents drawn among older commits), dates with ties (and skew or not), tags and a HEAD."""
    n = draw(st.integers(1, 14))
    parents = [()] + [tuple(dict.fromkeys(draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=2))))
                      for i in range(1, n)]
    dates = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    if draw(st.booleans()):  # clocks that agree: a child is never older than its parents (ties are common)
        for i in range(1, n):
            dates[i] = max(dates[p] for p in parents[i]) + dates[i] % 2
    tagged = draw(st.sets(st.integers(0, n - 1), max_size=5))
    names = {c: draw(st.sampled_from([f"v1.{c}.0", f"v1.{c}.0", f"v1.{c}.0-rc.1", f"v1.{c}", "odd"]))
             for c in sorted(tagged)}
    return parents, dates, {c: f"{name}-{c}" if name == "odd" else name for c, name in names.items()}, \
        draw(st.integers(0, n - 1))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=_graphs())
def test_history_matches_first_principles_on_random_graphs(make_repo, graph) -> None:
    parents, dates, tags, head = graph
    repo = make_repo(f"g{next(_COUNTER)}")
    stream = bytearray()
    for i, ps in enumerate(parents):
        stream += b"commit refs/heads/c%d\nmark :%d\n" % (i, i + 1)
        stream += b"committer T <t@example.com> %d +0000\ndata 9\nfeat: c%02d\n" % (1_700_000_000 + dates[i], i)
        for j, p in enumerate(ps):
            stream += b"%s :%d\n" % (b"from" if j == 0 else b"merge", p + 1)
    for c, name in tags.items():
        stream += b"tag %s\nfrom :%d\ntagger T <t@example.com> 1700000000 +0000\ndata 1\nx\n" % (name.encode(), c + 1)
    stream += b"reset refs/heads/main\nfrom :%d\n\n" % (head + 1)
    subprocess.run([REAL_GIT, "-C", str(repo.path), "fast-import", "--quiet"], input=bytes(stream), check=True)
    repo.git("symbolic-ref", "HEAD", "refs/heads/main")
    last, since = _since(repo.path)
    assert (last, set(since)) == _reference(repo.path)
    assert len(since) == len(set(since))
    h = tag_history.history(repo.path)  # the same for final releases alone: where a prerelease line starts from
    assert h.since_final is not None
    assert (h.last_final.name if h.last_final else None, {e.sha for e in h.since_final}) == \
        _reference(repo.path, finals=True)


_COUNTER = itertools.count()
