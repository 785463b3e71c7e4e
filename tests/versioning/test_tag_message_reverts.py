"""Issue 13, item 9: the annotated tag bump-version makes lists what the changelog lists; a commit and its revert
inside the release cancel out in both, and a revert of a commit released earlier is listed (nebula-synth, not
examples/plugin)."""

from __future__ import annotations

from releng._scripts.changelog import gen_changelog
from releng._scripts.versioning import bump_version
from testkit import write_nebula

CONFIG = '''[project]
name = "nebula-synth"

[[versioning.files]]
path = "CMakeLists.txt"
format = "cmake"
'''


def test_a_reverted_commit_is_cancelled_in_the_tag_and_the_changelog(make_repo, capsys):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "releng.toml").write_text(CONFIG)
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    old = repo.commit("feat: a drone oscillator")
    repo.tag("v0.3.0")
    kept = repo.commit("fix: voices stay in tune")
    bad = repo.commit("fix: smoother arpeggiator steps")
    repo.commit(f'Revert "fix: smoother arpeggiator steps"\n\nThis reverts commit {bad}.')
    back = repo.commit(f'Revert "feat: a drone oscillator"\n\nThis reverts commit {old}.')
    assert bump_version.main(["--repo", str(repo.path), "auto", "--commit", "--tag", "-q"]) == 0
    message = repo.git("tag", "-l", "--format=%(contents)", "v0.3.1").rstrip("\n") + "\n"
    assert message == (f'Release 0.3.1\n\n- Revert "feat: a drone oscillator" ({back[:8]})\n'
                       f"- fix: voices stay in tune ({kept[:8]})\n")
    assert gen_changelog.main(["--repo", str(repo.path), "-q"]) == 0
    notes = (repo.path / "CHANGELOG.md").read_text().split("## [0.3.0]")[0]
    assert "arpeggiator" not in notes and "voices stay in tune" in notes and "drone oscillator" in notes
