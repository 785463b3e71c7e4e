"""lint-commit: message tables, git's message cleanup, bytes of every kind, --range, the installed hook, and the
real pre-commit consumer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from releng import commits
from releng._scripts.changelog import lint_commit
from releng.changelog import commit_message, commitlint
from releng.changelog import settings as changelog_settings

ROOT = Path(__file__).resolve().parent.parent.parent
SCISSORS = "# ------------------------ >8 ------------------------\n"

# conventionalcommits.org 1.0.0, "Examples", then our own.
VALID = [
    "feat: allow provided config object to extend other configs\n\n"
    "BREAKING CHANGE: `extends` key in config file is now used for extending other config files",
    "feat!: send an email to the customer when a product is shipped",
    "feat(api)!: send an email to the customer when a product is shipped",
    "chore!: drop support for Node 6\n\nBREAKING CHANGE: use JavaScript features not available in Node 6.",
    "docs: correct spelling of CHANGELOG",
    "feat(lang): add Polish language",
    "fix: prevent racing of requests\n\nIntroduce a request id and a reference to latest request. Dismiss\n"
    "incoming responses other than from latest request.\n\nRemove timeouts which were used to mitigate the racing "
    "issue but are\nobsolete now.\n\nReviewed-by: Z\nRefs: #123",
    "revert: let us never again speak of the noodle incident\n\nRefs: 676104e, a215868",
    "feat: x\n# a comment git drops\n",
    "# Please enter the commit message for your changes.\nfeat: x\n",
    "feat: x\n\nbody\n\n" + SCISSORS + "# Do not modify or remove the line above.\ndiff --git a/f b/f\nnot: valid",
    "feat: x\r\n\r\nbody with CRLF\r\n\r\nRefs: #1\r\n",
    "\n\n  \nfeat: x   \n\n\n\nbody\t\n\n\n",
    "Merge branch 'feature/knob' into main",
    "Merge pull request #12 from audiolab/knob\n\nfeature knob",
    "Merge remote-tracking branch 'origin/main'",
    'Revert "feat: add a knob"\n\nThis reverts commit 1234567890abcdef1234567890abcdef12345678.',
    "fixup! feat: add a knob",
    "squash! fix: y\n\nmore words",
    "amend! feat: add a knob\n\nfeat: add a better knob",
    "feat: x\n\nSigned-off-by: A U Thor <author@example.com>",
    "fix(ui): réparer le bouton ✓\n\nBREAKING-CHANGE: le bouton a changé",
    "perf(dsp): vectorise the gain loop\n\nBreaking changes are not expected: the API is the same.",
    "feat(ui,dsp): two scopes",
    "feat: x\n\nBREAKING CHANGE: the old API is gone.\n\nMigrate like this: call new().\nThe api: removed",
    "feat: x\n\nThis is why: because it was slow.",
    "security: escape the preset names",
    "feat: " + "x" * 94,  # exactly 100 characters
]

# (message, a problem, the corrected header or message)
INVALID = [
    ("feature(ui) add knob", "unknown type 'feature' (allowed: build, chore, ci, deprecate, docs, feat, fix,",
     "feat(ui): add knob"),
    ("feature(ui) add knob", "missing ': ' after 'feature(ui)'", "feat(ui): add knob"),
    ("Add a knob", "the header is not 'type: description'", "feat: add a knob"),
    ("fix the knob", "missing ': ' after 'fix'", "fix: the knob"),
    ("feat:add knob", "missing space after ':'", "feat: add knob"),
    ("fix : add knob", "no space allowed before ':'", "fix: add knob"),
    ("feat:", "empty description after ': '", "feat: describe the change"),
    ("Feat: x", "type 'Feat' must be lower case ('feat')", "feat: x"),
    ("feta: x", "unknown type 'feta'", "feat: x"),
    ("feat!(api): x", "'!' goes after the scope", "feat(api)!: x"),
    ("feat(): x", "empty scope '()'", "feat: x"),
    ("feat(ui: x", "unclosed '(' in the scope", "feat(ui): x"),
    ("feat/ui: x", "'feat/ui' is not 'type' or 'type(scope)'", "feat(ui): x"),
    ("feat: " + "x" * 111, "header is 117 characters, more than 100", "feat: " + "x" * 91 + "..."),
    ("feat: x\nbody", "no blank line between the header and the body (line 2)", "feat: x\n\nbody"),
    ("feat: x\n\nbreaking change: y", "breaking change token 'breaking change' must be upper case",
     "feat: x\n\nBREAKING CHANGE: y"),
    ("feat: x\n\nBREAKING CHANGES: y", "write 'BREAKING CHANGE: ', not 'BREAKING CHANGES'",
     "feat: x\n\nBREAKING CHANGE: y"),
    ("feat: x\n\nBREAKING CHANGE - y", "'BREAKING CHANGE' must be followed by ': '", "feat: x\n\nBREAKING CHANGE: y"),
    ("feat: x\n\nReviewed by: Z\nRefs #12", "bad footer token 'Reviewed by': use '-' for spaces",
     "feat: x\n\nReviewed-by: Z\nRefs #12"),
    ("feat: x\n\nRefs:#12", "footer 'Refs' needs ': ' or ' #'", "feat: x\n\nRefs: #12"),
    ("feat: x\n\nCloses:", "footer 'Closes' has no value", "feat: x\n\nCloses: <value>"),
    ("feat: x\n\nThe fix.\nRefs: #12", "footer 'Refs: #12' must follow a blank line (line 4)",
     "feat: x\n\nThe fix.\n\nRefs: #12"),
    ("", "the message is empty", "feat(scope): describe the change"),
    ("# only\n# comments\n", "the message is empty", "feat(scope): describe the change"),
    ("WIP", "the header is not", "chore: WIP"),
]


@pytest.fixture(autouse=True)
def repo(git_repo, monkeypatch):
    """Every test runs in a fresh repository with the shipped defaults (never the checkout's own config)."""
    monkeypatch.chdir(git_repo.path)
    monkeypatch.delenv("GIT_EDITOR", raising=False)
    return git_repo


def _file(tmp_path: Path, data: str | bytes, name: str = "COMMIT_EDITMSG") -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


@pytest.mark.parametrize("message", VALID)
def test_valid_messages(message, tmp_path, capsys):
    assert lint_commit.main([_file(tmp_path, message)]) == 0, capsys.readouterr().err
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("message", "problem", "fixed"), INVALID)
def test_invalid_messages_name_the_problem_and_a_fix(message, problem, fixed, tmp_path, capsys):
    assert lint_commit.main([_file(tmp_path, message)]) == 1
    err = capsys.readouterr().err
    assert problem in err
    example = err.split("a corrected example:\n", 1)[1].split("\n(", 1)[0]
    assert "\n".join(line[2:] for line in example.splitlines()) == fixed
    cleaned = commit_message.cleanup(fixed)
    if "<value>" not in fixed and "..." not in fixed:
        assert commitlint.check(cleaned, changelog_settings.load(None)) == ([], None), "the example must pass"


def test_report_layout(tmp_path, capsys):
    path = _file(tmp_path, "feature(ui) add knob\n")
    assert lint_commit.main([path]) == 1
    assert capsys.readouterr().err == (
        "commit message rejected:\n"
        "  - missing ': ' after 'feature(ui)'\n"
        "  - unknown type 'feature' (allowed: build, chore, ci, deprecate, docs, feat, fix, perf, refactor, "
        "remove, revert, security, style, test)\n"
        "  header: feature(ui) add knob\n"
        "a corrected example:\n"
        "  feat(ui): add knob\n"
        "(Conventional Commits 1.0.0: https://www.conventionalcommits.org/en/v1.0.0/)\n"
        f"(your message is kept: `git commit -e -F {path}` edits it again)\n")


@pytest.mark.parametrize(("config", "message", "rc", "problem"), [
    ('[changelog_config.lint]\nscopes = ["ui", "dsp"]', "feat(xyz): x", 1,
     "scope 'xyz' not allowed (allowed: ui, dsp)"),
    ('[changelog_config.lint]\nscopes = ["ui", "dsp"]', "feat(ui): x", 0, ""),
    ('[changelog_config.lint]\nscopes = ["ui", "dsp"]', "feat: no scope is fine", 0, ""),
    ('[changelog_config.lint]\nextra_types = ["wip"]', "wip: x", 0, ""),
    ('[changelog_config.types]\nhotfix = "Fixed"', "hotfix: x", 0, ""),
    ('[changelog_config.lint]\nmax_header_length = 20', "feat: twenty-one chars", 1, "more than 20"),
    ('[changelog_config.lint]\nallow_merge = false', "Merge branch 'x'", 1, "merge commits are not allowed"),
    ('[changelog_config.lint]\nallow_revert = false', 'Revert "feat: x"', 1, "lint.allow_revert: false"),
    ('[changelog_config.lint]\nallow_revert = false', 'Reapply "feat: x"', 1, 'revert: reapply "feat: x"'),
    ("", 'Reapply "feat: x"', 0, ""),  # git 2.43+'s revert of a revert, let through like its `Revert "..."`
    ('[changelog_config.lint]\nallow_autosquash = false', "fixup! feat: x", 1, "rebase -i --autosquash"),
])
def test_repository_rules(repo, tmp_path, capsys, config, message, rc, problem):
    repo.write("releng.toml", config + "\n")
    assert lint_commit.main([_file(tmp_path, message)]) == rc
    assert problem in capsys.readouterr().err


def test_scope_suggestion_uses_allowed_scopes(repo, capsys):
    repo.write("releng.toml", '[changelog_config.lint]\nscopes = ["ui", "dsp"]\n')
    assert lint_commit.main(["--message", "feat(dps): x"]) == 1
    assert "  feat(dsp): x\n" in capsys.readouterr().err


def test_bad_repository_config_is_a_usage_error(repo, tmp_path, capsys):
    repo.write("releng.toml", "[changelog_config.lint]\nscopes = 3\n")
    assert lint_commit.main([_file(tmp_path, "feat: x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lint.scopes must be a list") and err.count("\n") == 1


# --- bytes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "rc", "problem"), [
    (b"", 1, "the message is empty"),
    (b"\n\n \n", 1, "the message is empty"),
    (b"feat: caf\xe9\n", 1, "not valid UTF-8 (byte 0xe9 at offset 9)"),
    (b"\xef\xbb\xbffeat: x\n", 1, "byte order mark"),
    (b"feat: x\n\x00\x01\x02binary", 1, "NUL byte (offset 8)"),
    (bytes(range(256)) * 64, 1, "NUL byte (offset 0)"),
    (b"\xff\xfe\xfd" * 1000, 1, "not valid UTF-8"),
    (b"feat: x\n\n" + b"a line of body text that goes on\n" * 160_000, 0, ""),  # 5 MB, valid
    (b"feat " + b"x" * 5_000_000, 1, "header is 5000005 characters"),  # 5 MB, one line
    (b"\n".join([b"feat: x", b""] + [b"Refs: #%d" % i for i in range(300_000)]), 0, ""),
])
def test_any_bytes_no_traceback(data, rc, problem, tmp_path, capsys):
    assert lint_commit.main([_file(tmp_path, data)]) == rc
    err = capsys.readouterr().err
    assert problem in err
    assert "Traceback" not in err and len(err) < 5000


def test_non_utf8_is_fine_when_git_is_told(repo, tmp_path):
    repo.git("config", "i18n.commitEncoding", "ISO-8859-1")
    assert lint_commit.main([_file(tmp_path, b"feat: caf\xe9\n")]) == 0


@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
@settings(max_examples=300, deadline=None)
def test_fuzz_never_raises(data):
    cfg = changelog_settings.load(None)
    problems, example, _ = lint_commit.lint(data, cfg)
    assert (example is None) == (not problems)


_PIECES = list("feat(ui)!: xX#\n\r\t-é") + ["feat", "fix(", "BREAKING CHANGE", "Refs #12", "\n\n", ": "]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
@settings(max_examples=1000, deadline=None)
def test_what_the_linter_accepts_the_parser_reads_the_same(text):
    cfg = changelog_settings.load(None)
    message = commit_message.cleanup(text)
    problems, _ = commitlint.check(message, cfg)
    header = message.split("\n", 1)[0]
    if problems or commitlint.exempt(header, cfg["lint"]):
        return
    parsed = commits.parse(message)
    assert parsed is not None
    typ, scope, bang, desc, shape = commitlint._split(header, commitlint_types(cfg))
    assert (parsed.type, parsed.scope, parsed.bang, parsed.description) == (
        typ, scope.strip() if scope else None, bang, desc.strip())


def test_exemptions_agree_with_the_parser():
    for prefix in commitlint.MERGE_PREFIXES:
        assert commits.is_merge(prefix + "x")
    assert not commits.is_merge("Merged the branch") and not commitlint.exempt("Merged x", {})
    for prefix in commitlint.AUTOSQUASH:
        assert commits.is_autosquash(prefix + "feat: x")
    for prefix in commitlint.GIT_REVERTS:  # git 2.43+ writes `Reapply "x"` for a revert of `Revert "x"`
        assert commits.revert_target(f'{prefix}feat: x"')[1] == "feat: x"
        assert commitlint.exempt(f'{prefix}feat: x"', {}) == "revert"
    assert set(commitlint.BREAKING_TOKENS) == set(commits.BREAKING_TOKENS)


def commitlint_types(cfg):
    return changelog_settings.allowed_types(cfg)


# --- git's cleanup: comment char, scissors, editor ------------------------------------------------------------

def test_comment_char_from_repository_config(repo, tmp_path):
    repo.git("config", "core.commentChar", ";")
    assert lint_commit.main([_file(tmp_path, "; a comment\nfeat: x\n\n#123 is kept\n")]) == 0
    assert lint_commit.main([_file(tmp_path, "# not a comment now\nfeat: x\n")]) == 1
    assert lint_commit.main([_file(tmp_path, "feat: x\n\n; ------------------------ >8 ------------------------\n"
                                              "bad stuff\n")]) == 0


def test_comment_char_from_git_c(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.commentchar'='%'")
    assert lint_commit.main([_file(tmp_path, "% note\nfeat: x\n")]) == 0


def test_comment_char_auto(repo, tmp_path):
    repo.git("config", "core.commentChar", "auto")
    assert lint_commit.main([_file(tmp_path, "feat: x\n\n#1 stays\n\n; Please enter the message\n;\n")]) == 0
    assert lint_commit.main([_file(tmp_path, "feat: x\n\n# Please enter\n#\n")]) == 0


def test_cheap_path_reads_no_git(repo):
    """With no config mentioning comments, the comment string is known without a git process."""
    assert not commit_message._may_configure_comment(commit_message.find_repo()[1])
    repo.git("config", "core.commentChar", ";")
    assert commit_message._may_configure_comment(commit_message.find_repo()[1])


@pytest.mark.parametrize("text", ["", "feat: x\n", "#\n", "a\n\n\n\nb\n", "x\r\n", SCISSORS, "feat: x\n" + SCISSORS])
def test_cleanup_matches_git_stripspace(text):
    proc = subprocess.run(["git", "stripspace", "--strip-comments"], input=text.encode(), capture_output=True,
                          check=True)
    expected = proc.stdout.decode()
    if SCISSORS in text:  # git stripspace knows no scissors; git commit -v cuts there first
        expected = subprocess.run(["git", "stripspace", "--strip-comments"], capture_output=True, check=True,
                                  input=text.split(SCISSORS)[0].encode()).stdout.decode()
    assert commit_message.cleanup(text) == expected


@given(st.text(alphabet=st.sampled_from("ab #;\n\r\t"), max_size=60))
@settings(max_examples=300, deadline=None)
def test_cleanup_matches_git_stripspace_fuzz(text):
    if SCISSORS.strip() in text:
        return
    for flag, comment in (("--strip-comments", "#"), (None, None)):
        args = ["git", "stripspace", *([flag] if flag else [])]
        expected = subprocess.run(args, input=text.encode(), capture_output=True, check=True).stdout.decode()
        assert commit_message.cleanup(text, comment) == expected


# --- entry forms ----------------------------------------------------------------------------------------------

def test_message_and_stdin(capsys, monkeypatch):
    assert lint_commit.main(["--message", "feat: x"]) == 0
    assert lint_commit.main(["--message", "# kept as with -m\n\nfeat: x"]) == 1
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"fix: y\n# c\n")))
    assert lint_commit.main(["-"]) == 0


@pytest.mark.parametrize(("argv", "err"), [
    (["missing.txt"], "error: message file not found (missing.txt)\n"),
    (["."], "error: message file is a directory (.)\n"),
    (["--message", "x", "--range", "HEAD"], "not allowed with argument"),
    ([], "one of the arguments MSGFILE --message --range --install-hook is required"),
    (["--force", "--message", "feat: x"], "--force goes with --install-hook"),
    (["--repo", "/nonexistent", "--message", "feat: x"], "error: not a directory (/nonexistent)"),
    (["--range", "nope..HEAD"], "error: git log:"),
])
def test_usage_errors(argv, err, capsys):
    try:
        rc = lint_commit.main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    assert err in capsys.readouterr().err


@pytest.mark.parametrize("form", ["command", "script"])
def test_help_and_exit_codes_both_ways(form, command, script, tmp_path, repo):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        if form == "command":
            return command("lint-commit", *args, cwd=repo.path)
        return script("changelog", "lint_commit", *args, cwd=repo.path)

    help_ = run("--help")
    assert help_.returncode == 0 and help_.stdout.startswith("usage: lint-commit")
    assert "Conventional Commits 1.0.0" in help_.stdout
    assert run(_file(tmp_path, "feat: x\n")).returncode == 0
    bad = run(_file(tmp_path, "feature x\n"))
    assert (bad.returncode, bad.stdout) == (1, "") and "unknown type 'feature'" in bad.stderr
    assert run(str(tmp_path / "missing")).returncode == 2
    binary = run(_file(tmp_path, bytes(range(256)) * 4096))
    assert binary.returncode == 1 and "Traceback" not in binary.stderr


# --- --range --------------------------------------------------------------------------------------------------

def test_range_reports_each_bad_commit(repo, capsys):
    base = repo.commit("chore: initial")
    repo.commit("feat(ui): add knob")
    bad1 = repo.commit("Add a meter")
    repo.commit("Merge branch 'topic'")
    bad2 = repo.commit("fix: y\nno blank line")
    repo.commit("fix: z\n\n# a body line kept: it is in git's history")
    assert lint_commit.main(["--range", f"{base}..HEAD"]) == 1
    err = capsys.readouterr().err
    assert f"{bad1[:12]} Add a meter\n" in err and f"{bad2[:12]} fix: y\n" in err
    assert "    a corrected example:\n      feat: add a meter\n" in err
    assert err.count("commit message rejected") == 2
    assert err.endswith(f"2 of 5 commits in {base}..HEAD rejected\n")
    assert lint_commit.main(["--range", f"{base}..{base}"]) == 0
    assert "no commits" in capsys.readouterr().err
    assert lint_commit.main(["--range", f"{base}..HEAD~4"]) == 0
    assert capsys.readouterr().err == f"1 commits in {base}..HEAD~4: all valid\n"


def test_range_uses_one_git_log_process(repo, monkeypatch):
    base = repo.commit("chore: initial")
    for i in range(30):
        repo.commit(f"feat: {i}")
    import subprocess as sp

    calls: list[list[str]] = []
    real = sp.Popen.__init__

    def spy(self, args, *a, **k):
        calls.append(list(args))
        real(self, args, *a, **k)

    monkeypatch.setattr(sp.Popen, "__init__", spy)
    assert lint_commit.main(["--range", f"{base}..HEAD"]) == 0
    assert sum("log" in c for c in calls) == 1 and len(calls) <= 3


# --- --install-hook, then real commits ------------------------------------------------------------------------

def _commit(repo, message: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args, "commit", "--allow-empty", "-m", message], cwd=repo.path,
                          capture_output=True, text=True)


def test_install_hook_then_real_commits(repo, capsys):
    assert lint_commit.main(["--install-hook", "--repo", str(repo.path)]) == 0
    hook = repo.path / ".git" / "hooks" / "commit-msg"
    assert hook.stat().st_mode & 0o777 == 0o755
    assert f"exec '{sys.executable}' '{ROOT / 'changelog' / 'lint_commit.py'}' \"$1\"" in hook.read_text()
    bad = _commit(repo, "feature(ui) add knob")
    assert bad.returncode != 0 and "feat(ui): add knob" in bad.stderr
    assert repo.git("rev-list", "--all", "--count", "--", ".").strip() in ("", "0")
    assert _commit(repo, "feat(ui): add knob").returncode == 0
    assert _commit(repo, "# Heading\nfeat: x").returncode != 0  # -m keeps '#' lines: git would commit it
    assert _commit(repo, "fix: y\n\n#12 was the issue").returncode == 0
    assert _commit(repo, "fix: z", "-c", "core.commentChar=;").returncode == 0
    assert repo.git("log", "--format=%s").splitlines() == ["fix: z", "fix: y", "feat(ui): add knob"]
    # An editor session: comments and the `commit -v` diff are in the file, git drops them.
    editor = repo.write("editor.sh", "#!/bin/sh\nprintf 'docs: explain the knob\\n' | cat - \"$1\" > \"$1.new\"\n"
                                     "mv \"$1.new\" \"$1\"\n")
    editor.chmod(0o755)
    repo.write("f.txt", "not: a message\n")
    repo.git("add", "f.txt")
    edited = subprocess.run(["git", "commit", "-v"], cwd=repo.path, capture_output=True, text=True,
                            env={**os.environ, "GIT_EDITOR": str(editor)})
    assert edited.returncode == 0, edited.stderr
    assert repo.git("log", "-1", "--format=%B").strip() == "docs: explain the knob"


def test_install_hook_respects_hooks_path_and_foreign_hooks(repo, capsys):
    repo.git("config", "core.hooksPath", "githooks")
    hooks = repo.path / "githooks"
    hooks.mkdir()
    (hooks / "commit-msg").write_text("#!/bin/sh\nexit 0\n")
    assert lint_commit.main(["--install-hook"]) == 2
    assert "not written by lint-commit exists (--force replaces it)" in capsys.readouterr().err
    assert (hooks / "commit-msg").read_text() == "#!/bin/sh\nexit 0\n"
    assert lint_commit.main(["--install-hook", "--force"]) == 0
    assert lint_commit.main(["--install-hook"]) == 0  # ours: rewritten without --force
    assert lint_commit.HOOK_MARK in (hooks / "commit-msg").read_text()
    assert _commit(repo, "nope").returncode != 0
    assert not (repo.path / ".git" / "hooks" / "commit-msg").exists()


def test_hook_in_a_linked_worktree(repo, tmp_path, monkeypatch):
    repo.commit("chore: initial")
    repo.git("config", "core.commentChar", ";")
    assert lint_commit.main(["--install-hook"]) == 0
    wt = tmp_path / "wt"
    repo.git("worktree", "add", "-q", str(wt))
    (wt / "sub").mkdir()
    assert commit_message.find_repo(str(wt / "sub")) == (str(wt), commit_message.git_dir(wt))
    (wt / "releng.toml").write_text('[changelog_config.lint]\nscopes = ["ui"]\n')

    def commit(message: str) -> int:
        return subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=wt).returncode

    assert commit("feat(dsp): x") != 0  # the worktree's own releng.toml
    assert commit("feat(ui): x") == 0
    assert commit("# -m keeps comment lines, as git does\nfeat(ui): y") != 0
    monkeypatch.chdir(wt)  # core.commentChar comes from the config shared by all worktrees
    assert lint_commit.main([_file(tmp_path, "; a comment\nfeat(ui): y\n")]) == 0


def test_install_hook_outside_a_repository(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert lint_commit.main(["--install-hook"]) == 2
    assert "not a git repository" in capsys.readouterr().err


# --- the real pre-commit consumer -----------------------------------------------------------------------------

def _snapshot_of_checkout(dest: Path) -> str:
    """A git repository holding the checkout's working tree as it is now (uncommitted files included)."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for folder in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]:
        if not (dest / folder).exists():  # a script folder with nothing tracked yet: the wheel build needs it
            (dest / folder).mkdir(parents=True)
            (dest / folder / ".keep").write_text("")
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(dest), "commit", "-q", "--no-verify", "-m", "chore: snapshot"], check=True)
    return subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slow
def test_pre_commit_consumer(repo, tmp_path):
    """Any repository uses the hook through pre-commit with `repo:` + `rev:`: refused, then accepted."""
    hook_repo = tmp_path / "releng-snapshot"
    sha = _snapshot_of_checkout(hook_repo)
    repo.write(".pre-commit-config.yaml", f"default_install_hook_types: [commit-msg]\nrepos:\n"
                                          f"  - repo: {hook_repo}\n    rev: {sha}\n    hooks:\n"
                                          f"      - id: lint-commit\n")
    repo.git("add", ".pre-commit-config.yaml")
    pre_commit = Path(sys.executable).parent / "pre-commit"
    subprocess.run([str(pre_commit), "install"], cwd=repo.path, check=True, capture_output=True)
    subprocess.run([str(pre_commit), "install-hooks"], cwd=repo.path, check=True, capture_output=True)
    bad = _commit(repo, "feature(ui) add knob")
    assert bad.returncode != 0
    assert "lint-commit (Conventional Commits)" in bad.stdout + bad.stderr
    assert "  feat(ui): add knob" in bad.stdout + bad.stderr
    good = _commit(repo, "feat(ui): add knob")
    assert good.returncode == 0, good.stdout + good.stderr
    assert repo.git("log", "--format=%s").splitlines() == ["feat(ui): add knob"]
    tried = subprocess.run([str(pre_commit), "try-repo", str(hook_repo), "lint-commit", "--hook-stage",
                            "commit-msg", "--commit-msg-filename", _file(tmp_path, "Add a knob")],
                           cwd=repo.path, capture_output=True, text=True)
    assert tried.returncode == 1 and "feat: add a knob" in tried.stdout


def test_hook_manifests_are_valid():
    pre_commit = Path(sys.executable).parent / "pre-commit"
    subprocess.run([str(pre_commit), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], check=True)
    subprocess.run([str(pre_commit), "validate-config", str(ROOT / ".pre-commit-config.yaml")], check=True)
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [(h["id"], h["entry"], h["language"], h["stages"]) for h in hooks] == [
        ("lint-commit", "lint-commit", "python", ["commit-msg"]),
        ("lint-commit-system", "lint-commit", "system", ["commit-msg"])]
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert {r["repo"] for r in config["repos"]} == {"local"}  # a commit never needs the network
    assert "commit-msg" in config["default_install_hook_types"]


@pytest.mark.parametrize("message", ["feat: x\n# c\n", "feature x\n\nReviewed by: Z\n"])
def test_hook_path_imports_only_what_the_check_needs(repo, tmp_path, message):
    """The commit-msg call must start in about the time of `python -c pass`: no re, typing, argparse, yaml..."""
    heavy = {"re", "typing", "argparse", "dataclasses", "pathlib", "subprocess", "json", "yaml", "tomllib",
             "enum", "collections", "functools", "importlib.metadata", "releng.commits", "releng.config"}
    code = ("import sys\nfrom releng._scripts.changelog import lint_commit\nrc = lint_commit.main([sys.argv[1]])\n"
            f"print(rc, sorted(set(sys.modules) & set({sorted(heavy)!r})))")
    path = _file(tmp_path, message)
    import time

    age = time.time() - os.stat(changelog_settings.defaults_path()).st_mtime
    if age < 3:  # just edited: the config cache waits out git's "racy" window before trusting the file
        time.sleep(3 - age)
    first = subprocess.run([sys.executable, "-c", code, path], cwd=repo.path, capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", code, path], cwd=repo.path, capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr  # the print ran
    rc = "0" if message.startswith("feat:") else "1"
    assert second.stdout.strip() == f"{rc} []"


def _doc_examples() -> tuple[list[str], list[tuple[str, str]]]:
    """changelog/conventional_commits.md's accepted messages (its fenced block: a message starts at a line that
    opens with a lower-case type; a remark after three spaces is not part of it) and its one-line refused ones."""
    text = (ROOT / "changelog" / "conventional_commits.md").read_text()
    block = text.split("Accepted:\n\n```\n", 1)[1].split("```", 1)[0]
    messages: list[list[str]] = []
    for line in block.rstrip("\n").split("\n"):
        if line[:1].islower() and ":" in line:
            messages.append([])
        messages[-1].append(line.split("   ")[0].rstrip())
    refused = []
    for row in text.split("Refused", 1)[1].splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 3 and cells[0].count("`") == 2 and cells[0][0] + cells[0][-1] + cells[2][:1] == "```":
            refused.append((cells[0][1:-1], cells[2][1:-1]))
    return ["\n".join(m).strip() for m in messages], refused


def test_the_convention_document_says_what_lint_commit_does(capsys):
    accepted, refused = _doc_examples()
    assert len(accepted) == 5 and len(refused) == 9
    for message in accepted:
        assert lint_commit.main(["--message", message]) == 0, (message, capsys.readouterr().err)
    for message, fixed in refused:
        assert lint_commit.main(["--message", message]) == 1, message
        err = capsys.readouterr().err
        assert f"a corrected example:\n  {fixed}\n" in err, (message, err)
