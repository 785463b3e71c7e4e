"""releng.times: the one RFC 3339 form every document and record holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from releng import times
from releng.errors import BadInput


def test_format_time_is_utc_z_whole_seconds():
    moment = datetime(2026, 1, 31, 13, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert times.format_time(moment) == "2026-01-31T12:00:00Z"
    assert times.parse_time("2026-01-31T12:00:00Z") == datetime(2026, 1, 31, 12, tzinfo=UTC)


def test_utc_now_has_whole_seconds_and_survives_a_round_trip():
    now = times.utc_now()
    assert now.microsecond == 0 and now.tzinfo is UTC
    assert times.parse_time(times.format_time(now)) == now
    assert times.parse_time(times.now_text()) >= now


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "2026-13-01T00:00:00Z",
                                  "2026-01-01T00:00:00.5Z", 17, None])
def test_parse_time_is_strict(text):
    with pytest.raises(BadInput):
        times.parse_time(text)
