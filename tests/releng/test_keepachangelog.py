"""releng.keepachangelog: reading sections, editing a file in place byte for byte."""

from __future__ import annotations

import os

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
