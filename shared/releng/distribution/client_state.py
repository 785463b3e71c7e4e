"""check-update's state file: per channel, the number and envelope digest of the last manifest it answered from.

The recorded number is a floor (docs/update-client.md, "The state file"): a lower one is a replay, the same one
with other bytes is refused, and `record` writes under an flock on `<state>.lock`, re-reading the file first and
keeping the maximum, so that two clients sharing one file never lower it. The file is replaced atomically (temp,
fsync, rename); a corrupt one, in any way, is refused (exit 2) and never read as "trust anything".
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from releng import documents, http, times
from releng.errors import BadInput, ExternalError

STATE_CAP = 1 << 20  # one entry per channel: a state file never comes near 1 MiB
STATE_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_number(last: Mapping[str, Any] | None, number: int, digest: str) -> bool:
    """Whether `last` (a recorded entry) is this very manifest; BadInput for a lower number (a replay) or for the
    same number with other bytes. The recorded number is a floor: it never goes down."""
    if last is None:
        return False
    if number < last["manifest_number"]:
        raise BadInput(f"replayed manifest: manifest_number {number} is lower than the recorded "
                       f"{last['manifest_number']}")
    if number == last["manifest_number"]:
        if digest != last["envelope_sha256"]:
            raise BadInput(f"manifest_number {number} was seen before with different content")
        return True
    return False


def entry(payload: Mapping[str, Any], digest: str, now: datetime) -> dict[str, Any]:
    """The state file's entry for a manifest: its number and envelope digest (plus, for people, version and when)."""
    return {"manifest_number": payload["manifest_number"], "envelope_sha256": digest, "version": payload["version"],
            "recorded_at": times.format_time(now)}


def merged(state: Mapping[str, Any], channel: str, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """`state` with `new` recorded for `channel`; None when it already is. BadInput when `new` would lower the
    recorded number (or replace its bytes): what another client stored meanwhile wins."""
    if check_number(state["channels"].get(channel), new["manifest_number"], new["envelope_sha256"]):
        return None
    return {**state, "channels": {**state["channels"], channel: dict(new)}}


def fresh_state() -> dict[str, Any]:
    return {"state_version": STATE_VERSION, "channels": {}}


def parse_state(data: bytes, where: str) -> dict[str, Any]:
    """The state file's content; BadInput when it is corrupt in any way: never fall back to "trust anything"."""

    def corrupt(what: str) -> BadInput:
        return BadInput(f"corrupt state file: {what} (delete it only if you trust the next manifest)", where)

    if len(data) > STATE_CAP:
        raise corrupt(f"larger than {STATE_CAP} bytes")
    try:
        state = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, over-long integers, `[` x 30000
        raise corrupt("not UTF-8 JSON") from None
    if not isinstance(state, dict) or not _is_int(version := state.get("state_version")) or version != STATE_VERSION:
        raise corrupt(f"expected an object with state_version {STATE_VERSION} (an integer)")
    channels = state.get("channels")
    if not isinstance(channels, dict):
        raise corrupt("channels must be an object")
    for channel, last in channels.items():
        if not isinstance(last, dict) or not _is_int(last.get("manifest_number")) or last["manifest_number"] < 0:
            raise corrupt(f"channel {channel!r}: manifest_number must be an integer >= 0")
        if not isinstance(last.get("envelope_sha256"), str) or not _HEX64.fullmatch(last["envelope_sha256"]):
            raise corrupt(f"channel {channel!r}: envelope_sha256 must be 64 lowercase hex digits")
    return state


def read_state(path: Path) -> dict[str, Any]:
    """The state file, or a fresh state when there is none. A FIFO or device is refused, never waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return fresh_state()
    except OSError as e:
        raise BadInput(f"cannot read the state file: {e.strerror}", str(path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadInput("the state file is not a regular file", str(path))
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(STATE_CAP + 1)
        except OSError as e:
            raise BadInput(f"cannot read the state file: {e.strerror}", str(path)) from None
    return parse_state(data, str(path))


def record(path: Path, channel: str, new: Mapping[str, Any], deadline: http.Deadline) -> None:
    """Record `new` for `channel`: under the lock, re-read the file and write the maximum (temp, fsync, rename).

    Two clients sharing one state file never lower its number: the one that comes second sees what the first
    stored, and a lower manifest is then refused (BadInput) without a write."""
    with _locked(path, deadline):
        state = merged(read_state(path), channel, new)
        if state is None:
            return
        try:
            documents.write_text_atomic(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
        except OSError as e:
            raise ExternalError(f"cannot write the state file: {e.strerror}", str(path)) from None


def discard_numbers(path: Path, deadline: http.Deadline) -> None:
    """Forget every recorded manifest number (under the lock): the channel keys changed in a verified root, so
    numbers a stolen channel key pushed up (a fast-forward) no longer lock the real channel out (issue 15)."""
    with _locked(path, deadline):
        state = read_state(path)
        if not state["channels"]:
            return
        try:
            documents.write_text_atomic(path, json.dumps({**state, "channels": {}}, indent=2, sort_keys=True) + "\n")
        except OSError as e:
            raise ExternalError(f"cannot write the state file: {e.strerror}", str(path)) from None


@contextmanager
def _locked(path: Path, deadline: http.Deadline) -> Iterator[None]:
    """An exclusive flock on `<state>.lock` beside the state file (the state file itself is replaced by rename,
    so it cannot carry the lock), waited for until the deadline."""
    import fcntl

    lock = path.with_name(path.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as e:
        raise BadInput(f"cannot open the state file's lock: {e.strerror}", str(lock)) from None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline.passed:
                    raise ExternalError("the state file stayed locked by another client past --max-time",
                                        str(lock)) from None
                time.sleep(min(0.01, deadline.remaining()))
        yield
    finally:
        os.close(fd)  # releases the lock


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
