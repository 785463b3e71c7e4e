"""The names releng puts into paths, URLs and records: file names, versions as folder names, channels, the actor.

A file name that reaches an update server, a URL or a `sha256sum -c` line is one plain path segment: a letter or
digit first (never `.` or `-`, so no hidden file and nothing an option parser or a shell would read), then
`[A-Za-z0-9._+~-]`, no `..`, at most 200 characters (docs/security-properties.md #8). Every name releng makes
(`<name>-<version>-<platform>-<arch>.<ext>`, SHA256SUMS, artifacts.json, upload ids, server names) passes; the
checks run before anything connects. Channels are lowercase words, as the channel-manifest schema says.
"""

from __future__ import annotations

import os
import re
from typing import TypeGuard

from releng import semver
from releng.errors import BadInput

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_NAME = 200
RULE = "[A-Za-z0-9._+~-], a letter or digit first, no '..'"  # what the messages say


def is_safe_name(name: object) -> TypeGuard[str]:
    """True for a plain file name that is safe on a server, in a URL and in SHA256SUMS."""
    return isinstance(name, str) and len(name) <= MAX_NAME and ".." not in name and bool(SAFE_NAME.fullmatch(name))


def check_name(name: object, what: str = "file name") -> str:
    """`name` if it is a safe plain file name (is_safe_name); BadInput naming `what` otherwise."""
    if not is_safe_name(name):
        raise BadInput(f"unsafe {what} {name!r}: {RULE}")
    return name


def check_version(version: object) -> str:
    """A SemVer version that is also a safe folder name (`releases/<version>/`)."""
    if not isinstance(version, str) or not semver.is_valid(version):
        raise BadInput(f"not a SemVer 2.0.0 version: {version!r}")
    return check_name(version, "version")


def is_channel(channel: object) -> TypeGuard[str]:
    return isinstance(channel, str) and bool(CHANNEL.fullmatch(channel))


def check_channel(channel: object) -> str:
    """A channel name (`channels/<channel>.json`): a lowercase letter, then up to 31 of [a-z0-9_-]."""
    if not is_channel(channel):
        raise BadInput(f"unsafe channel name {channel!r}: [a-z][a-z0-9_-]*, at most 32 characters")
    return channel


def actor() -> str:
    """Who acts, for history and rollback records: $RELENG_ACTOR (CI sets it), else user@host."""
    explicit = os.environ.get("RELENG_ACTOR")
    if explicit:
        return explicit
    import getpass  # only the commands that write records pay for these
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}"
