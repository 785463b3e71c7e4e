"""releng.keepachangelog: reading sections, rendering them, editing a file in place byte for byte."""

from __future__ import annotations

import os

import keepachangelog as pypi_keepachangelog
import pytest
from releng import keepachangelog, semver
from releng.errors import BadInput

FILE = """\
# Changelog

Intro text, kept.

## [Unreleased]

### Added

- something

## [1.1.0] - 2024-02-01 [YANKED]

Hand-written.

```
## not a heading inside a fence
```

## 1.0.0 - 2024-01-01

- first

[unreleased]: https://example.com/compare/v1.1.0...HEAD
[1.1.0]: https://example.com/compare/v1.0.0...v1.1.0
[other]: https://example.com/other
"""


def entry(text="a change", category="Added", **kw):
    return {"category": category, "scope": None, "text": text, "breaking": False, "breaking_text": None,
            "refs": [], "commit": "0123456789abcdef0123456789abcdef01234567", "type": "feat", **kw}


def test_parse_splits_preamble_sections_and_links():
    log = keepachangelog.parse(FILE)
    assert log.preamble == "# Changelog\n\nIntro text, kept.\n\n"
    assert [(s.key, s.date, s.yanked) for s in log.sections] == [
        ("unreleased", None, False), ("1.1.0", "2024-02-01", True), ("1.0.0", "2024-01-01", False)]
    assert log.sections[1].text.startswith("## [1.1.0] - 2024-02-01 [YANKED]\n\nHand-written.\n\n```\n## not")
    assert log.sections[2].text == "## 1.0.0 - 2024-01-01\n\n- first\n\n"
    assert [label for label, _ in log.links] == ["unreleased", "1.1.0", "other"]
    assert log.preamble + "".join(s.text for s in log.sections) + "".join(line for _, line in log.links) == FILE
    assert log.find(semver.parse("1.0.0")) is log.sections[2] and log.find(None) is log.sections[0]
    assert log.find("2.0.0") is None


@pytest.mark.parametrize(("heading", "message"), [
    ("## Version 1 (2024)", "cannot read section heading"),
    ("## [1.0] - 2024-01-01", "is not a SemVer version"),
    ("## [1.0.0] - 24-01-01", "cannot read section heading"),
    ("## [Unreleased] - 2024-01-01", "has a date"),
])
def test_unreadable_headings_are_bad_input(heading, message):
    with pytest.raises(BadInput, match=message) as e:
        keepachangelog.parse(f"# Changelog\n\n{heading}\n", "CHANGELOG.md")
    assert e.value.where == "CHANGELOG.md:3"


def test_update_replaces_inserts_drops_and_keeps_every_other_byte():
    log = keepachangelog.parse(FILE)
    new = [("unreleased", "## [Unreleased]\n", "https://example.com/compare/v1.2.0...HEAD"),
           ("1.2.0", "## [1.2.0] - 2024-03-01\n\n### Fixed\n\n- x\n", "https://example.com/compare/v1.1.0...v1.2.0")]
    text = keepachangelog.update(log, new)
    assert text.startswith("# Changelog\n\nIntro text, kept.\n\n## [Unreleased]\n\n## [1.2.0] - 2024-03-01\n")
    assert log.sections[1].text + log.sections[2].text in text
    assert text.endswith("- first\n\n[Unreleased]: https://example.com/compare/v1.2.0...HEAD\n"
                         "[1.2.0]: https://example.com/compare/v1.1.0...v1.2.0\n"
                         "[1.1.0]: https://example.com/compare/v1.0.0...v1.1.0\n"
                         "[other]: https://example.com/other\n")
    assert keepachangelog.update(keepachangelog.parse(text), new) == text  # a fixed point
    dropped = keepachangelog.update(log, [], drop=["1.1.0"])
    assert "1.1.0] - " not in dropped and "[1.1.0]: https" not in dropped and "- first" in dropped


def test_update_of_a_new_file_and_a_file_without_sections():
    text = keepachangelog.update(keepachangelog.EMPTY, [("unreleased", "## [Unreleased]\n", None)])
    assert text == keepachangelog.PREAMBLE + "\n## [Unreleased]\n"
    assert keepachangelog.update(keepachangelog.parse("# Mine"), [("unreleased", "## [Unreleased]\n", None)]) == \
        "# Mine\n\n## [Unreleased]\n"


def test_render_section_orders_breaking_first_and_links():
    cfg = {"repo_url": "https://git.example/a/b", "commit_url": "{repo_url}/commit/{sha}",
           "issue_url": "{repo_url}/issues/{number}", "breaking_label": "**BREAKING:**"}
    release = {"version": "2.0.0", "date": "2024-05-01", "tag": "v2.0.0", "previous_tag": "v1.0.0", "entries": [
        entry("fixed a bug (#12)", "Fixed", refs=[12, 13]),
        entry("new thing", scope="ui"),
        entry("old presets", "Removed", breaking=True, breaking_text="presets from 1.x are not read"),
        entry("same text", "Added", breaking=True, breaking_text="same text"),
    ]}
    text = keepachangelog.render_section(release, cfg)
    sha = "0123456789abcdef0123456789abcdef01234567"
    commit = f"[0123456](https://git.example/a/b/commit/{sha})"
    assert text == (
        "## [2.0.0] - 2024-05-01\n\n"
        "### Added\n\n"
        f"- **BREAKING:** same text ({commit})\n"
        f"- **ui:** new thing ({commit})\n\n"
        "### Removed\n\n"
        f"- **BREAKING:** old presets \u2014 presets from 1.x are not read ({commit})\n\n"
        "### Fixed\n\n"
        f"- fixed a bug ([#12](https://git.example/a/b/issues/12)) "
        f"([#13](https://git.example/a/b/issues/13), {commit})\n")
    parsed = pypi_keepachangelog.to_dict(text.splitlines(keepends=True))
    assert set(parsed["2.0.0"]) == {"metadata", "added", "removed", "fixed"}
    assert keepachangelog.link(release, cfg) == "https://git.example/a/b/compare/v1.0.0...v2.0.0"
    assert keepachangelog.link({**release, "previous_tag": None}, cfg) == "https://git.example/a/b/releases/tag/v2.0.0"
    assert keepachangelog.link(release, {}) is None  # no repo_url: no links, plain shas
    assert keepachangelog.render_section(release, {}).splitlines()[-1] == "- fixed a bug (#12) (#13, 0123456)"


def test_categories_keep_one_order_whichever_holds_a_breaking_change():
    release = {"version": "3.0.0", "date": "2024-05-01", "tag": "v3.0.0", "previous_tag": None, "entries": [
        entry("tidy", "Other"), entry("clicks", "Fixed", breaking=True, breaking_text="clicks"), entry("meter"),
        entry("old api", "Deprecated"), entry("more", "Misc"), entry("hole", "Security"),
        entry("quiet", "Fixed"), entry("knob", "Removed"),
    ]}
    text = keepachangelog.render_section(release, {})
    assert [line for line in text.splitlines() if line.startswith("### ")] == [
        "### Added", "### Deprecated", "### Removed", "### Fixed", "### Security", "### Misc", "### Other"]
    assert text.split("### Fixed\n\n")[1].startswith("- **BREAKING:** clicks (0123456)\n- quiet (0123456)\n")


NOTE = (
    "the settings moved.\r\n\r\n\r\nMove them:\r\n\r\n- run the migration\r\n- delete the folder\r\n\r\n"
    "## Why\r\nOne file is simpler.  \r\n\r\n````json\r\n{\r\n  \"a\": 1,\r\n\r\n  \"b\": 2\r\n}\r\n```\r\n"
    "# a comment inside the fence\r\n````\r\n\r\n```diff\r\n-old\r\n+new"
)


def test_a_note_of_several_blocks_is_nested_under_its_entry():
    release = {"version": "2.0.0", "date": "2024-05-01", "tag": "v2.0.0", "previous_tag": None, "entries": [
        entry("one file", breaking=True, breaking_text=NOTE, refs=[12]),
        entry("short", breaking=True, breaking_text="presets from 1.x\nare not read"),
        entry("listed", breaking=True, breaking_text="- first\n- second"),
        entry("last", breaking=True, breaking_text="a\n\nb"),
    ]}
    text = keepachangelog.render_section(release, {})
    assert text == (
        "## [2.0.0] - 2024-05-01\n\n### Added\n\n"
        "- **BREAKING:** one file (#12, 0123456)\n\n"
        "  the settings moved.\n\n"
        "  Move them:\n\n"
        "  - run the migration\n  - delete the folder\n\n"
        "  **Why**\n  One file is simpler.\n\n"  # a heading would be a release to readers that strip indentation
        "  ````json\n  {\n    \"a\": 1,\n\n    \"b\": 2\n  }\n  ```\n  # a comment inside the fence\n  ````\n\n"
        "  ```diff\n  -old\n  +new\n  ```\n\n"  # an open fence is closed
        "- **BREAKING:** short \u2014 presets from 1.x are not read (0123456)\n"  # one paragraph: on its line
        "- **BREAKING:** listed (0123456)\n\n  - first\n  - second\n\n"
        "- **BREAKING:** last (0123456)\n\n  a\n\n  b\n")  # the category ends: no blank line of its own
    ours = keepachangelog.parse(keepachangelog.update(keepachangelog.EMPTY, [("2.0.0", text, None)]))
    assert [s.key for s in ours.sections] == ["2.0.0"] and ours.sections[0].text == text
    parsed = pypi_keepachangelog.to_dict(text.splitlines(keepends=True))
    assert list(parsed) == ["2.0.0"] and list(parsed["2.0.0"]) == ["metadata", "added"]


def test_read(tmp_path):
    assert keepachangelog.read(tmp_path / "absent.md") == (None, keepachangelog.EMPTY)
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe")
    with pytest.raises(BadInput, match="cannot read the changelog"):
        keepachangelog.read(tmp_path / "bad.md")
    (tmp_path / "ok.md").write_bytes(b"# C\r\n\r\n## [Unreleased]\r\n")
    text, log = keepachangelog.read(tmp_path / "ok.md")
    assert text == "# C\r\n\r\n## [Unreleased]\r\n" and log.sections[0].text == "## [Unreleased]\r\n"


def test_read_caps_the_size_and_refuses_a_fifo(tmp_path, monkeypatch):
    """A changelog is read with a cap (issue 12 #8): a huge file or a FIFO named as CHANGELOG.md is one clear error,
    not a MemoryError or a hang."""
    monkeypatch.setattr(keepachangelog, "MAX_BYTES", 100)
    (tmp_path / "big.md").write_bytes(b"# C\n" + b"x" * 200)
    with pytest.raises(BadInput, match="changelog is larger than 100 bytes"):
        keepachangelog.read(tmp_path / "big.md")
    os.mkfifo(tmp_path / "fifo.md")
    with pytest.raises(BadInput, match="changelog"):
        keepachangelog.read(tmp_path / "fifo.md")
