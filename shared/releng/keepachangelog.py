"""Keep a Changelog 1.1.0 files (CHANGELOG.md): read them as sections, edit them in place.

Ours, not the PyPI `keepachangelog` library (the tests use that one as an independent reader). A file is a
preamble, then sections (`## [Unreleased]`, `## [1.2.0] - 2024-05-01`, optionally ` [YANKED]`, or the headings
other tools write: `Style`), then link definitions (`[1.2.0]: https://...`). Sections are kept as their exact text,
so an update that regenerates one leaves every other byte as it was. A section's new text comes from
`releng.release_notes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from releng import files, semver
from releng.errors import BadInput

PREAMBLE = """\
# Changelog

All notable changes to this project will be documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),
and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).
"""

# A release heading of Keep a Changelog, git-cliff, conventional-changelog, release-please or commitizen (`Style`).
_HEADING = re.compile(
    r"(?P<level>#{1,3}) +(?:\[(?P<bracketed>[^\]]+)\](?:\((?P<url>[^()\s]*)\))?|(?P<bare>[^\s\[\]()]+))"
    r"(?: +(?:[-\u2013\u2014] +(?P<date>\d{4}-\d{2}-\d{2})|\((?P<pdate>\d{4}-\d{2}-\d{2})\)))?"
    r"(?P<yanked> +\[YANKED\])? *\r?\n?"
)
_LINK = re.compile(r"\[(?P<label>[^\]]+)\]: *(?P<url>\S.*?)\s*")


@dataclass(frozen=True)
class Style:
    """How a file writes release headings, so that sections added to another tool's file look like its own.

    `levels`: of x.y.0 and patch releases (conventional-changelog: `# [1.2.0]`, `## [1.2.1]`). `links`: "reference"
    (a `[1.2.0]: url` definition at the bottom), "inline" (`[1.2.0](url)`) or "none"."""

    levels: tuple[int, int] = (2, 2)
    brackets: bool = True
    links: str = "reference"
    prefix: str = ""  # "v" for commitizen's `## v1.2.0`
    date: str = " - {date}"  # or " ({date})"

    def level(self, version: str) -> int:
        return self.levels[1 if getattr(semver.try_parse(version), "patch", 0) else 0]


KEEP_A_CHANGELOG = Style()


@dataclass(frozen=True)
class Section:
    name: str  # the heading's text: a version, or the unreleased heading
    version: semver.Version | None  # None for the unreleased section
    date: str | None  # YYYY-MM-DD, None when the heading has no date
    yanked: bool
    text: str  # the heading line up to the next heading or the link block, byte for byte
    key: str = ""  # "unreleased" or the version: set from `version`
    level: int = 2
    form: tuple[bool, str, str, str | None] = (True, "reference", "", None)  # brackets, links, prefix, date format

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", "unreleased" if self.version is None else str(self.version))


@dataclass(frozen=True)
class Changelog:
    preamble: str
    sections: tuple[Section, ...]
    links: tuple[tuple[str, str], ...]  # (label lowercased, exact line) of the link definitions at the end

    @cached_property
    def _by_key(self) -> dict[str, Section]:
        return {s.key: s for s in self.sections}

    @cached_property
    def style(self) -> Style:
        """The heading style of the newest release in the file (Keep a Changelog's when it has none)."""
        released = [s for s in self.sections if s.version is not None]
        if not released:
            return KEEP_A_CHANGELOG
        brackets, links, prefix, _ = released[0].form
        date = next((s.form[3] for s in released if s.form[3]), KEEP_A_CHANGELOG.date)
        minor, patch = (next((s.level for s in released if bool(getattr(s.version, "patch", 0)) is p), None)
                        for p in (False, True))
        return Style((minor or patch or 2, patch or minor or 2), brackets, links, prefix, date)

    def find(self, version: semver.Version | str | None) -> Section | None:
        """The section of `version` (None or "unreleased": the unreleased one)."""
        key = "unreleased" if version is None or str(version).lower() == "unreleased" else str(version)
        return self._by_key.get(key)


EMPTY = Changelog("", (), ())


def parse(text: str, where: str = "CHANGELOG.md", unreleased: str = "Unreleased") -> Changelog:
    """Split a changelog into preamble, sections and link block; BadInput on a `## ` heading it can't read."""
    lines = text.splitlines(keepends=True)
    end = len(lines)  # the link block: trailing link definitions and blank lines
    while end and (not lines[end - 1].strip() or _LINK.fullmatch(lines[end - 1].rstrip("\r\n"))):
        end -= 1
    while end < len(lines) and not lines[end].strip():
        end += 1  # blank lines after the last section stay with it
    links = tuple((m["label"].lower(), line) for line in lines[end:]
                  if (m := _LINK.fullmatch(line.rstrip("\r\n"))))
    starts: list[int] = []
    fenced = False
    marked = [i for i, line in enumerate(lines[:end]) if line[:1] in _MARKS]  # headings, fences: 1 line in 10
    for i in marked:
        line = lines[i]
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (line.startswith("## ") or line.startswith(("# ", "### "))
                             and line.lstrip("#").lstrip(" ")[:1] in _OPENS and _release_heading(line)):
            starts.append(i)  # `#` and `###` headings are titles and categories unless they name a release
    sections: list[Section] = []
    seen: set[str] = set()
    for n, start in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else end
        section = _section(lines[start], "".join(lines[start:stop]), unreleased, f"{where}:{start + 1}")
        if section.key in seen:
            raise BadInput(f"two sections for {section.name}", f"{where}:{start + 1}")
        seen.add(section.key)
        sections.append(section)
    preamble = "".join(lines[: starts[0] if starts else end])
    return Changelog(preamble, tuple(sections), links)


MAX_BYTES = 64 << 20  # a changelog of 100,000 releases is a few MiB; more is not a changelog


def read(path: Path, unreleased: str = "Unreleased", sections: bool = True) -> tuple[str | None, Changelog]:
    """A changelog file's text (None when there is none) and, if `sections`, its sections; BadInput when unreadable."""
    try:  # bytes: \r\n stays as it is; capped, and a FIFO or device named as the changelog is refused
        text = files.read_capped(path, MAX_BYTES, "changelog").decode("utf-8")
    except files.Missing:
        return None, EMPTY
    except UnicodeDecodeError as e:
        raise BadInput(f"cannot read the changelog: {e}", str(path)) from None
    return text, parse(text, str(path), unreleased) if sections else EMPTY


_MARKS = "#`~ \t"  # how a heading or a (possibly indented) code fence line starts
_OPENS = frozenset("[vV0123456789")  # what a release heading's name starts with: `### Added` is read no further


def _release_heading(line: str) -> bool:
    m = _HEADING.fullmatch(line)
    return m is not None and _version_of(m["bracketed"] or m["bare"]) is not None


def _version_of(name: str) -> tuple[str, semver.Version] | None:
    """The SemVer version a heading names, as written and parsed, `v` prefix (commitizen's, tags') dropped."""
    if (version := semver.try_parse(name)) is not None:
        return name, version
    if name[:1] in "vV" and (version := semver.try_parse(name[1:])) is not None:
        return name[1:], version
    return None


def _section(heading: str, text: str, unreleased: str, where: str) -> Section:
    m = _HEADING.fullmatch(heading)
    shown = heading.rstrip("\r\n")
    if m is None:
        raise BadInput(f"cannot read section heading {shown!r} (expected '## [x.y.z] - YYYY-MM-DD', or the headings "
                       "of git-cliff, conventional-changelog, release-please or commitizen)", where)
    name = m["bracketed"] or m["bare"]
    date = m["date"] or m["pdate"]
    if name.lower() in ("unreleased", unreleased.lower()):
        if date or m["yanked"]:
            raise BadInput(f"the unreleased section has a date: {shown!r}", where)
        return Section(name, None, None, False, text)
    found = _version_of(name)
    if found is None:
        raise BadInput(f"section heading {shown!r} is neither a release (its {name!r} is not a SemVer version) nor "
                       f"the unreleased section ({unreleased!r})", where)
    version, parsed = found
    links = "inline" if m["url"] is not None else "reference" if m["bracketed"] else "none"
    form = (m["bracketed"] is not None, links, name[: len(name) - len(version)],
            None if date is None else " - {date}" if m["date"] else " ({date})")
    return Section(name, parsed, date, bool(m["yanked"]), text, level=len(m["level"]), form=form)


def update(old: Changelog, new: Sequence[tuple[str, str, str | None]], drop: Iterable[str] = (),
           unreleased: str = "Unreleased", yanked: Iterable[str] = ()) -> str:
    """The file text with sections replaced or inserted and every other section kept byte for byte.

    `new` holds (key, section text, link URL) for each regenerated section; `drop` names sections to remove
    (prereleases folded into their release). A new section goes where its version sorts among the others.
    A kept section whose version is in `yanked` gets ` [YANKED]` at the end of its heading line, its body untouched
    (a mark is only ever added: one written by hand stays).
    """
    fresh = {key: (text, url) for key, text, url in new}
    gone = set(drop) - set(fresh)
    kept = [s for s in old.sections if s.key not in gone]
    withdrawn = set(yanked) - {s.key for s in kept if s.yanked}
    chunks = [(s.key, fresh.pop(s.key, (_yank(s.text) if s.key in withdrawn else s.text, None))[0]) for s in kept]
    order = [s.version for s in kept]
    at = 0  # insert what the file doesn't have yet where it sorts; `new` comes newest first
    for key, (text, _) in fresh.items():
        version = None if key == "unreleased" else semver.parse(key)
        if version is None:
            at = 0
        else:
            at = max(at, 1 if order and order[0] is None else 0)
            while at < len(order):
                here = order[at]
                if here is not None and here < version:
                    break
                at += 1
        chunks.insert(at, (key, text))
        order.insert(at, version)
        at += 1
    style = old.style  # a file that links its headings inline (or not at all) gets no link definitions
    urls = {key: url for key, _, url in new if url and style.links == "reference"}
    existing = dict(reversed(old.links))  # the first definition of a label wins in Markdown
    names = {key: (unreleased if key == "unreleased" else f"{style.prefix}{key}") for key, _ in chunks}
    labels = {key: name.lower() for key, name in names.items()}
    lines = []
    for key, _ in chunks:
        label = labels[key]
        if key in urls:
            lines.append(f"[{names[key]}]: {urls[key]}\n")
        elif label in existing:
            lines.append(existing[label])
    used = set(labels.values()) | gone
    lines += [line for label, line in old.links if label not in used]
    preamble = old.preamble if old.preamble or old.sections else PREAMBLE
    return join([preamble, *(text for _, text in chunks), "".join(_eol(line) for line in lines)])


def _yank(text: str) -> str:  # ` [YANKED]` at the end of the heading line; its line ending and the body kept
    first, nl, rest = text.partition("\n")
    cr = first[len(first.rstrip("\r")):]
    return f"{first.rstrip()} [YANKED]{cr}{nl}{rest}"


def _eol(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


def join(chunks: Iterable[str]) -> str:
    """Concatenate blocks of Markdown with one blank line between blocks that don't already end in one."""
    out: list[str] = []
    tail = ""  # the last few characters written: enough to see a blank line, \r\n included
    for chunk in chunks:
        if not chunk:
            continue
        if out and not tail.replace("\r", "").endswith("\n\n"):
            out.append("\n" if tail.endswith("\n") else "\n\n")
        out.append(chunk)
        tail = (tail + chunk)[-4:]
    if not tail.endswith("\n"):
        out.append("\n")
    return "".join(out)
