"""The changelog entry one commit makes, or none: category, scope, text, breaking note, issue references.

changelog_config.yml maps commit types and footers to categories (releng.changelog.settings loads it); `rules`
adds what the per-commit code needs precompiled. `entry` runs for every commit of the history (100,000 in well
under a second for gen-changelog), so the common case, a conventional header and no footer that changes the entry,
is decided from the header alone: the footers are parsed only when a cheap search says one may matter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from releng import commits

SKIP = ("skip", "-", "none")  # `Changelog: skip` leaves the commit out
_NUMBER = re.compile(r"(?<![\w/&\[])#(\d+)\b")
# Footers or not; the value keeps a leading "#" (`Closes #1 #2`: both), and `.` stops at "\n" but takes a "\r".
_REFS = re.compile(r"^(?:refs|closes|fixes|resolves)(?=:| #):? *(.*)", re.IGNORECASE | re.MULTILINE)
_OVERRIDE = re.compile(r"^BEGIN_COMMIT_OVERRIDE[ \t]*$(?P<body>.*?)^END_COMMIT_OVERRIDE[ \t]*$",
                       re.MULTILINE | re.DOTALL)  # release-please's block: its messages replace the commit's
_RULE = re.compile(r"^-{3,}[ \t]*$", re.MULTILINE)  # GitHub's squash message: the list, `---------`, the trailers


def rules(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The changelog settings plus what `entry` needs: `hint`, a search for a footer that may change an entry,
    and `footer_map`, footer token (lowercased) -> category."""
    tokens = ["BREAKING[ -]CHANGE", "changelog", *map(re.escape, cfg.get("footers") or {})]
    out = {**cfg, "hint": re.compile(rf"^(?:{'|'.join(tokens)})(?:: | #)", re.IGNORECASE | re.MULTILINE),
           "footer_map": {k.lower(): v for k, v in (cfg.get("footers") or {}).items() if v}, "squashed": None}
    if (cfg.get("changelog") or {}).get("squashed_commits"):
        kinds = sorted({*(cfg.get("types") or {}), *((cfg.get("lint") or {}).get("extra_types") or ())}, key=len)
        out["squashed"] = re.compile(  # a message's header inside a body, bare or as a `* ` / `- ` list item
            rf"^(?:[*-] +)?(?:{'|'.join(map(re.escape, reversed(kinds)))})(?:\([^()\r\n]*\))?!?: \S",
            re.IGNORECASE | re.MULTILINE)
    return out


def entry(sha: str, message: str, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entry one commit makes, or None (`cfg` from `rules`); this runs for every commit, so the common case is
    quick."""
    header, _, rest = message.partition("\n")
    m = commits.HEADER.fullmatch(header.rstrip())
    if m is None or not m["description"].strip():
        return _odd(sha, message, cfg)
    kind, scope, bang, description = m.group("type", "scope", "bang", "description")
    kind, description = kind.lower(), description.strip()
    category = cfg["types"].get(kind)
    footers: tuple[commits.Footer, ...] = ()
    if rest and cfg["hint"].search(rest):  # a footer that changes the entry: parse them all
        footers = commits.split_body_footers(rest.replace("\r\n", "\n").strip("\n"))[1]
    elif category is None and bang is None and kind != "revert":
        return None
    refs = _numbers(description) if "#" in description else []
    text, note, breaking, breaking_text = description, "", bang is not None, None
    for value in _REFS.findall(rest) if "s:" in rest or "S:" in rest or "s #" in rest or "S #" in rest else ():
        refs += _references(value)
    if kind == "revert" and (inner := commits.parse(description)) and cfg["types"].get(inner.type):
        return _revert(inner, sha, refs, cfg)  # `revert: feat(ui): meter`: what git's `Revert "..."` says
    for f in footers:
        token = f.token.lower()
        if f.token in commits.BREAKING_TOKENS:
            breaking, breaking_text = True, breaking_text or f.value
        elif token == "changelog" and f.value.strip():
            if f.value.strip().lower() in SKIP:
                return None
            text = f.value.strip()
        elif token in cfg["footer_map"] and not note:
            category, note = cfg["footer_map"][token], f.value.strip()
    if note and note.lower() not in ("yes", "true", "y"):
        text = f"{text}: {note}"
    if category is None and not breaking:
        return None  # a hidden type; its breaking changes are listed all the same, under Changed
    return _make(category or "Changed", scope.strip() or None if scope else None, text, kind, sha, refs,
                 breaking, (breaking_text or description) if breaking else None)


def _odd(sha: str, message: str, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """Non-conventional commits: git's own reverts, else the `other_heading` category or nothing."""
    if commits.is_merge(message) or commits.is_autosquash(message):
        return None
    types, (_, reverted) = cfg["types"], commits.revert_target(message)
    inner = commits.parse(reverted) if reverted else None
    if reverted and inner and types.get(inner.type):  # it reverts a released commit: a change users see
        # git's revert of a revert (`Reapply "x"`) brings x back: x's own entry
        return entry(sha, reverted, cfg) if commits.is_reapply(message) else _revert(inner, sha, [], cfg)
    category = types.get("revert") if reverted else cfg["changelog"].get("other_heading")
    text = commits.subject(message)
    return _make(category, None, text, None, sha, _numbers(text)) if category else None


def _revert(inner: commits.Commit, sha: str, refs: list[int], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The entry of a revert whose reverted commit is not in the history: from the reverted header it quotes."""
    category = "Removed" if cfg["types"][inner.type] == "Added" else "Changed"
    return _make(category, inner.scope, f'Revert "{inner.description}"', "revert", sha, refs)


def reverting(revert: dict[str, Any] | None, sha: str, reverted: dict[str, Any]) -> dict[str, Any]:
    """The entry of a revert (its own `revert`, possibly None) of a commit released earlier, whose entry is
    `reverted`: what was added is removed, anything else changes back. git's `Revert "..."`, `revert: ...` and
    `revert(scope): ...` commits all come here once the sha they name is found in the history."""
    category = "Removed" if reverted["category"] == "Added" else "Changed"
    return _make(category, reverted["scope"], f'Revert "{reverted["text"]}"', "revert", sha,
                 list(revert["refs"]) if revert else [])


def split(sha: str, message: str, cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a commit whose body may hold more messages (`changelog.squashed_commits`): release-please's
    BEGIN_COMMIT_OVERRIDE block replaces the commit's own message by those it holds; otherwise each header in the
    body (a squash merge's `* feat: ...` list) makes an entry beside the commit's own, with the references of the
    commit's subject (its pull request). A message runs to the next header, so its footers stay its own."""
    header, _, rest = message.replace("\r\n", "\n").partition("\n")
    override = _OVERRIDE.search(rest) if "BEGIN_COMMIT_OVERRIDE" in rest else None
    body = override["body"] if override else rest
    starts = [m.start() for m in cfg["squashed"].finditer(body)]
    if starts and not override and (rule := _RULE.search(body, starts[-1])):
        body = body[:rule.start()]
    if not starts:
        if override:
            return []
        own = entry(sha, message, cfg)
        return [own] if own else []
    found = [] if override else [entry(sha, f"{header}\n{body[:starts[0]]}", cfg)]
    shared = [] if override else _numbers(header)
    for start, end in zip(starts, [*starts[1:], len(body)], strict=True):
        e = entry(sha, _unbullet(body[start:end]), cfg)
        if e is not None and shared:
            e["refs"] = list(dict.fromkeys([*e["refs"], *shared]))
        found.append(e)
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for e in found:
        if e is not None and (key := (e["category"], e["scope"], e["text"])) not in seen:
            seen.add(key)
            out.append(e)
    return out


def _unbullet(text: str) -> str:
    """A list item's message (`* feat: x` and its lines indented under it) as a message of its own."""
    if text[:1] not in "*-":
        return text.strip("\n")
    first, _, rest = text.partition("\n")
    width = len(first) - len(first[1:].lstrip(" "))
    lines = [line[width:] if line[:width].isspace() else line for line in rest.split("\n")]
    return "\n".join([first[width:], *lines]).strip("\n")


def _references(value: str) -> list[int]:
    """Every issue a `Refs`/`Closes`/`Fixes`/`Resolves` line names, whatever the separators: `#1 #2`, `#1, #2`,
    `#1, Closes #2`, a bare `12`; not `other/repo#3`, which is another repository's."""
    out: list[int] = []
    for token in value.replace(",", " ").split():
        bare = token.strip("().;:")
        bare = bare[1:] if bare.startswith("#") else bare
        if bare.isascii() and bare.isdigit():
            out.append(int(bare))
        elif "#" in token:
            out += _numbers(token)
    return out


def _numbers(text: str) -> list[int]:
    return [int(n) for n in _NUMBER.findall(text)] if "#" in text else []


def _make(category: str, scope: str | None, text: str, kind: str | None, sha: str, refs: list[int],
          breaking: bool = False, breaking_text: str | None = None) -> dict[str, Any]:
    return {"category": category, "scope": scope, "text": text, "breaking": breaking, "breaking_text": breaking_text,
            "refs": list(dict.fromkeys(refs)) if len(refs) > 1 else refs, "commit": sha, "type": kind}
