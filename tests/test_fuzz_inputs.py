"""Every parser that reads outside input, fuzzed: it answers or refuses (a RelengError: exit 1 or 2), never crashes
(exit 3, a traceback), and its memory stays bounded on huge or deeply nested input.

Outside input is whatever a server, a feed, a user's file or a commit can hand us: DSSE envelopes, every JSON
document, the update-server config, releng.toml, the changelog settings, history and log lines, health feeds,
adoption snapshots, CHANGELOG.md files, commit messages, SHA256SUMS and signature lines, SemVer strings.
"""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from releng import artifacts, commits, config, documents, keepachangelog, semver, signing
from releng.changelog import commitlint
from releng.changelog import settings as changelog_settings
from releng.errors import RelengError
from releng.rollback import health
from releng.server import layout, manifest
from releng.server.local import LocalTransport
from releng.validation import metric_sources

WORK = Path(tempfile.mkdtemp(prefix="releng-fuzz-"))
TRUSTED = {"56475aa75463474c": bytes(32)}
DOCUMENTS = ("version", "changes", "artifacts", "validation", "publish", "rollback", "metrics", "compatibility")


def _file(data: bytes, name: str) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


READERS: dict[str, Callable[[bytes], object]] = {
    "envelope": lambda b: manifest.verify_envelope(b, TRUSTED),
    "health feed": lambda b: health.parse_feed(b, "feed"),
    **{f"document {n}": (lambda b, n=n: documents.loads(b, n)) for n in DOCUMENTS},
    "update-server config": lambda b: layout.load_config(_file(b, "servers.json")),
    "releng.toml": lambda b: config.load_toml(_file(b, "releng.toml")),
    "changelog settings": lambda b: changelog_settings.read_yaml(str(_file(b, "changelog_config.yml"))),
    "history lines": lambda b: layout.read_jsonl(LocalTransport("fuzz", _file(b, "h.jsonl").parent), "h.jsonl"),
    "adoption": lambda b: metric_sources.read_adoption(_file(b, "adoption.json")),
    "CHANGELOG.md": lambda b: keepachangelog.parse(_text(b)),
    "commit message": lambda b: commits.parse(_text(b)),
    "commit lint": lambda b: commitlint.check(_text(b), LINT),
    "SHA256SUMS": lambda b: artifacts.parse_sums(_text(b)),
    "signature line": lambda b: signing.parse_signature_line(_text(b)),
    "semver": lambda b: semver.try_parse(_text(b)),
}
LINT = changelog_settings.load(None)


def answers_or_refuses(read: Callable[[bytes], object], data: bytes) -> None:
    try:
        read(data)
    except RelengError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=4), max_leaves=25)


@pytest.mark.parametrize("name", READERS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(name, data):
    answers_or_refuses(READERS[name], data)


@pytest.mark.parametrize("name", READERS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_arbitrary_json(name, value):
    answers_or_refuses(READERS[name], json.dumps(value).encode())


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("nesting", [b"[" * 30_000, b'{"a":' * 30_000, b"[" * 200_000 + b"]" * 200_000,
                                     b"a = [" + b"[" * 30_000, b"- " * 30_000 + b"x"],
                         ids=["open lists", "open objects", "closed lists", "toml", "yaml"])
def test_deep_nesting(name, nesting):
    answers_or_refuses(READERS[name], nesting)


@pytest.mark.parametrize("name", READERS)
def test_huge_input_stays_in_bounded_memory(name):
    """Ten MiB of input: refused or read, with at most a small multiple of it allocated at the peak."""
    data = b'{"versions": {' + b'"1.0.0": {"sessions": 1, "crashes": 0},' * 260_000 + b'"2.0.0": {}}}'
    tracemalloc.start()
    try:
        answers_or_refuses(READERS[name], data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * len(data), f"{name}: {peak >> 20} MiB for {len(data) >> 20} MiB of input"
