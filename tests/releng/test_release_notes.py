"""releng.release_notes: a release's section as Markdown, read back by the PyPI keepachangelog library."""

from __future__ import annotations

import keepachangelog as pypi_keepachangelog
from releng import keepachangelog, release_notes


def entry(text="a change", category="Added", **kw):
    return {"category": category, "scope": None, "text": text, "breaking": False, "breaking_text": None,
            "refs": [], "commit": "0123456789abcdef0123456789abcdef01234567", "type": "feat", **kw}


def test_render_section_orders_breaking_first_and_links():
    cfg = {"repo_url": "https://git.example/a/b", "commit_url": "{repo_url}/commit/{sha}",
           "issue_url": "{repo_url}/issues/{number}", "breaking_label": "**BREAKING:**"}
    release = {"version": "2.0.0", "date": "2024-05-01", "tag": "v2.0.0", "previous_tag": "v1.0.0", "entries": [
        entry("fixed a bug (#12)", "Fixed", refs=[12, 13]),
        entry("new thing", scope="ui"),
        entry("old presets", "Removed", breaking=True, breaking_text="presets from 1.x are not read"),
        entry("same text", "Added", breaking=True, breaking_text="same text"),
    ]}
    text = release_notes.render_section(release, cfg)
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
    assert release_notes.link(release, cfg) == "https://git.example/a/b/compare/v1.0.0...v2.0.0"
    assert release_notes.link({**release, "previous_tag": None}, cfg) == "https://git.example/a/b/releases/tag/v2.0.0"
    assert release_notes.link(release, {}) is None  # no repo_url: no links, plain shas
    assert release_notes.render_section(release, {}).splitlines()[-1] == "- fixed a bug (#12) (#13, 0123456)"


def test_categories_keep_one_order_whichever_holds_a_breaking_change():
    release = {"version": "3.0.0", "date": "2024-05-01", "tag": "v3.0.0", "previous_tag": None, "entries": [
        entry("tidy", "Other"), entry("clicks", "Fixed", breaking=True, breaking_text="clicks"), entry("meter"),
        entry("old api", "Deprecated"), entry("more", "Misc"), entry("hole", "Security"),
        entry("quiet", "Fixed"), entry("knob", "Removed"),
    ]}
    text = release_notes.render_section(release, {})
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
    text = release_notes.render_section(release, {})
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
