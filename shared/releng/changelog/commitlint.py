"""Check a commit message against Conventional Commits 1.0.0 and the project's rules; suggest a corrected one.

`releng.commits` answers "what does this commit mean" and is lenient; this module is strict and says exactly what
is wrong, for lint-commit (every commit, through a hook) and for any script that vets a range of history. It
takes a message already cleaned the way git commits it (`releng.changelog.commit_message.cleanup`) and the settings of
`releng.changelog.settings`. It is written with plain string methods, without `re` or `dataclasses`: their imports
alone would cost more than the whole check, and the hook must start in about the time of `python -c pass`.
Anything `check` accepts, `releng.commits.parse` parses to the same type, scope, `!` and description (tested).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs more than a check
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# Subjects git and forges write for merges; the same list as releng.commits.is_merge (tested).
MERGE_PREFIXES = ("Merge branch ", "Merge pull request ", "Merge remote-tracking ", "Merge tag ", "Merge commit ",
                  "Merge branches ")
AUTOSQUASH = ("fixup! ", "squash! ", "amend! ")
GIT_REVERTS = ('Revert "', 'Reapply "')  # git's revert subjects, as releng.commits.revert_target reads (tested)
BREAKING_TOKENS = ("BREAKING CHANGE", "BREAKING-CHANGE")
_TOKEN_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN_CHARS = _TOKEN_START | frozenset("0123456789-")
_TYPE_CHARS = _TOKEN_CHARS | frozenset("_")
# Words people write for a type, mapped to ours.
TYPE_ALIASES = {
    "feature": "feat", "features": "feat", "bugfix": "fix", "bug": "fix", "hotfix": "fix", "fixes": "fix",
    "doc": "docs", "documentation": "docs", "tests": "test", "testing": "test", "refactoring": "refactor",
    "performance": "perf", "chores": "chore", "deps": "build", "dependencies": "build", "release": "chore",
    "formatting": "style", "format": "style", "deprecated": "deprecate", "reverts": "revert",
}
# The first words of non-conventional subjects ("Add a knob"), mapped to the type they suggest.
VERBS = {
    "add": "feat", "added": "feat", "adds": "feat", "new": "feat", "implement": "feat", "introduce": "feat",
    "support": "feat", "allow": "feat", "enable": "feat", "fixed": "fix", "fixing": "fix", "correct": "fix",
    "repair": "fix", "resolve": "fix", "patch": "fix", "document": "docs", "readme": "docs",
    "rename": "refactor", "move": "refactor", "clean": "refactor", "cleanup": "refactor", "simplify": "refactor",
    "speed": "perf", "optimize": "perf", "optimise": "perf", "bump": "build", "upgrade": "build",
    "lint": "style", "delete": "remove", "drop": "remove",
}
# Footer tokens git and forges write: when they trail the body without a blank line, the footer is misplaced.
TRAILERS = frozenset(t.lower() for t in (
    "Signed-off-by", "Co-authored-by", "Reviewed-by", "Acked-by", "Tested-by", "Reported-by", "Helped-by",
    "Suggested-by", "Refs", "Ref", "Closes", "Close", "Fixes", "Fix", "Resolves", "See-also", "Change-Id",
    "BREAKING CHANGE", "BREAKING-CHANGE"))
SPEC = "https://www.conventionalcommits.org/en/v1.0.0/"
_SHOW = 160  # characters of a line quoted in a report


def exempt(header: str, lint: Mapping[str, Any]) -> str | None:
    """'merge', 'revert' or 'autosquash' when the config lets this header through unchecked, else None."""
    if header.startswith(MERGE_PREFIXES) and lint.get("allow_merge", True):
        return "merge"
    if header.startswith(GIT_REVERTS) and header.endswith('"') and lint.get("allow_revert", True):
        return "revert"
    if header.startswith(AUTOSQUASH) and lint.get("allow_autosquash", True):
        return "autosquash"
    return None


def check(message: str, cfg: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The problems of a cleaned message (none: valid) and a corrected example built from it (None if valid)."""
    lines = message.rstrip("\n").split("\n") if message.strip() else []
    if not lines:
        return ["the message is empty"], "feat(scope): describe the change"
    lint = cfg["lint"]
    header = lines[0]
    if exempt(header, lint) is not None:
        return [], None
    problems: list[str] = []
    if header.startswith(MERGE_PREFIXES):
        problems.append("merge commits are not allowed here (lint.allow_merge: false)")
    elif header.startswith(AUTOSQUASH):
        problems.append("fixup!/squash!/amend! commits are not allowed here (lint.allow_autosquash: false): "
                        "squash them first (git rebase -i --autosquash)")
        header = header.split(" ", 1)[1]
    elif header.startswith(GIT_REVERTS) and header.endswith('"'):
        problems.append("git's 'Revert \"...\"' and 'Reapply \"...\"' subjects are not allowed here "
                        "(lint.allow_revert: false)")
        header = f"revert: {header[8:-1]}" if header.startswith("Revert") else f"revert: reapply {header[8:]}"
    new_header = _check_header(header, cfg, problems)
    body = lines[1:]
    first = 2
    if body and body[0] != "":
        problems.append("no blank line between the header and the body (line 2)")
        body.insert(0, "")
        first = 1
    body = _check_footers(body, problems, first)
    if not problems:
        return [], None
    return problems, "\n".join([new_header, *body])


def _check_header(header: str, cfg: Mapping[str, Any], problems: list[str]) -> str:
    """Append the header's problems; return a corrected header."""
    lint = cfg["lint"]
    allowed = sorted({*cfg["types"], *lint["extra_types"]})
    typ, scope, bang, desc, shape = _split(header, allowed)
    if shape:
        problems.append(shape)
    if not typ:
        if not shape:
            problems.append("the header must start with a type")
    elif typ.lower() in allowed:
        if typ != typ.lower():
            problems.append(f"type '{typ}' must be lower case ('{typ.lower()}')")
    else:
        problems.append(f"unknown type '{_cut(typ, 40)}' (allowed: {', '.join(allowed)})")
    new_type = typ.lower() if typ.lower() in allowed else _guess(typ, desc, allowed)
    if scope is not None:
        scope = scope.strip()
        scopes = lint["scopes"]
        if not scope:
            problems.append("empty scope '()': name a scope or drop the parentheses")
        elif scopes and scope not in scopes:
            problems.append(f"scope '{_cut(scope, 40)}' not allowed (allowed: {', '.join(scopes)})")
            scope = _closest(scope.lower(), scopes)
    desc = desc.strip()
    if not desc:
        problems.append("empty description after ': '")
        desc = "describe the change"
    elif not typ and desc[1:2].islower():
        desc = desc[:1].lower() + desc[1:]  # "Add a knob" -> "feat: add a knob"
    prefix = f"{new_type}({scope})" if scope else new_type
    new = f"{prefix}{'!' if bang else ''}: {desc}"
    limit = lint["max_header_length"]
    if len(header) > limit:
        problems.append(f"header is {len(header)} characters, more than {limit}: say the rest in the body")
    if len(new) > limit:
        cut = new.rfind(" ", 0, limit - 2)
        new = (new[:cut] if cut > len(prefix) + 2 else new[:limit - 3]) + "..."
    return new


def _split(header: str, allowed: list[str]) -> tuple[str, str | None, bool, str, str]:
    """(type, scope, bang, description, problem with the shape or ""), read as leniently as a human would.

    The type comes back "" when the header does not look like an attempt at `type(scope): description`.
    """
    n = len(header)
    i = 0
    while i < n and header[i] in _TYPE_CHARS:
        i += 1
    typ, scope, bang, problem = header[:i], None, False, ""
    j = i
    if header[j:j + 1] == " " and header[j:].lstrip()[:1] in ("(", "!"):
        problem = f"no space allowed after the type '{typ}'"
        j = n - len(header[j:].lstrip())
    if header[j:j + 2] == "!(":
        problem, bang, j = "'!' goes after the scope: 'type(scope)!: '", True, j + 1
    if header[j:j + 1] == "(":
        close, colon = header.find(")", j), header.find(":", j)
        if close < 0 or 0 <= colon < close:
            end = colon if colon >= 0 else n
            problem = problem or "unclosed '(' in the scope"
            scope, j = header[j + 1:end], end
        else:
            scope, j = header[j + 1:close], close + 1
            if "(" in scope:
                problem = problem or "a scope may not contain '('"
    if header[j:j + 1] == "!":
        bang, j = True, j + 1
    rest = header[j:]
    if rest.startswith(": "):
        return typ, scope, bang, rest[2:], problem
    if typ and rest.lstrip().startswith(":"):
        after = rest.lstrip()[1:]
        what = "no space allowed before ':'" if rest[:1] == " " else "missing space after ':'"
        return typ, scope, bang, after, problem or (what if after.strip() else "")
    colon = header.find(": ")
    if typ and rest[:1] not in (" ", "") and 0 < colon <= 40 and " " not in header[:colon]:
        if rest[:1] in "/[.," and scope is None:
            scope = header[i + 1:colon].strip("/[]().,_- ") or None
            return typ, scope, bang, header[colon + 2:], f"'{header[:colon]}' is not 'type' or 'type(scope)'"
        return header[:colon], scope, bang, header[colon + 2:], ""
    if typ and (scope is not None or bang or typ.lower() in allowed or typ.lower() in TYPE_ALIASES):
        return typ, scope, bang, rest, problem or f"missing ': ' after '{_cut(header[:j], 40)}'"
    return "", None, False, header, "the header is not 'type: description' or 'type(scope): description'"


def _guess(typ: str, desc: str, allowed: list[str]) -> str:
    """The type the author probably meant: an alias, a close spelling, the subject's first verb, else 'chore'."""
    word = (typ or desc.strip().split(" ", 1)[0]).lower().strip(".,:;!")
    near = _closest(word, allowed, 1 if len(word) <= 4 else 2)
    for candidate in (TYPE_ALIASES.get(word), VERBS.get(word), near):
        if candidate and candidate in allowed:
            return candidate
    return "chore" if "chore" in allowed else allowed[0]


def _closest(word: str, choices: list[str], limit: int = 99) -> str:
    """The choice nearest to `word` by edit distance (a prefix counts as 1); "" if none is within `limit`."""
    best, best_d = "", limit + 1
    for c in choices:
        prefix = len(word) >= 3 and (word.startswith(c.lower()) or c.lower().startswith(word))
        d = 1 if prefix else _distance(word, c.lower())
        if d < best_d:
            best, best_d = c, d
    return best


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit ("feta" -> "feat"), as typos go."""
    if len(a) > 40 or len(b) > 40:
        return max(len(a), len(b))
    two_back: list[int] = []
    before = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(before[j] + 1, row[j - 1] + 1, before[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], two_back[j - 2] + 1)
        two_back, before = before, row
    return before[-1]


def footer_shape(line: str) -> tuple[str, str, str] | None:
    """(token, separator, value) of a line shaped like a footer, however malformed its token; else None.

    The separator is ": " or " #" (spec item 8), or ":" for a token followed by no space or nothing.
    """
    for sep in (": ", " #"):
        at = line.find(sep)
        if 0 < at <= 60:
            words = line[:at].split(" ")
            if len(words) <= 3 and all(w and w[0] in _TOKEN_START and set(w) <= _TOKEN_CHARS for w in words):
                return line[:at], sep, line[at + len(sep):]
    at = line.find(":")
    if 0 < at <= 60 and line[at + 1:at + 2] not in (" ", "/") and line[0] in _TOKEN_START and \
            set(line[:at]) <= _TOKEN_CHARS:
        return line[:at], ":", line[at + 1:]
    return None


def is_footer(line: str) -> bool:
    """A well-formed footer line (spec items 8-10): `Token: value` or `Token #value`."""
    shape = footer_shape(line)
    return shape is not None and shape[1] != ":" and (" " not in shape[0] or shape[0] == "BREAKING CHANGE")


def _check_footers(body: list[str], problems: list[str], first: int) -> list[str]:
    """Append the problems of the lines after the header (body[k] is line k + first); return them corrected."""
    out = list(body)
    blanks = [k for k, line in enumerate(body) if line == ""]
    last = blanks[-1] + 1 if blanks else 0
    paragraph = body[last:]
    shapes = [footer_shape(line) for line in paragraph]
    in_footer = bool(paragraph) and (is_footer(paragraph[0]) or None not in shapes and any(
        is_footer(line) or "-".join(shape[0].split(" ")).lower() in TRAILERS
        for line, shape in zip(paragraph, shapes, strict=True) if shape is not None))
    after_breaking = False
    for k, line in enumerate(body):
        where = f"line {k + first}"
        if line[:20].upper().startswith(BREAKING_TOKENS):
            fixed = _breaking(line, where, problems)
            if fixed is not None:
                out[k], after_breaking = fixed, True
                continue
        if not in_footer or k < last:
            continue
        shape = shapes[k - last]
        if shape is None or is_footer(line):
            after_breaking = after_breaking and shape is None
            continue
        token, sep, value = shape
        if after_breaking or not token[:1].isupper():
            continue  # prose inside a multi-line footer value
        if sep == ":" and not value.strip():
            problems.append(f"footer '{_cut(token, 40)}' has no value ({where})")
            out[k] = f"{token}: <value>"
        elif sep == ":":
            problems.append(f"footer '{_cut(token, 40)}' needs ': ' or ' #' after its token ({where})")
            out[k] = f"{token}: {value}"
        else:
            fixed_token = "-".join(token.split(" "))
            problems.append(f"bad footer token '{token}': use '-' for spaces ('{fixed_token}') ({where})")
            out[k] = f"{fixed_token}{sep}{value}"
    if paragraph and not in_footer and len(paragraph) > 1:
        tail = len(paragraph)
        while tail > 1 and is_footer(paragraph[tail - 1]) and \
                (footer_shape(paragraph[tail - 1]) or ("",))[0].lower() in TRAILERS:
            tail -= 1
        if tail < len(paragraph):
            where = f"line {last + tail + first}"
            problems.append(f"footer '{_cut(paragraph[tail], 40)}' must follow a blank line ({where})")
            out.insert(last + tail, "")
    return out


def _breaking(line: str, where: str, problems: list[str]) -> str | None:
    """Check a line opening with BREAKING CHANGE in any case; None when it is prose ("Breaking changes are...")."""
    token, rest = line[:15], line[15:]
    plural = rest[:1] in ("s", "S")
    if plural:
        rest = rest[1:]
    colon = rest.lstrip().startswith(":")
    if not colon and token != token.upper():
        return None
    fixed = token.upper()
    value = rest.lstrip()[1:].strip() if colon else rest.strip(" -#")
    if token != fixed:
        problems.append(f"breaking change token '{token}' must be upper case: '{fixed}' ({where})")
    if plural:
        problems.append(f"write '{fixed}: ', not '{token}{line[15]}' ({where})")
    elif token == fixed and not rest.startswith(": "):
        problems.append(f"'{fixed}' must be followed by ': ' and the description ({where})")
    if not value:
        problems.append(f"empty {fixed} description ({where})")
        value = "describe what breaks and how to migrate"
    return f"{fixed}: {value}"


def _cut(text: str, width: int = _SHOW) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def report(problems: list[str], example: str | None, header: str) -> str:
    """The multi-line explanation lint-commit prints for a rejected message."""
    lines = ["commit message rejected:", *(f"  - {p}" for p in problems), f"  header: {_cut(header)}"]
    if example is not None:
        shown = example.split("\n")
        lines.append("a corrected example:")
        lines += [f"  {_cut(line)}".rstrip() for line in shown[:8]]
        if len(shown) > 8:
            lines.append("  ...")
    lines.append(f"(Conventional Commits 1.0.0: {SPEC})")
    return "\n".join(lines) + "\n"
