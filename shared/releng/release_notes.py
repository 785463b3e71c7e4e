"""A release's section as Markdown, from a `releng/changes` version object (schemas/changes.schema.json).

Any script holding that document can turn it back into Markdown: gen-changelog for CHANGELOG.md (in the heading
style of the file it updates, `keepachangelog.Style`), publish-release for a GitHub release's notes. Categories
come in Keep a Changelog's order; links come from the changelog config's URL templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from releng.errors import BadInput
from releng.keepachangelog import KEEP_A_CHANGELOG, Style

# The categories Keep a Changelog 1.1.0 defines, in the order it lists them; others sort after these.
CATEGORIES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
_ISSUE = re.compile(r"(?<![\w/&\[])#(\d+)\b")


def heading(release: Mapping[str, Any], unreleased: str = "Unreleased", style: Style = KEEP_A_CHANGELOG,
            yanked: bool = False) -> str:
    """A section's heading line in `style`; the unreleased one is a level-2 heading, never linked inline."""
    if release["version"] == "Unreleased":
        return f"## [{unreleased}]\n" if style.brackets else f"## {unreleased}\n"
    name = f"{style.prefix}{release['version']}"
    text = f"[{name}]" if style.brackets else name
    if style.links == "inline" and release.get("url"):
        text += f"({release['url']})"
    if release["date"] is not None:
        text += style.date.format(date=release["date"])
    return f"{'#' * style.level(release['version'])} {text}{' [YANKED]' if yanked else ''}\n"


def render_section(release: Mapping[str, Any], cfg: Mapping[str, Any], unreleased: str = "Unreleased",
                   style: Style = KEEP_A_CHANGELOG, yanked: bool = False) -> str:
    """A whole section (heading, categories, entries) for a `releng/changes` version object.

    Categories always come in Keep a Changelog's order (others after them, alphabetically), so a section never
    changes shape from one release to the next. Breaking changes have one place: first in their category,
    marked with the breaking label; a note of several paragraphs, a list or a code block is nested under its entry.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in release["entries"]:
        groups.setdefault(entry["category"], []).append(entry)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    names = sorted(groups, key=lambda c: (order.get(c, len(order)), c))
    label = cfg.get("breaking_label") or "**BREAKING:**"
    issue, commit = template(cfg, "issue_url"), template(cfg, "commit_url")
    out = [heading(release, unreleased, style, yanked)]
    for name in names:
        out.append(f"\n### {name}\n\n")
        group = groups[name]
        if any(e["breaking"] for e in group):  # breaking first, history order otherwise
            group = [e for e in group if e["breaking"]] + [e for e in group if not e["breaking"]]
        lines = [_line(e, label, issue, commit) for e in group]
        joined = "".join(lines)
        if joined.count("\n") == len(lines):  # one line each, no nested note: the common case, in one pass
            out.append(joined)
            continue
        for n, line in enumerate(lines):  # a blank line after a nested note, unless the category ends there
            out.append(line + "\n" if n + 1 < len(lines) and line.count("\n") > 1 else line)
    return "".join(out)


def _line(entry: Mapping[str, Any], label: str, issue: str | None, commit: str | None) -> str:
    text, refs, sha = entry["text"], entry["refs"], entry["commit"]
    if "\n" in text or "  " in text:
        text = " ".join(text.split())
    nested = ""
    if entry["breaking"] and entry["breaking_text"]:
        nested = _nested(entry["breaking_text"])
        note = "" if nested else " ".join(entry["breaking_text"].split())
        if note and note != text:
            text = f"{text} \u2014 {note}"
    if "#" in text:
        shown = {int(n) for n in _ISSUE.findall(text)}
        refs = [n for n in refs if n not in shown]
        if issue:
            text = _ISSUE.sub(lambda m: f"[#{m[1]}]({issue.format(number=m[1])})", text)
    if entry["scope"]:
        text = f"**{entry['scope']}:** {text}"
    if entry["breaking"]:
        text = f"{label} {text}"
    link = f"[{sha[:7]}]({commit.format(sha=sha)})" if commit else sha[:7]
    if refs:
        link = ", ".join([f"[#{n}]({issue.format(number=n)})" if issue else f"#{n}" for n in refs] + [link])
    return f"- {text} ({link})\n" + (f"\n{nested}" if nested else "")


_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d{1,9}[.)])(?:\s|$)")
_ATX = re.compile(r"\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*")


def _nested(note: str) -> str:
    """A breaking-change note as Markdown indented under its list item; "" for one plain paragraph (it goes on
    the entry's line).

    Paragraphs keep their lines, lists and code fences their shape. Two things change so that the file still reads
    as Keep a Changelog everywhere: a heading becomes a bold line (a reader that strips indentation, like the PyPI
    `keepachangelog` library, would take `## x` for a release), and a fence left open is closed (our own reader
    skips `## ` lines inside fences).
    """
    lines = note.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    if not any(not line.strip() or line[:1] in " \t" or line.startswith(("```", "~~~")) or _LIST_ITEM.match(line)
               or line.startswith("#") and _ATX.fullmatch(line) for line in lines):
        return ""
    out: list[str] = []
    fence = ""  # the open fence's marker run, "" outside a fence
    for raw in lines:
        line = raw.rstrip()
        bare = line.lstrip()
        if fence:
            if bare.startswith(fence) and not bare.strip(fence[0]):
                fence = ""
        elif bare.startswith(("```", "~~~")):
            fence = bare[: len(bare) - len(bare.lstrip(bare[0]))]
        elif not bare:
            if out and out[-1]:
                out.append("")
            continue
        elif (m := _ATX.fullmatch(line)) is not None:
            line = f"**{m[1]}**" if m[1] else ""
            if not line:
                continue
        out.append(f"  {line}" if line else "")
    while out and not out[-1]:
        out.pop()
    if fence:
        out.append(f"  {fence}")
    return "".join(f"{line}\n" for line in out)


URLS = {  # the defaults of changelog_config.yml, for callers that pass a partial config
    "commit_url": "{repo_url}/commit/{sha}",
    "issue_url": "{repo_url}/issues/{number}",
    "compare_url": "{repo_url}/compare/{previous}...{current}",
    "tag_url": "{repo_url}/releases/tag/{current}",
}


def template(cfg: Mapping[str, Any], key: str) -> str | None:
    """A URL template from the changelog config with `{repo_url}` filled in; None when it can't make a URL.

    BadInput for a template naming a field other than sha, number, previous and current.
    """
    value = cfg.get(key, URLS[key])
    repo_url = str(cfg.get("repo_url") or "").rstrip("/")
    if not value or ("{repo_url}" in value and not repo_url):
        return None
    value = str(value).replace("{repo_url}", repo_url)
    try:
        value.format(sha="0", number=0, previous="a", current="b")
    except (KeyError, IndexError, ValueError) as e:
        raise BadInput(f"changelog.{key}: not a URL template ({type(e).__name__}: {e})", value) from None
    return value


def link(release: Mapping[str, Any], cfg: Mapping[str, Any]) -> str | None:
    """The URL for a section's heading: compare with the previous tag, or the tag itself for the first one."""
    current = release["tag"] or "HEAD"
    if release["previous_tag"]:
        url = template(cfg, "compare_url")
        return url.format(previous=release["previous_tag"], current=current) if url else None
    url = template(cfg, "tag_url")
    return url.format(current=current) if url and release["tag"] else None
