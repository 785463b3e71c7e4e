"""Fixtures of the distribution tests: one throwaway Ed25519 release key for the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from releng import signing
from testkit import write_key


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "release.pem"
    write_key(path)
    return path


@pytest.fixture(scope="session")
def key(key_file: Path) -> signing.SigningKey:
    return signing.load_private_key_file(key_file)
