"""UTC times in the one form every releng document and the update server hold: RFC 3339 with `Z`, whole seconds.

`2026-01-31T12:00:00Z`: channel manifests (`issued_at`, `expires_at`, signed, so one spelling only), history and
rollback log lines, the records scripts write, the update client's state file. One writer and one strict reader,
so a time written by any script compares equal as text and parses the same everywhere. Readers of other people's
files (telemetry, the metrics inputs) accept more and stay with their readers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from releng.errors import BadInput

FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def utc_now() -> datetime:
    """Now in UTC at whole seconds: what a written time can hold, so comparing with a re-read one is exact."""
    return datetime.now(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """UTC RFC 3339 with `Z`, whole seconds (fractions are dropped)."""
    return moment.astimezone(UTC).strftime(FORMAT)


def parse_time(text: object, where: str = "time") -> datetime:
    """Parse `YYYY-MM-DDTHH:MM:SSZ` (exactly that form) as an aware UTC datetime; BadInput otherwise."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise BadInput(f"not a UTC RFC 3339 time like 2026-01-31T12:00:00Z: {text!r}", where)
    try:
        return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise BadInput(f"not a valid time: {text!r}", where) from None


def now_text() -> str:
    """`format_time(utc_now())`: the time a record is written, as the record holds it."""
    return format_time(utc_now())
