"""releng.commits: Conventional Commits 1.0.0 parsing, with the spec's own examples first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from releng import commits
from releng.commits import Footer

# https://www.conventionalcommits.org/en/v1.0.0/#examples, verbatim.
SPEC_EXAMPLES = {
    "description and breaking change footer": (
        "feat: allow provided config object to extend other configs\n"
        "\n"
        "BREAKING CHANGE: `extends` key in config file is now used for extending other config files\n"
    ),
    "! to draw attention to breaking change": "feat!: send an email to the customer when a product is shipped\n",
    "scope and ! to draw attention to breaking change":
        "feat(api)!: send an email to the customer when a product is shipped\n",
    "both ! and BREAKING CHANGE footer": (
        "chore!: drop support for Node 6\n"
        "\n"
        "BREAKING CHANGE: use JavaScript features not available in Node 6.\n"
    ),
    "no body": "docs: correct spelling of CHANGELOG\n",
    "scope": "feat(lang): add Polish language\n",
    "multi-paragraph body and multiple footers": (
        "fix: prevent racing of requests\n"
        "\n"
        "Introduce a request id and a reference to latest request. Dismiss\n"
        "incoming responses other than from latest request.\n"
        "\n"
        "Remove timeouts which were used to mitigate the racing issue but are\n"
        "obsolete now.\n"
        "\n"
        "Reviewed-by: Z\n"
        "Refs: #123\n"
    ),
    "revert": "revert: let us never again speak of the noodle incident\n\nRefs: 676104e, a215868\n",
}

EXPECTED = {
    "description and breaking change footer": dict(
        type="feat", scope=None, bang=False,
        description="allow provided config object to extend other configs", body="",
        footers=(Footer("BREAKING CHANGE",
                        "`extends` key in config file is now used for extending other config files"),),
        breaking=True,
        breaking_text="`extends` key in config file is now used for extending other config files",
    ),
    "! to draw attention to breaking change": dict(
        type="feat", scope=None, bang=True, description="send an email to the customer when a product is shipped",
        body="", footers=(), breaking=True,
        breaking_text="send an email to the customer when a product is shipped",
    ),
    "scope and ! to draw attention to breaking change": dict(
        type="feat", scope="api", bang=True, description="send an email to the customer when a product is shipped",
        body="", footers=(), breaking=True,
        breaking_text="send an email to the customer when a product is shipped",
    ),
    "both ! and BREAKING CHANGE footer": dict(
        type="chore", scope=None, bang=True, description="drop support for Node 6", body="",
        footers=(Footer("BREAKING CHANGE", "use JavaScript features not available in Node 6."),),
        breaking=True, breaking_text="use JavaScript features not available in Node 6.",
    ),
    "no body": dict(type="docs", scope=None, bang=False, description="correct spelling of CHANGELOG", body="",
                    footers=(), breaking=False, breaking_text=None),
    "scope": dict(type="feat", scope="lang", bang=False, description="add Polish language", body="", footers=(),
                  breaking=False, breaking_text=None),
    "multi-paragraph body and multiple footers": dict(
        type="fix", scope=None, bang=False, description="prevent racing of requests",
        body=(
            "Introduce a request id and a reference to latest request. Dismiss\n"
            "incoming responses other than from latest request.\n"
            "\n"
            "Remove timeouts which were used to mitigate the racing issue but are\n"
            "obsolete now."
        ),
        footers=(Footer("Reviewed-by", "Z"), Footer("Refs", "#123")),
        breaking=False, breaking_text=None,
    ),
    "revert": dict(type="revert", scope=None, bang=False,
                   description="let us never again speak of the noodle incident", body="",
                   footers=(Footer("Refs", "676104e, a215868"),), breaking=False, breaking_text=None),
}


@pytest.mark.parametrize("name", list(SPEC_EXAMPLES))
def test_spec_examples(name: str) -> None:
    c = commits.parse(SPEC_EXAMPLES[name])
    assert c is not None
    got = dict(type=c.type, scope=c.scope, bang=c.bang, description=c.description, body=c.body,
               footers=c.footers, breaking=c.breaking, breaking_text=c.breaking_text)
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", list(SPEC_EXAMPLES))
def test_spec_examples_with_crlf(name: str) -> None:
    lf = commits.parse(SPEC_EXAMPLES[name])
    crlf = commits.parse(SPEC_EXAMPLES[name].replace("\n", "\r\n"))
    assert crlf == lf
    assert crlf is not None and "\r" not in crlf.body + crlf.description + "".join(f.value for f in crlf.footers)


def test_footer_values_are_case_insensitive_by_token() -> None:
    c = commits.parse(SPEC_EXAMPLES["multi-paragraph body and multiple footers"])
    assert c is not None
    assert c.footer_values("refs") == ["#123"]
    assert c.footer_values("REVIEWED-BY", "Refs") == ["Z", "#123"]
    assert c.footer_values("Closes") == []


@pytest.mark.parametrize(
    ("message", "token", "value", "sep"),
    [
        ("fix: x\n\nFixes #42\n", "Fixes", "42", " #"),
        ("fix: x\n\nCloses #7", "Closes", "7", " #"),
        ("fix: x\n\nRefs: #123", "Refs", "#123", ": "),
        ("fix: x\n\nAcked-by: A <a@b>", "Acked-by", "A <a@b>", ": "),
    ],
)
def test_footer_separators(message: str, token: str, value: str, sep: str) -> None:
    c = commits.parse(message)
    assert c is not None
    assert c.footers == (Footer(token, value, sep),)
    assert c.body == ""


def test_footer_value_spanning_several_lines() -> None:
    c = commits.parse(
        "feat: x\n\nbody\n\n"
        "BREAKING CHANGE: the config moved\n  to a new place\n  and was renamed\n"
        "Refs: #1\n  #2\n"
    )
    assert c is not None
    assert c.body == "body"
    assert c.footers == (Footer("BREAKING CHANGE", "the config moved\n  to a new place\n  and was renamed"),
                         Footer("Refs", "#1\n  #2"))


@pytest.mark.parametrize("token", ["BREAKING CHANGE", "BREAKING-CHANGE"])
def test_breaking_change_tokens(token: str) -> None:
    c = commits.parse(f"fix: x\n\n{token}: the API changed")
    assert c is not None
    assert c.breaking and not c.bang
    assert c.breaking_text == "the API changed"
    assert c.footers == (Footer(token, "the API changed"),)


@pytest.mark.parametrize("footer", ["breaking change: no", "Breaking Change: no", "BREAKING CHANGES: no",
                                    "BREAKING_CHANGE: no", "breaking-change: no", "BREAKING CHANGE - no"])
def test_breaking_change_must_be_uppercase_and_exact(footer: str) -> None:
    c = commits.parse(f"fix: x\n\n{footer}")
    assert c is not None
    assert not c.breaking
    assert c.breaking_text is None


def test_lowercase_breaking_change_is_body_not_footer() -> None:
    c = commits.parse("fix: x\n\nbreaking change: not really")
    assert c is not None
    assert c.body == "breaking change: not really"
    assert c.footers == ()


def test_breaking_text_prefers_the_footer_over_the_description() -> None:
    c = commits.parse("feat!: short\n\nBREAKING CHANGE: long explanation")
    assert c is not None and c.breaking_text == "long explanation"


def test_body_paragraph_that_looks_like_a_footer() -> None:
    message = "fix: x\n\nIntro paragraph.\n\nNote: this is not a footer\n\nbecause more body follows.\n"
    c = commits.parse(message)
    assert c is not None
    assert c.footers == ()
    assert c.body == "Intro paragraph.\n\nNote: this is not a footer\n\nbecause more body follows."


def test_footer_like_body_then_real_footers() -> None:
    c = commits.parse("fix: x\n\nNote: body\n\nstill body\n\nRefs: #9\nReviewed-by: Z")
    assert c is not None
    assert c.body == "Note: body\n\nstill body"
    assert c.footers == (Footer("Refs", "#9"), Footer("Reviewed-by", "Z"))


def test_breaking_change_footer_keeps_the_following_paragraphs() -> None:
    c = commits.parse(
        "feat: new config\n\nWhy we did it.\n\n"
        "BREAKING CHANGE: `extends` is gone.\n\nMigrate by renaming it to `base`\nin every file.\n"
    )
    assert c is not None
    assert c.body == "Why we did it."
    assert c.breaking_text == "`extends` is gone.\n\nMigrate by renaming it to `base`\nin every file."


def test_a_code_fence_in_a_breaking_change_note_holds_no_footers() -> None:
    c = commits.parse(
        "feat: yaml config\n\nBREAKING CHANGE: the config is YAML now:\n\n```yaml\ngain: 0.5\n\nceiling: 0\n```\n\n"
        "Refs: #12\n"
    )
    assert c is not None
    assert c.breaking_text == "the config is YAML now:\n\n```yaml\ngain: 0.5\n\nceiling: 0\n```"
    assert c.footer_values("Refs") == ["#12"]  # after the fence, footers again


@pytest.mark.parametrize(("message", "expected"), [
    (f'Revert "feat: x"\n\nThis reverts commit {"a" * 40}.', ["a" * 40]),
    (f"revert(git): x\r\n\r\nThis reverts commit {'B' * 12}.\r\n", ["b" * 12]),  # any subject; lowercased
    (f"revert: x\n\nThis reverts commit {'1' * 40}.\nThis reverts commit {'2' * 7}.", ["1" * 40, "2" * 7]),
    ("revert: x\n\nRefs: 1234567", []),  # footers are history's business
    ("revert: x\n\nThis reverts commit 123456.", []),  # too short to name a commit
])
def test_reverted_shas(message: str, expected: list[str]) -> None:
    assert commits.reverted_shas(message) == expected


def test_non_breaking_footer_followed_by_prose_is_body() -> None:
    c = commits.parse("feat: x\n\nRefs: #1\n\nSome prose after it.")
    assert c is not None
    assert c.footers == ()
    assert c.body == "Refs: #1\n\nSome prose after it."


def test_blank_line_with_spaces_separates_paragraphs() -> None:
    c = commits.parse("fix: x\n\nbody text\n  \t\nRefs: #5")
    assert c is not None
    assert c.body == "body text"
    assert c.footers == (Footer("Refs", "#5"),)


@pytest.mark.parametrize(
    ("message", "type_", "scope", "bang", "description"),
    [
        ("FEAT: shout", "feat", None, False, "shout"),
        ("Fix(Parser): mixed", "fix", "Parser", False, "mixed"),
        ("feat(): empty scope", "feat", None, False, "empty scope"),
        ("feat( ui ): padded scope", "feat", "ui", False, "padded scope"),
        ("feat(ui/knob)!: slash scope", "feat", "ui/knob", True, "slash scope"),
        ("build_sys: underscore type", "build_sys", None, False, "underscore type"),
        ("feat:  two spaces  ", "feat", None, False, "two spaces"),
        ("\n\nfeat: leading blank lines", "feat", None, False, "leading blank lines"),
        ("feat: colon: in description", "feat", None, False, "colon: in description"),
        ("feat: ünïcödé description", "feat", None, False, "ünïcödé description"),
    ],
)
def test_headers(message: str, type_: str, scope: str | None, bang: bool, description: str) -> None:
    c = commits.parse(message)
    assert c is not None
    assert (c.type, c.scope, c.bang, c.description) == (type_, scope, bang, description)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "\n",
        "feat:",
        "feat: ",
        "feat:   \n\nbody",
        "feat:no space",
        "feat : space before colon",
        "feat(scope):no space",
        "feat(scope: unclosed",
        "feat(a)(b): two scopes",
        "feat!!: two bangs",
        "!: no type",
        "(scope): no type",
        "1feat: digit first",
        "fëat: non-ascii type",
        "Update the README",
        "feat\n\n: description on the next line",
        "Merge branch 'main' into feature",
        'Revert "feat: x"',
        "fixup! feat: x",
    ],
)
def test_not_conventional(message: str) -> None:
    assert commits.parse(message) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Merge branch 'feature' into main", True),
        ("Merge pull request #12 from org/branch\n\nfeat: thing", True),
        ("Merge remote-tracking branch 'origin/main'", True),
        ("Merge tag 'v1.0.0'", True),
        ("Merge commit 'abc123'", True),
        ("Merge branches 'a' and 'b'", True),
        ("  Merge branch 'x'  \n", True),
        ("Merged the two code paths", False),
        ("merge branch 'x'", False),
        ("feat: Merge branch support", False),
        ("", False),
    ],
)
def test_is_merge(message: str, expected: bool) -> None:
    assert commits.is_merge(message) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("fixup! feat: x", True),
        ("squash! fix: y\n\nmore", True),
        ("amend! feat: x", True),
        ("fixup!feat: x", False),
        ("feat: fixup! later", False),
        ("Fixup! feat: x", False),
    ],
)
def test_is_autosquash(message: str, expected: bool) -> None:
    assert commits.is_autosquash(message) is expected


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f'Revert "feat: add knob"\n\nThis reverts commit {SHA}.\n', (SHA, "feat: add knob")),
        (f'Revert "feat: add knob"\r\n\r\nThis reverts commit {SHA}.\r\n', (SHA, "feat: add knob")),
        (f'Revert "Revert "feat: x""\n\nThis reverts commit {SHA[:12]}.', (SHA[:12], 'Revert "feat: x"')),
        ('Revert "fix: y"', (None, "fix: y")),
        (f'Revert "fix: y"\n\nThis reverts commit {SHA.upper()}.', (SHA.upper(), "fix: y")),
        ("revert: let us never again speak of the noodle incident", (None, None)),
        (f"fix: y\n\nThis reverts commit {SHA}.", (None, None)),
        ('Revert "unterminated', (None, None)),
        ("", (None, None)),
    ],
)
def test_revert_target(message: str, expected: tuple[str | None, str | None]) -> None:
    assert commits.revert_target(message) == expected


def test_subject() -> None:
    assert commits.subject("  feat: x  \nbody") == "feat: x"
    assert commits.subject("") == ""


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=3) | st.sampled_from(
    ["feat", "(", ")", "!", ": ", " #", "\n", "\r\n", "\n\n", "BREAKING CHANGE", "BREAKING-CHANGE", "Refs"],
)).map("".join))
def test_parse_never_raises(text: str) -> None:
    c = commits.parse(text)
    if c is not None:
        assert c.type == c.type.lower() and c.description == c.description.strip() and c.description
        assert isinstance(c.breaking, bool)
    commits.is_merge(text)
    commits.is_autosquash(text)
    commits.revert_target(text)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["feat", "fix", "docs", "chore"]),
    st.one_of(st.none(), st.text("abcxyz-/", min_size=1, max_size=6)),
    st.booleans(),
    st.text("abc xyz.", min_size=1, max_size=20).filter(str.strip),
    st.lists(st.text("abc xyz.", min_size=1, max_size=20).filter(str.strip), max_size=3),
    st.lists(st.tuples(st.sampled_from(["Refs", "Reviewed-by", "BREAKING CHANGE", "Closes"]),
                       st.text("abc12 ", min_size=1, max_size=10).filter(str.strip)), max_size=3),
)
def test_built_messages_parse_back(type_: str, scope: str | None, bang: bool, description: str,
                                   body: list[str], footers: list[tuple[str, str]]) -> None:
    header = f"{type_}{f'({scope})' if scope is not None else ''}{'!' if bang else ''}: {description}"
    parts = [header, *(p.strip() for p in body)]
    if footers:
        parts.append("\n".join(f"{t}: {v.strip()}" for t, v in footers))
    c = commits.parse("\n\n".join(parts) + "\n")
    assert c is not None
    assert (c.type, c.scope, c.bang, c.description) == (type_, scope.strip() or None if scope else None, bang,
                                                        description.strip())
    assert c.body == "\n\n".join(p.strip() for p in body)
    assert c.footers == tuple(Footer(t, v.strip()) for t, v in footers)
    assert c.breaking == (bang or any(t == "BREAKING CHANGE" for t, _ in footers))
