"""releng.changelog.history and .entries on made-up histories: what the golden cases (tests/changelog/cases) don't
pin on their own: tags that are dropped and why, ownership by containment, the section a release being made gets,
what an update writes, reverts by short sha and across releases, and the entry rules one footer at a time."""

from __future__ import annotations

import hashlib

import pytest
from releng import git, keepachangelog, semver
from releng.changelog import entries, history, settings

CFG = entries.rules(settings.load(None))  # the shipped changelog_config.yml
DAY = 86400


class Log:
    """Commits made oldest first (each on the previous one unless told), listed newest first as `git log` does."""

    def __init__(self) -> None:
        self.commits: list[git.LogEntry] = []
        self.tags: list[git.Tag] = []

    def commit(self, message: str, *parents: str) -> str:
        sha = hashlib.sha1(f"{len(self.commits)}:{message}".encode()).hexdigest()
        parents = parents or ((self.commits[-1].sha,) if self.commits else ())
        self.commits.append(git.LogEntry(sha, parents, len(self.commits) * DAY, "A", message))
        return sha

    def tag(self, name: str, commit: str | None = None) -> None:
        sha = commit or self.commits[-1].sha
        when = next(e.timestamp for e in self.commits if e.sha == sha)
        self.tags.append(git.Tag(name, semver.parse(name[1:]), sha, when, True))

    def history(self) -> history.History:
        ordered = sorted(self.tags, key=lambda t: t.version.precedence_key())
        return history.History(reversed(self.commits), lambda: ordered, CFG)


def texts(h: history.History, section: history.Release) -> list[str]:
    return [e["text"] for e in history.entries(h, section.members)]


def sections(h: history.History, target=None, fold=True, today=0) -> dict[str, list[str]]:
    return {s.key: texts(h, s) for s in history.plan(h, target, fold, today)}


# ---- the history and its tags --------------------------------------------------------------------------------------

def test_tags_outside_the_history_or_of_the_same_precedence_are_dropped_with_a_warning():
    log = Log()
    log.commit("feat: one")
    log.tag("v1.0.0")
    log.tag("v1.0.0+build.7")  # the same precedence: build metadata does not count
    log.commit("fix: two")
    log.tags.append(git.Tag("v2.0.0", semver.parse("2.0.0"), "f" * 40, 0, True))  # on another branch
    h = log.history()
    assert [t.name for t in h.tags] == ["v1.0.0"]
    assert h.warnings == ["ignoring tag 'v1.0.0+build.7': same precedence as 'v1.0.0'",
                          "ignoring tag 'v2.0.0': not in the history of HEAD"]


def test_the_tag_listing_is_asked_for_only_once_the_log_is_read():
    log = Log()
    log.commit("feat: one")
    read: list[str] = []

    def commits():
        yield from log.commits
        read.append("log")

    def tags():
        read.append("tags")
        return []

    history.History(commits(), tags, CFG)
    assert read == ["log", "tags"]


def test_merge_commits_make_no_entry_but_their_branches_do():
    log = Log()
    base = log.commit("feat: base")
    side = log.commit("fix: on the branch", base)
    main = log.commit("feat: on main", base)
    log.commit("Merge branch 'topic'", main, side)
    h = log.history()
    assert h.entries[0] is None and len(h.entries) == 4
    assert sections(h) == {"unreleased": ["on main", "on the branch", "base"]}


def test_commits_belong_to_the_lowest_release_that_contains_them():
    log = Log()
    base = log.commit("feat: base")
    log.tag("v1.0.0")
    side = log.commit("fix: old branch", base)  # made before v1.1.0, merged after it
    log.commit("feat: main work", base)
    log.tag("v1.1.0")
    main = log.commits[-1].sha
    log.commit("Merge branch 'old'", main, side)
    log.tag("v1.2.0")
    h = log.history()
    assert sections(h) == {"unreleased": [], "1.2.0": ["old branch"], "1.1.0": ["main work"], "1.0.0": ["base"]}
    assert h.owners() == [2, 1, 2, 0]  # newest first: the merge, main work, the branch's fix, base


def test_stale_is_an_untagged_version_older_than_the_latest_tag():
    log = Log()
    log.commit("feat: one")
    log.tag("v1.0.0")
    log.tag("v1.2.0")
    h = log.history()
    assert h.stale(semver.parse("1.1.0"))
    assert not h.stale(semver.parse("1.0.0"))  # tagged: its section is rewritten where it is
    assert not h.stale(semver.parse("1.3.0"))
    assert not Log().history().stale(semver.parse("0.1.0"))  # no tags at all


# ---- the plan ------------------------------------------------------------------------------------------------------

def _released() -> Log:
    log = Log()
    log.commit("feat: gain")
    log.tag("v0.1.0")
    log.commit("fix: clicks")
    log.tag("v0.2.0-rc.1")
    log.commit("feat(ui): meter")
    log.tag("v0.2.0")
    log.commit("feat: sidechain")
    return log


def test_sections_link_to_the_one_below_and_prereleases_fold():
    planned = history.plan(_released().history(), None, True)
    assert [(s.key, s.tag, s.previous, s.folded) for s in planned] == [
        ("unreleased", None, "v0.2.0", set()), ("0.2.0", "v0.2.0", "v0.1.0", {"0.2.0-rc.1"}),
        ("0.1.0", "v0.1.0", None, set())]
    assert planned[1].date == "1970-01-03"  # the release's own tag date, not its prerelease's


def test_unfolded_prereleases_are_sections_of_their_own():
    planned = history.plan(_released().history(), None, False)
    assert [(s.key, s.previous) for s in planned] == [
        ("unreleased", "v0.2.0"), ("0.2.0", "v0.2.0-rc.1"), ("0.2.0-rc.1", "v0.1.0"), ("0.1.0", None)]


def test_a_release_being_made_takes_the_untagged_commits_dated_today():
    h = _released().history()
    planned = history.plan(h, (semver.parse("0.3.0"), "v0.3.0"), True, today=20_000 * DAY)
    assert [(s.key, s.tag, s.date, s.previous) for s in planned[:2]] == [
        ("unreleased", None, None, "v0.3.0"), ("0.3.0", "v0.3.0", "2024-10-04", "v0.2.0")]
    assert texts(h, planned[0]) == [] and texts(h, planned[1]) == ["sidechain"]


def test_a_release_already_tagged_is_its_tag_section():
    h = _released().history()
    planned = history.plan(h, (semver.parse("0.2.0"), "v0.2.0"), True, today=20_000 * DAY)
    assert [s.key for s in planned] == ["unreleased", "0.2.0", "0.1.0"]
    assert planned[1].date == "1970-01-03" and texts(h, planned[0]) == ["sidechain"]


def test_a_prerelease_folds_into_the_release_being_made():
    log = _released()
    log.tag("v0.3.0-rc.1")
    log.commit("fix: late")
    h = log.history()
    planned = history.plan(h, (semver.parse("0.3.0"), "v0.3.0"), True, today=0)
    assert [(s.key, s.folded) for s in planned[:2]] == [("unreleased", set()), ("0.3.0", {"0.3.0-rc.1"})]
    assert texts(h, planned[1]) == ["late", "sidechain"]


def test_to_write_keeps_what_the_file_has_and_adds_new_releases_only():
    h = _released().history()
    planned = history.plan(h, None, True)
    old = keepachangelog.parse("# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 1970-01-01\n\n- gain\n")
    assert [s.key for s in history.to_write(planned, None, old)] == ["unreleased", "0.2.0"]
    newer = keepachangelog.parse("# Changelog\n\n## [0.2.0] - 1970-01-03\n")  # starts after 0.1.0: kept out
    assert [s.key for s in history.to_write(planned, None, newer)] == ["unreleased"]
    assert [s.key for s in history.to_write(planned, semver.parse("0.1.0"), newer)] == ["unreleased", "0.1.0"]
    assert [s.key for s in history.to_write(planned, None, keepachangelog.EMPTY)] == ["unreleased", "0.2.0",
                                                                                        "0.1.0"]


def test_versions_are_the_changes_document_entries():
    h = _released().history()
    planned = history.plan(h, None, True)
    versions = history.versions(h, planned)
    assert [(v["version"], v["tag"], v["previous_tag"], v["url"]) for v in versions] == [
        ("Unreleased", None, "v0.2.0", None), ("0.2.0", "v0.2.0", "v0.1.0", None), ("0.1.0", "v0.1.0", None, None)]
    assert [e["category"] for e in versions[1]["entries"]] == ["Added", "Fixed"]


# ---- reverts -------------------------------------------------------------------------------------------------------

def test_reverted_finds_gits_form_and_the_conventional_form():
    sha = "a" * 40
    assert history.reverted(f'Revert "feat: x"\n\nThis reverts commit {sha}.\n') == [sha]
    assert history.reverted("revert: x\n\nRefs: 1234567, 89abcdef0\n") == ["1234567", "89abcdef0"]
    assert history.reverted("revert: x\n\nno footer\n") == []
    assert history.reverted("fix: x\n\nRefs: 1234567\n") == []  # only a revert reverts


def test_a_revert_by_short_sha_cancels_within_the_release_only():
    log = Log()
    kept = log.commit("feat: kept")
    log.tag("v1.0.0")
    gone = log.commit("feat: gone")
    log.commit(f"revert: drop it\n\nRefs: {gone[:8]}")
    log.commit(f'Revert "feat: kept"\n\nThis reverts commit {kept}.')  # released: the revert is news
    h = log.history()
    assert sections(h) == {"unreleased": ['Revert "kept"'], "1.0.0": ["kept"]}


REAPPLY = ['Revert "Revert "feat: midi learn""', 'Reapply "feat: midi learn"']  # git's before and since 2.43


@pytest.mark.parametrize("subject", REAPPLY)
def test_a_revert_of_a_revert_brings_the_original_back(subject):
    log = Log()
    original = log.commit("feat: midi learn")
    first = log.commit(f'Revert "feat: midi learn"\n\nThis reverts commit {original}.')
    log.commit(f"{subject}\n\nThis reverts commit {first}.")
    assert sections(log.history()) == {"unreleased": ["midi learn"]}


def test_a_reapply_of_a_revert_from_elsewhere_lists_what_it_brings_back():
    log = Log()  # the revert it reverts is not in this history (another branch, or a squashed one)
    log.commit(f'Reapply "feat(midi): learn mode"\n\nThis reverts commit {"e" * 40}.')
    log.commit(f'Revert "feat: arp"\n\nThis reverts commit {"d" * 40}.')
    assert [(e["category"], e["scope"], e["text"]) for e in history.entries(log.history(), [0, 1])] == [
        ("Removed", None, 'Revert "arp"'), ("Added", "midi", "learn mode")]  # newest first


@pytest.mark.parametrize("subject", ["revert(git): handle a detached HEAD", "revert: handle a detached HEAD",
                                     'Revert "fix(git): handle a detached HEAD"'])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_every_form_of_revert_cancels_in_its_release_and_is_news_after_it(subject, eol):
    log = Log()
    fix = log.commit("fix(git): handle a detached HEAD")
    log.commit(eol.join([subject, "", f"This reverts commit {fix}.", ""]))
    assert sections(log.history()) == {"unreleased": []}  # the same release: both gone
    log.tag("v1.0.0", fix)
    got = history.entries(log.history(), [0])
    assert [(e["category"], e["scope"], e["text"], e["type"], e["commit"]) for e in got] == [
        ("Changed", "git", 'Revert "handle a detached HEAD"', "revert", log.commits[-1].sha)]


def test_a_revert_of_a_feature_released_two_versions_before_removes_it():
    log = Log()
    feat = log.commit("feat(ui): add the meter")
    log.tag("v1.0.0")
    log.commit("fix: other")
    log.tag("v1.1.0")
    log.commit(f"revert: add the meter\n\nThis reverts commit {feat[:9]}.\n\nCloses #7")
    h = log.history()
    assert [(e["category"], e["scope"], e["text"], e["refs"]) for e in history.entries(h, [0])] == [
        ("Removed", "ui", 'Revert "add the meter"', [])]  # the revert's own entry is hidden: no refs of its own
    log.commit("revert: feat(ui): add the meter again")  # no sha: read from the header it quotes
    assert [e["text"] for e in history.entries(log.history(), [0])] == ['Revert "add the meter again"']


@pytest.mark.parametrize("subject", REAPPLY)
@pytest.mark.parametrize(("revert_released", "expected"), [
    (True, {"unreleased": ["midi learn"], "1.1.0": ['Revert "midi learn"'], "1.0.0": ["midi learn"]}),
    (False, {"unreleased": [], "1.0.0": ["midi learn"]}),  # undone in its release: 1.0.0's feature is as it was
])
def test_a_revert_of_a_revert_is_news_only_when_the_revert_was_released(subject, revert_released, expected):
    log = Log()
    feat = log.commit("feat: midi learn")
    log.tag("v1.0.0")
    first = log.commit(f'Revert "feat: midi learn"\n\nThis reverts commit {feat}.')
    if revert_released:
        log.tag("v1.1.0")
    log.commit(f"{subject}\n\nThis reverts commit {first}.")
    assert sections(log.history()) == expected


def test_a_revert_of_a_hidden_or_unknown_commit_makes_no_entry():
    log = Log()
    docs = log.commit("docs: explain")
    log.tag("v1.0.0")
    log.commit(f"revert: explain\n\nThis reverts commit {docs}.")
    log.commit(f"revert: something from elsewhere\n\nThis reverts commit {'e' * 40}.")
    assert sections(log.history())["unreleased"] == []


def test_find_takes_full_and_short_shas_and_prefers_the_release_of_the_revert():
    log = Log()
    shas = [log.commit(f"fix: {n}") for n in range(3)]
    h = log.history()
    assert h.find(shas[0]) == 2 and h.find(shas[1][:7]) == 1 and h.find(shas[2][:12]) == 0
    assert h.find("0" * 40) is None and h.find(shas[0][:6]) is None  # too short to trust
    h.shas[1] = shas[0][:7] + "0" * 33  # two commits with one short sha: the one in the release wins
    h._short = None
    assert h.find(shas[0][:7], {1}) == 1 and h.find(shas[0][:7], {2}) == 2


def test_tags_outside_the_history_are_one_warning():
    log = Log()
    log.commit("feat: one")
    log.tag("v1.0.0")
    log.tags += [git.Tag(f"v0.9.{n}", semver.parse(f"0.9.{n}"), "f" * 40, 0, True) for n in range(35)]
    h = log.history()
    assert h.warnings == ["ignoring 35 tags not in the history of HEAD (on other branches): 'v0.9.34', 'v0.9.33', "
                          "'v0.9.32' and 32 more"]
    assert history.not_in_history(["v1", "v2"]) == \
        "ignoring 2 tags not in the history of HEAD (on other branches): 'v2', 'v1'"


# ---- several messages in one commit (changelog.squashed_commits) ---------------------------------------------------

SQUASHED = entries.rules({**CFG, "changelog": {**CFG["changelog"], "squashed_commits": True}})
GITHUB_SQUASH = """feat(ui): the preset browser (#41)

* feat(ui): list the presets

* fix(ui): scroll to the selection
  It jumped to the top.

  Closes #39

* docs: explain it

- feat!: open presets by double click

BREAKING CHANGE: a single click only selects.

---------

Co-authored-by: Ada <ada@audiolab.dev>
"""
OVERRIDE = """chore: merge the DSP work (#42)

Some words.

BEGIN_COMMIT_OVERRIDE
feat(dsp): add the oversampling switch

fix(dsp): denormals on ARM
Closes #40
END_COMMIT_OVERRIDE
"""


@pytest.mark.parametrize(("message", "expected"), [
    (GITHUB_SQUASH, [("Added", "ui", "the preset browser (#41)", False, [41]),
                     ("Added", "ui", "list the presets", False, [41]),
                     ("Fixed", "ui", "scroll to the selection", False, [39, 41]),
                     ("Added", None, "open presets by double click", True, [41])]),
    (GITHUB_SQUASH.replace("\n", "\r\n"), [("Added", "ui", "the preset browser (#41)", False, [41]),
                                            ("Added", "ui", "list the presets", False, [41]),
                                            ("Fixed", "ui", "scroll to the selection", False, [39, 41]),
                                            ("Added", None, "open presets by double click", True, [41])]),
    (OVERRIDE, [("Added", "dsp", "add the oversampling switch", False, []),
                ("Fixed", "dsp", "denormals on ARM", False, [40])]),
    ("chore: x\n\nBEGIN_COMMIT_OVERRIDE\nnot conventional\nEND_COMMIT_OVERRIDE", []),  # the block decides
    ("fix: plain\n\nA body that says fix: nothing.", [("Fixed", None, "plain", False, [])]),
    ("feat: x (#5)\n\n* feat: x (#5)", [("Added", None, "x (#5)", False, [5])]),  # the same entry once
    ("just words\n\n* fix: inside", [("Fixed", None, "inside", False, [])]),
])
def test_split(message, expected):
    got = entries.split("c" * 40, message, SQUASHED)
    assert [(e["category"], e["scope"], e["text"], e["breaking"], e["refs"]) for e in got] == expected
    assert {e["commit"] for e in got} <= {"c" * 40}
    if got and got[-1]["breaking"]:
        assert got[-1]["breaking_text"] == "a single click only selects."  # the trailers are not the note


def test_squashed_commits_are_off_by_default_and_every_entry_lands_in_its_release():
    log = Log()
    log.commit(GITHUB_SQUASH)
    log.commit(OVERRIDE)
    assert sections(log.history()) == {"unreleased": ["the preset browser (#41)"]}  # one entry a commit
    h = history.History(reversed(log.commits), list, SQUASHED)
    assert sections(h) == {"unreleased": ["add the oversampling switch", "denormals on ARM",
                                          "the preset browser (#41)", "list the presets", "scroll to the selection",
                                          "open presets by double click"]}
    reverter = Log()
    squash = reverter.commit(GITHUB_SQUASH)
    reverter.commit(f"revert: the browser\n\nThis reverts commit {squash}.")
    assert sections(history.History(reversed(reverter.commits), list, SQUASHED)) == {"unreleased": []}


# ---- one commit's entry --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "expected"), [
    ("feat(ui): meter (#12)", ("Added", "ui", "meter (#12)", False, [12])),
    ("fix: clicks\n\nCloses #3\nRefs: #4, #5", ("Fixed", None, "clicks", False, [3, 4, 5])),
    ("fix: crlf\r\n\r\nresolves #289\r\n", ("Fixed", None, "crlf", False, [289])),
    ("fix: x\n\nCloses #399 #225", ("Fixed", None, "x", False, [399, 225])),
    ("fix: x\r\n\r\nCloses #61, Closes #50\r\n", ("Fixed", None, "x", False, [61, 50])),
    ("fix: x\n\nFixes: 12, #13; (#14)\nRefs: other/repo#8 #9", ("Fixed", None, "x", False, [12, 13, 14, 9])),
    ("fix: x (#3)\n\nFixes #3", ("Fixed", None, "x (#3)", False, [3])),  # once
    ("fix: x\n\nRefs: 1234abc, \u00b2", ("Fixed", None, "x", False, [])),  # a sha, a digit that is no number
    ("docs: hidden", None),
    ("docs!: the manual moved", ("Changed", None, "the manual moved", True, [])),  # hidden type, but breaking
    ("feat: x\n\nChangelog: skip", None),
    ("feat: x\n\nChangelog: A better sentence.", ("Added", None, "A better sentence.", False, [])),
    ("fix: old api\n\nDeprecated: use the new one", ("Deprecated", None, "old api: use the new one", False, [])),
    ("fix: hole\n\nSecurity: yes", ("Security", None, "hole", False, [])),
    ("fix: y\n\nBREAKING CHANGE: presets moved", ("Fixed", None, "y", True, [])),
    ("Merge branch 'x'", None),
    ("fixup! feat: x", None),
    ("just some words", None),  # other_heading is null in the shipped config
])
def test_entry(message, expected):
    e = entries.entry("c" * 40, message, CFG)
    assert (None if e is None else (e["category"], e["scope"], e["text"], e["breaking"], e["refs"])) == expected


def test_breaking_text_comes_from_the_footer_else_the_description():
    assert entries.entry("c" * 40, "fix: y\n\nBREAKING CHANGE: presets moved", CFG)["breaking_text"] == \
        "presets moved"
    assert entries.entry("c" * 40, "feat!: presets v2", CFG)["breaking_text"] == "presets v2"


def test_other_heading_and_configured_footers():
    cfg = entries.rules({**CFG, "footers": {"Removed": "Removed", "Internal": None},
                         "changelog": {**CFG["changelog"], "other_heading": "Other"}})
    assert entries.entry("c" * 40, "tidy the build (#7)", cfg)["category"] == "Other"
    assert entries.entry("c" * 40, "fix: x\n\nRemoved: the old knob", cfg)["category"] == "Removed"
    assert entries.entry("c" * 40, "fix: x\n\nInternal: yes", cfg)["category"] == "Fixed"  # null: no move
    assert "internal" not in cfg["footer_map"] and "removed" in cfg["footer_map"]
