"""releng.names: the file-name, version and channel checks that run before anything connects, and the actor."""

from __future__ import annotations

import pytest
from releng import names
from releng.errors import BadInput


@pytest.mark.parametrize("name", ["gain-1.2.0-linux-x86_64.tar.gz", "SHA256SUMS.sig", "artifacts.json",
                                  "gain-1.0.0-rc.1+build.7-macos-arm64.pkg", "a~b", "0", "x" * 200])
def test_every_name_releng_makes_is_safe(name):
    assert names.check_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-rf", "_x", "+x", "a..b", "../x", "sub/x", "a\\b", "a b", "a\0b",
                                  "gain$(reboot)", "x" * 201, None, 7])
def test_unsafe_names_are_refused(name):
    with pytest.raises(BadInput, match="unsafe server name"):
        names.check_name(name, "server name")


def test_versions_and_channels():
    assert names.check_version("1.2.0-rc.1+b.7") == "1.2.0-rc.1+b.7"
    with pytest.raises(BadInput, match="not a SemVer"):
        names.check_version("1.2")
    assert names.check_channel("stable") == "stable" and names.is_channel("beta_2")
    for bad in ("Stable", "2beta", "", "a" * 33, "dev.json", None):
        with pytest.raises(BadInput, match="unsafe channel name"):
            names.check_channel(bad)


def test_actor(monkeypatch):
    monkeypatch.setenv("RELENG_ACTOR", "ci-bot")
    assert names.actor() == "ci-bot"
    monkeypatch.delenv("RELENG_ACTOR")
    user, _, host = names.actor().partition("@")
    assert user and host
