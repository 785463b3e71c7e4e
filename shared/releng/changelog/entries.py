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
_REFS = re.compile(r"^(?:refs|closes|fixes|resolves)(?::| #) *(.*)", re.IGNORECASE | re.MULTILINE)  # footers or not


def rules(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The changelog settings plus what `entry` needs: `hint`, a search for a footer that may change an entry,
    and `footer_map`, footer token (lowercased) -> category."""
    tokens = ["BREAKING[ -]CHANGE", "changelog", *map(re.escape, cfg.get("footers") or {})]
    return {**cfg, "hint": re.compile(rf"^(?:{'|'.join(tokens)})(?:: | #)", re.IGNORECASE | re.MULTILINE),
            "footer_map": {k.lower(): v for k, v in (cfg.get("footers") or {}).items() if v}}


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
    elif category is None and bang is None:
        return None
    refs = _numbers(description) if "#" in description else []
    text, note, breaking, breaking_text = description, "", bang is not None, None
    for line in _REFS.findall(rest) if "s:" in rest or "S:" in rest or "s #" in rest or "S #" in rest else ():
        refs += [int(line)] if line.isdigit() else _numbers(line)
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
    if inner and types.get(inner.type):  # it reverts a released commit: a change users see
        category = "Removed" if types[inner.type] == "Added" else "Changed"
        return _make(category, inner.scope, f'Revert "{inner.description}"', "revert", sha, [])
    category = types.get("revert") if reverted else cfg["changelog"].get("other_heading")
    text = commits.subject(message)
    return _make(category, None, text, None, sha, _numbers(text)) if category else None


def _numbers(text: str) -> list[int]:
    return [int(n) for n in _NUMBER.findall(text)] if "#" in text else []


def _make(category: str, scope: str | None, text: str, kind: str | None, sha: str, refs: list[int],
          breaking: bool = False, breaking_text: str | None = None) -> dict[str, Any]:
    return {"category": category, "scope": scope, "text": text, "breaking": breaking, "breaking_text": breaking_text,
            "refs": list(dict.fromkeys(refs)) if len(refs) > 1 else refs, "commit": sha, "type": kind}
