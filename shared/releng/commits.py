"""Conventional Commits 1.0.0: parse a commit message into type, scope, `!`, description, body and footers.

The parser is lenient where the linter is strict: it answers "what does this commit mean" for version bumps and
changelogs, and returns None for a message that is not conventional. `lint-commit` reports the exact problems.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Spec items 1-5: type, optional (scope), optional !, ": ", description. Types are case-insensitive (item 15).
HEADER = re.compile(
    r"(?P<type>[A-Za-z][A-Za-z0-9_-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?: (?P<description>.*)",
    re.ASCII,
)
# Spec items 8-9: "Token: value" or "Token #value"; tokens use - for spaces, except BREAKING CHANGE.
FOOTER = re.compile(r"(?P<token>BREAKING[ -]CHANGE|[A-Za-z][A-Za-z0-9-]*)(?P<sep>: | #)(?P<value>.*)")
BREAKING_TOKENS = frozenset({"BREAKING CHANGE", "BREAKING-CHANGE"})
AUTOSQUASH = ("fixup! ", "squash! ", "amend! ")
# git's revert subjects; since 2.43 a revert of a `Revert "x"` is `Reapply "x"`
REVERT = re.compile(r'(?P<verb>Revert|Reapply) "(?P<subject>.*)"\Z', re.DOTALL)
REVERTED_SHA = re.compile(r"This reverts commit (?P<sha>[0-9a-f]{7,64})", re.IGNORECASE)


class Footer(NamedTuple):
    """One `Token: value` (or `Token #value`) footer; a tuple, not a dataclass: a changelog makes 100,000s."""

    token: str
    value: str
    separator: str = ": "


class Commit(NamedTuple):
    """A parsed Conventional Commit (immutable, compared field by field)."""

    type: str
    scope: str | None
    bang: bool
    description: str
    body: str
    footers: tuple[Footer, ...]

    @property
    def breaking(self) -> bool:
        return self.bang or any(f.token in BREAKING_TOKENS for f in self.footers)

    @property
    def breaking_text(self) -> str | None:
        """The BREAKING CHANGE footer's text, else the description of a `!` commit, else None."""
        for f in self.footers:
            if f.token in BREAKING_TOKENS:
                return f.value
        return self.description if self.bang else None

    def footer_values(self, *tokens: str) -> list[str]:
        """Values of footers whose token is one of `tokens`, compared case-insensitively."""
        wanted = {t.lower() for t in tokens}
        return [f.value for f in self.footers if f.token.lower() in wanted]


def subject(message: str) -> str:
    return message.split("\n", 1)[0].strip()


def is_merge(message: str) -> bool:
    """Subjects git and forges write for merges ("Merge branch 'x'", "Merge pull request #1 from ...")."""
    return subject(message).startswith(("Merge branch ", "Merge pull request ", "Merge remote-tracking ",
                                        "Merge tag ", "Merge commit ", "Merge branches "))


def is_reapply(message: str) -> bool:
    """git's revert of a revert (2.43+): `Reapply "x"` brings back what `x` did."""
    return message.startswith('Reapply "')


def is_autosquash(message: str) -> bool:
    return subject(message).startswith(AUTOSQUASH)


def revert_target(message: str) -> tuple[str | None, str | None]:
    """For git's `Revert "subject"` and `Reapply "subject"` commits: (reverted sha from the body, reverted
    subject); else (None, None)."""
    m = REVERT.match(subject(message))
    if m is None:
        return None, None
    sha = REVERTED_SHA.search(message)
    return (sha["sha"] if sha else None), m["subject"]


def reverted_shas(message: str) -> list[str]:
    """Every sha named by a `This reverts commit <sha>` line (git writes one; a squash of reverts holds several),
    lowercased, whatever the subject: `Revert "..."`, `revert: ...` or `revert(scope): ...` alike."""
    return [sha.lower() for sha in REVERTED_SHA.findall(message)]


def parse(message: str) -> Commit | None:
    """Parse a message (already stripped of comments); None when its header is not conventional."""
    text = message.replace("\r\n", "\n").strip("\n")
    header, _, rest = text.partition("\n")
    m = HEADER.fullmatch(header.rstrip())
    if m is None or not m["description"].strip():
        return None
    body, footers = split_body_footers(rest.strip("\n"))
    scope = m["scope"]
    return Commit(
        type=m["type"].lower(),
        scope=scope.strip() or None if scope is not None else None,
        bang=m["bang"] is not None,
        description=m["description"].strip(),
        body=body,
        footers=footers,
    )


def split_body_footers(text: str) -> tuple[str, tuple[Footer, ...]]:
    """Split what follows the header into body and footers (spec items 6-10).

    Footers are the trailing paragraphs that each open with a footer line; a BREAKING CHANGE footer may run on over
    further paragraphs (a migration note), since its value "MAY contain spaces and newlines".
    """
    if not text:
        return "", ()
    paragraphs = re.split(r"\n[ \t]*\n", text)
    opens = [FOOTER.match(p.split("\n", 1)[0]) is not None for p in paragraphs]
    start = len(paragraphs)
    for c in range(len(paragraphs)):
        if opens[c] and _footers_valid_from(c, paragraphs, opens):
            start = c
            break
    body = "\n\n".join(paragraphs[:start]).strip("\n")
    return body, tuple(_parse_footers(paragraphs[start:]))


def _footers_valid_from(c: int, paragraphs: list[str], opens: list[bool]) -> bool:
    breaking_seen = False
    for j in range(c, len(paragraphs)):
        if opens[j]:
            token = FOOTER.match(paragraphs[j])
            breaking_seen = breaking_seen or (token is not None and token["token"] in BREAKING_TOKENS)
        elif not breaking_seen:
            return False
    return True


def _parse_footers(paragraphs: list[str]) -> list[Footer]:
    footers: list[Footer] = []
    token = sep = ""
    lines: list[str] = []
    fenced = False  # inside a code fence of a migration note: `key: value` lines there are the note's, not footers
    for line in "\n\n".join(paragraphs).split("\n"):
        if token and line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else FOOTER.fullmatch(line)
        if m is not None:
            if token:
                footers.append(Footer(token, "\n".join(lines).strip(), sep))
            token, sep, lines = m["token"], m["sep"], [m["value"]]
        else:
            lines.append(line)
    if token:
        footers.append(Footer(token, "\n".join(lines).strip(), sep))
    return footers
