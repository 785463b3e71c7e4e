"""releng.versioning.bump: the bump Conventional Commits ask for, the next version, and the successor rule that
bump-version makes releases by and validate-release's no-skipped-version gate checks them by."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from releng import git, semver, tag_history
from releng.errors import BadInput
from releng.versioning import bump

V = semver.parse
RULES = dict(bump.DEFAULTS)


def log(*messages: str, merge: int | None = None) -> list[git.LogEntry]:
    """Commits newest first, as git lists them; `merge`: the index of one with two parents."""
    return [git.LogEntry(f"{i:040x}", ("a" * 40, "b" * 40) if i == merge else ("a" * 40,), 0, "A", m)
            for i, m in enumerate(messages)]


# ---- inferring the bump --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("messages", "current", "expected", "counted"), [
    ([], "1.2.3", None, 0),
    (["docs: readme", "chore: tidy", "not conventional at all"], "1.2.3", None, 0),
    (["fix: clip"], "1.2.3", "patch", 1),
    (["perf: a", "refactor: b", "revert: c", "security: d", "deprecate: e", "remove: f"], "1.2.3", "patch", 6),
    (["fix: a", "feat: b", "docs: c", "fix: d"], "1.2.3", "minor", 3),
    (["FEAT(ui): a knob"], "1.2.3", "minor", 1),  # types are case-insensitive
    (["feat!: presets v2"], "1.2.3", "major", 1),
    (["docs!: the manual is gone"], "1.2.3", "major", 1),  # `!` breaks whatever the type
    (["fix: x\n\nBREAKING CHANGE: presets moved"], "1.2.3", "major", 1),
    (["fix: x\n\nBREAKING-CHANGE: presets moved"], "1.2.3", "major", 1),
    (["fix: x\n\nThis is not BREAKING anything."], "1.2.3", "patch", 1),  # the word alone is no footer
    (["feat!: presets v2"], "0.4.0", "minor", 1),  # major 0: breaking is a minor bump (SemVer item 4)
    (["feat: "], "1.2.3", None, 0),  # no description: not a conventional commit
])
def test_infer_bump(messages, current, expected, counted):
    kind, commits = bump.infer_bump(log(*messages), RULES, V(current))
    assert (kind, len(commits)) == (expected, counted)


def test_infer_bump_lists_the_commits_that_count():
    entries = log("feat(ui):  meter ", "docs: x", "Merge branch 'topic'", "fix!: y", merge=2)
    kind, counted = bump.infer_bump(entries, {**RULES, "zero_major_breaking": "major"}, V("0.3.0"))
    assert kind == "major"
    assert counted == [
        {"sha": entries[0].sha, "subject": "feat(ui):  meter", "type": "feat", "scope": "ui", "breaking": False},
        {"sha": entries[3].sha, "subject": "fix!: y", "type": "fix", "scope": None, "breaking": True},
    ]


def test_merge_commits_do_not_count_their_own_subject():
    assert bump.infer_bump(log("feat: merged", merge=0), RULES, V("1.0.0")) == (None, [])


def test_configured_types():
    rules = {**RULES, "minor_types": ["feat", "ui"], "patch_types": ["fix"]}
    assert bump.infer_bump(log("ui: a"), rules, V("1.0.0"))[0] == "minor"
    assert bump.infer_bump(log("perf: a"), rules, V("1.0.0"))[0] is None


# ---- the next version and the decision -----------------------------------------------------------------------------

@pytest.mark.parametrize(("current", "kind", "pre_id", "expected"), [
    ("1.2.3", "patch", None, "1.2.4"), ("1.2.3", "minor", None, "1.3.0"), ("1.2.3", "major", None, "2.0.0"),
    ("1.2.3", "minor", "rc", "1.3.0-rc.1"), ("1.3.0-rc.1", "prerelease", None, "1.3.0-rc.2"),
    ("1.3.0-rc.1", "minor", "rc", "1.3.0-rc.2"), ("1.3.0-rc.1", "release", None, "1.3.0"),
    ("1.3.0-beta.2", "prerelease", "rc", "1.3.0-rc.1"), ("1.2.3", "prerelease", None, "1.2.4-rc.1"),
])
def test_next_version(current, kind, pre_id, expected):
    assert str(bump.next_version(V(current), kind, pre_id)) == expected


@pytest.mark.parametrize(("kind", "last", "message", "expected"), [
    ("auto", "1.2.3", "fix: a", ("patch", "1.2.4", 1)),
    ("auto", "1.2.3", "docs: a", ("auto", None, 0)),  # nothing releasable
    ("auto", None, "docs: a", ("initial", "0.1.0", 0)),  # the first release, whatever the commits say
    ("auto", None, "feat!: a", ("initial", "0.1.0", 1)),
    ("minor", "1.2.3", "fix: a", ("minor", "1.3.0", 0)),  # a bump by hand counts no commits
])
def test_decide(kind, last, message, expected):
    release = tag_history.Release(f"v{last}", V(last), "c" * 40) if last else None
    decision = bump.decide(kind, V(last or "0.1.0"), release, log(message), RULES)
    assert (decision.kind, decision.version and str(decision.version), len(decision.commits)) == expected


def test_decide_with_a_prerelease_label():
    release = tag_history.Release("v1.2.3", V("1.2.3"), "c" * 40)
    assert str(bump.decide("auto", V("1.2.3"), release, log("feat: a"), RULES, "beta").version) == "1.3.0-beta.1"


# ---- a prerelease line turns into its release ----------------------------------------------------------------------

def _line(last: str, final: str | None, since: list[str], before: list[str], pre_id: str | None = None,
          current: str | None = None) -> bump.Decision:
    """`auto` at HEAD: `since` the last tag `last`, `before` between the last final tag and it (newest first)."""
    tag = tag_history.Release(f"v{last}", V(last), "c" * 40)
    line = (tag_history.Release(f"v{final}", V(final), "d" * 40) if final else None, log(*since, *before))
    return bump.decide("auto", V(current or last), tag, log(*since), RULES, pre_id, line)


@pytest.mark.parametrize(("last", "final", "since", "before", "pre_id", "expected"), [
    # the histories: beta.11 of 25.0.0 after 24.x; only chores since the beta, or fixes
    ("25.0.0-beta.11", "24.3.1", ["chore: deps"], ["feat!: new api"], None, ("release", "25.0.0", 1)),
    ("22.0.0-beta.9", "21.0.0", ["fix: a", "docs: b"], ["feat!: x", "feat: y"], None, ("release", "22.0.0", 3)),
    ("19.0.0-beta.2", "18.1.0", [], ["feat!: x"], None, ("release", "19.0.0", 1)),  # HEAD is the beta
    ("25.0.0-beta.11", "24.3.1", ["feat: y"], ["fix: x"], None, ("release", "25.0.0", 2)),  # below the line: its core
    ("1.0.1-rc.1", "1.0.0", ["feat: y"], ["fix: x"], None, ("minor", "1.1.0", 2)),  # past the line: that bump
    ("1.1.0-rc.1", "1.0.0", ["fix!: y"], ["feat: x"], None, ("major", "2.0.0", 2)),
    ("0.10.0-rc.1", "0.9.0", [], ["feat!: x"], None, ("release", "0.10.0", 1)),  # major 0: breaking is minor
    ("1.0.0-beta.3", None, ["chore: x"], ["feat: a"], None, ("release", "1.0.0", 1)),  # no final release before
    ("2.0.0-rc.1", "1.4.0", [], ["docs: x"], None, ("release", "2.0.0", 0)),  # a line opened by hand
    # with --pre-id: the next prerelease of the line, or the first past it
    ("25.0.0-beta.11", "24.3.1", ["fix: a"], ["feat!: x"], "beta", ("prerelease", "25.0.0-beta.12", 1)),
    ("25.0.0-beta.11", "24.3.1", ["chore: a"], ["feat!: x"], "beta", ("auto", None, 0)),  # nothing new
    ("25.0.0-beta.11", "24.3.1", ["chore: a"], ["feat!: x"], "rc", ("prerelease", "25.0.0-rc.1", 0)),
    ("1.0.1-rc.1", "1.0.0", ["feat: y"], ["fix: x"], "rc", ("minor", "1.1.0-rc.1", 2)),
])
def test_auto_on_a_prerelease_line(last, final, since, before, pre_id, expected):
    decision = _line(last, final, since, before, pre_id)
    assert (decision.kind, decision.version and str(decision.version), len(decision.commits)) == expected


def test_auto_on_a_prerelease_line_refuses_a_label_going_backwards():
    with pytest.raises(BadInput, match="prerelease labels only go forwards"):
        _line("2.0.0-rc.1", "1.0.0", ["fix: a"], ["feat!: b"], "beta")


def test_auto_on_a_prerelease_in_the_files_after_a_final_tag():
    tag = tag_history.Release("v1.4.0", V("1.4.0"), "c" * 40)  # bumped to 2.0.0-rc.1 by hand, not tagged yet
    decision = bump.decide("auto", V("2.0.0-rc.1"), tag, log("fix: a"), RULES)  # no line: `last` is the final
    assert (decision.kind, str(decision.version)) == ("release", "2.0.0")


@pytest.mark.parametrize(("full", "core", "last", "expected"), [
    (None, None, None, "0.1.0"),  # nothing anywhere: the initial version
    (None, None, "1.2.3", "1.2.3"),  # no version files: the last tag
    ("1.3.0-rc.1", "1.3.0", "1.2.3", "1.3.0-rc.1"),  # the files' full version, ahead of the tag
    (None, "1.2.3", "1.2.3-rc.1", "1.2.3-rc.1"),  # numeric-only files agree with the tag's core: the tag
    (None, "1.4.0", "1.2.3", "1.4.0"),  # numeric-only files ahead: theirs
])
def test_current_version(full, core, last, expected):
    release = tag_history.Release(f"v{last}", V(last), "c" * 40) if last else None
    assert str(bump.current_version(V(full) if full else None, V(core) if core else None, release, "0.1.0")) \
        == expected


def test_version_files_behind_the_last_tag_are_refused():
    with pytest.raises(BadInput, match="version files say 1.1.0 but HEAD is already past tag v1.2.3"):
        bump.current_version(None, V("1.1.0"), tag_history.Release("v1.2.3", V("1.2.3"), "c" * 40), "0.1.0")


@pytest.mark.parametrize(("builds", "tags", "expected"), [
    ([], 0, 1), ([None, None], 3, 4), ([41, None, 7], 3, 42), ([2], 10, 11),
])
def test_next_build_never_repeats(builds, tags, expected):
    assert bump.next_build(builds, tags) == expected


@pytest.mark.parametrize(("table", "message"), [
    ({"tag_prefix": 1}, "tag_prefix must be a string"),
    ({"zero_major_breaking": "sometimes"}, "zero_major_breaking must be 'minor' or 'major'"),
    ({"files": {"path": "x"}}, r"\[\[versioning.files\]\] must be an array of tables"),
    ({"initial_version": "1.2"}, "not a SemVer 2.0.0 version: '1.2'"),
])
def test_settings_are_checked(table, message):
    with pytest.raises(BadInput, match=message):
        bump.settings({"versioning": table}, "releng.toml")


def test_settings_merge_over_the_defaults():
    s = bump.settings({"versioning": {"tag_prefix": "rel-"}}, "releng.toml")
    assert s == {**bump.DEFAULTS, "tag_prefix": "rel-"}


# ---- the successor rule --------------------------------------------------------------------------------------------

SUCCESSORS = [  # (last, new, a valid release after it, a valid hotfix after it)
    ("1.2.3", "1.2.4", True, True), ("1.2.3", "1.3.0", True, False), ("1.2.3", "2.0.0", True, False),
    ("1.2.3", "1.4.0", False, False), ("1.2.3", "1.2.5", False, False), ("1.2.3", "3.0.0", False, False),
    ("1.2.3", "1.2.3", False, False), ("1.2.3", "1.2.2", False, False), ("1.2.3", "1.2.3-rc.1", False, False),
    ("1.2.3", "1.3.0-rc.1", True, False), ("1.2.3", "1.2.4-rc.1", True, True), ("1.2.3", "1.5.0-rc.1", False, False),
    ("1.3.0-rc.1", "1.3.0", True, True), ("1.3.0-rc.1", "1.3.0-rc.2", True, True), ("1.3.0-rc.1", "2.0.0", True, False),
    ("1.3.0-rc.1", "1.4.0", False, False), ("1.3.0-rc.2", "1.3.0-rc.1", False, False),
    ("1.3.0-rc.2", "1.3.0", True, True), ("1.3.1-rc.1", "1.4.0", True, False), ("0.9.9", "1.0.0", True, False),
    ("1.2.3", "1.2.4+build.5", True, True),  # build metadata plays no part
]


@pytest.mark.parametrize(("last", "new", "ok", "hotfix_ok"), SUCCESSORS)
def test_is_successor(last, new, ok, hotfix_ok):
    assert bump.is_successor(V(last), V(new)) is ok
    assert bump.is_successor(V(last), V(new), hotfix=True) is hotfix_ok


@pytest.mark.parametrize(
    ("last", "new", "ok"),
    [("1.2.3", "1.2.4", True), ("1.2.3", "1.3.0", True), ("1.2.3", "2.0.0", True), ("1.2.3", "1.4.0", False),
     ("1.2.3", "1.2.5", False), ("1.2.3", "1.2.3", False), ("1.2.3", "1.2.2", False),
     ("1.2.3", "1.3.0-rc.1", True), ("1.2.3", "1.5.0-rc.1", False), ("1.3.0-rc.1", "1.3.0", True),
     ("1.3.0-rc.1", "1.3.0-rc.2", True), ("1.3.0-rc.1", "2.0.0", True), ("1.3.0-rc.1", "1.4.0", False),
     ("1.3.0-rc.2", "1.3.0-rc.1", False)],
)
def test_check_successor(last, new, ok):
    if ok:
        bump.check_successor(semver.parse(last), semver.parse(new))
    else:
        with pytest.raises(BadInput):
            bump.check_successor(semver.parse(last), semver.parse(new))


def test_check_successor_says_why():
    bump.check_successor(None, V("7.0.0"))  # no release tag yet: anything goes
    with pytest.raises(BadInput, match=r"1\.2\.2 would not be newer than the last release tag's 1\.2\.3"):
        bump.check_successor(V("1.2.3"), V("1.2.2"))
    with pytest.raises(BadInput, match=r"1\.4\.0 would skip a version after 1\.2\.3 \(next is one of 1\.2\.4, "
                                       r"1\.3\.0, 2\.0\.0, or a prerelease of one\)"):
        bump.check_successor(V("1.2.3"), V("1.4.0"))


@pytest.mark.parametrize(("last", "hotfix", "expected"), [
    ("1.2.3", False, ["1.2.4", "1.3.0", "2.0.0"]), ("1.2.3", True, ["1.2.4"]),
    ("1.3.0-rc.1", False, ["1.3.0", "1.3.0", "2.0.0"]), ("2.0.0-beta.1", False, ["2.0.0", "2.0.0", "2.0.0"]),
])
def test_next_releases(last, hotfix, expected):
    assert [str(v) for v in bump.next_releases(V(last), hotfix=hotfix)] == expected


_NUMBERS = st.integers(min_value=0, max_value=20)
_PRERELEASE = st.one_of(st.just(()), st.tuples(st.sampled_from(["alpha", "beta", "rc"]), st.integers(1, 5)))
VERSIONS = st.builds(semver.Version, _NUMBERS, _NUMBERS, _NUMBERS, _PRERELEASE)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS)
def test_a_successor_is_newer_a_hotfix_successor_is_a_successor_and_the_check_agrees(last, new):
    ok = bump.is_successor(last, new)
    assert not ok or new > last
    assert ok or not bump.is_successor(last, new, hotfix=True)
    try:
        bump.check_successor(last, new)
    except BadInput:
        assert not ok
    else:
        assert ok


@settings(max_examples=300, deadline=None)
@given(VERSIONS, st.sampled_from(["alpha", "beta", "rc"]))
def test_the_next_releases_and_their_first_prereleases_follow_and_skipping_one_does_not(last, label):
    for hotfix in (False, True):
        for nxt in bump.next_releases(last, hotfix=hotfix):
            assert bump.is_successor(last, nxt, hotfix=hotfix)
            pre = semver.Version(nxt.major, nxt.minor, nxt.patch, (label, 1))
            assert bump.is_successor(last, pre, hotfix=hotfix) is (pre > last)
    for skipped in (semver.Version(last.major, last.minor, last.patch + 2),
                    semver.Version(last.major, last.minor + 2, 0), semver.Version(last.major + 2, 0, 0)):
        assert not bump.is_successor(last, skipped)


_KINDS = st.sampled_from(["major", "minor", "patch", "prerelease", "release"])
_LABELS = st.sampled_from([None, "alpha", "beta", "rc"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_KINDS, _LABELS), min_size=1, max_size=25),
       st.sampled_from(["0.1.0", "1.2.3", "1.3.0-beta.1", "2.0.0-rc.1"]))
def test_any_bump_sequence_goes_strictly_up_and_never_skips(steps, start):
    current = semver.parse(start)
    for kind, label in steps:
        try:
            new = bump.next_version(current, kind, label)
        except BadInput:
            continue  # a release of a release, or a label going backwards: refused, never wrong
        assert new > current
        bump.check_successor(current, new)  # raises on a skip
        current = new


_BEFORE = st.lists(st.sampled_from(["feat: a", "fix: b", "feat!: c", "chore: d", "docs: e"]), max_size=4)


@settings(max_examples=400, deadline=None)
@given(VERSIONS.filter(lambda v: not v.is_prerelease), st.sampled_from(bump.RELEASE_BUMPS),
       st.sampled_from(["alpha", "beta", "rc"]), st.integers(1, 12), _BEFORE, _BEFORE,
       st.sampled_from([None, "alpha", "beta", "rc"]))
def test_auto_on_any_prerelease_line(final, opened, label, n, before, since, pre_id):
    """Whatever the line and the commits: a valid successor of the prerelease, never below its core; final exactly
    without --pre-id; the core itself whenever the commits since the final release ask for no more than it."""
    core = semver.bump(final, opened)
    last = semver.Version(core.major, core.minor, core.patch, (label, n))
    try:
        decision = _line(str(last), str(final), since, before, pre_id)
    except BadInput:
        assert pre_id is not None and pre_id < label  # a label going backwards, refused
        return
    kind, _ = bump.infer_bump(log(*since, *before), RULES, final)
    wanted = bump.next_version(final, kind, None) if kind else core
    if decision.version is None:
        assert pre_id == label and bump.infer_bump(log(*since), RULES, last)[0] is None
        return
    new = decision.version
    assert new > last and new.core >= core
    bump.check_successor(last, new)
    assert new.is_prerelease is (pre_id is not None)
    assert new.core == max(wanted, core)
    if pre_id is None and wanted <= core:
        assert (decision.kind, new) == ("release", core)
