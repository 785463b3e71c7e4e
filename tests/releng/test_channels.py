"""releng.server.channels: every channel-manifest transition as a pure function, and the rules they all keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from releng import semver, times
from releng.errors import BadInput
from releng.server import channels, manifest

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLOCK = channels.Clock(NOW, 14)


def offer(version: str) -> channels.Offer:
    art = {"url": f"https://u.example/releases/{version}/a.tar.gz", "size": 3, "sha256": "0" * 64}
    return channels.Offer("gain", version, {"linux-x86_64": art}, f"notes of {version}")


def published(version: str = "1.0.0", channel: str = "stable") -> dict:
    change = channels.publish(None, channel, offer(version), CLOCK)
    assert change is not None
    return change.payload


def test_publish_starts_at_number_one_for_everybody():
    payload = published()
    assert (payload["manifest_number"], payload["rollout"], payload["version"]) == (1, channels.FULL, "1.0.0")
    assert payload["issued_at"] == times.format_time(NOW)
    assert payload["expires_at"] == times.format_time(NOW + timedelta(days=14))
    manifest.check_payload(payload)


def test_publish_again_changes_nothing_until_the_manifest_is_stale():
    current = published()
    assert channels.publish(current, "stable", offer("1.0.0"), CLOCK) is None
    late = channels.Clock(NOW + timedelta(days=13, hours=1), 14)
    change = channels.publish(current, "stable", offer("1.0.0"), late)
    assert change is not None and change.action == "refresh" and change.payload["manifest_number"] == 2
    assert change.payload["rollout"] == current["rollout"]


def test_publish_never_moves_a_channel_back():
    with pytest.raises(channels.NotNewer, match="already points at 2.0.0"):
        channels.publish(published("2.0.0"), "stable", offer("1.5.0"), CLOCK)


@pytest.mark.parametrize(("kwargs", "action", "rollout"), [
    ({"percent": 50}, "rollout", {"percent": 50, "halted": False}),
    ({"halt": True}, "halt", {"percent": 10, "halted": True}),
    ({"percent": 10}, None, None),
    ({}, None, None),
])
def test_steer(kwargs, action, rollout):
    current = channels.promote(None, "beta", offer("1.0.0"), CLOCK, 10).payload
    change = channels.steer(current, CLOCK, **kwargs)
    if action is None:
        assert change is None
    else:
        assert change is not None and (change.action, change.payload["rollout"]) == (action, rollout)


def test_steer_lowering_needs_force_and_a_percentage_resumes_a_halt():
    current = channels.promote(None, "beta", offer("1.0.0"), CLOCK, 50).payload
    with pytest.raises(BadInput, match="lowering the rollout needs --force"):
        channels.steer(current, CLOCK, percent=10)
    assert channels.steer(current, CLOCK, percent=10, force=True).payload["rollout"]["percent"] == 10
    halted = channels.steer(current, CLOCK, halt=True).payload
    assert channels.steer(halted, CLOCK, halt=True) is None
    assert channels.steer(halted, CLOCK, percent=50).payload["rollout"] == {"percent": 50, "halted": False}


def test_promote_only_moves_forward():
    with pytest.raises(BadInput, match="not older than"):
        channels.promote(published("1.0.0"), "stable", offer("1.0.0"), CLOCK)
    assert channels.promote(published("1.0.0"), "stable", offer("1.1.0"), CLOCK).payload["manifest_number"] == 2


def test_roll_back_names_the_bad_version_and_refuses_a_newer_target():
    current = published("1.2.0")
    change = channels.roll_back(current, offer("1.1.0"), CLOCK)
    assert (change.action, change.payload["version"], change.payload["rollback_of"]) == ("rollback", "1.1.0", "1.2.0")
    with pytest.raises(BadInput, match="not an older release"):
        channels.roll_back(current, offer("1.3.0"), CLOCK)


def test_revert_keeps_the_entry_rollout_and_sets_rollback_of_only_when_going_back():
    current = published("1.2.0")
    back = channels.revert(current, "stable", offer("1.1.0"), CLOCK, {"percent": 10, "halted": False})
    assert back.payload["rollback_of"] == "1.2.0" and back.payload["rollout"]["percent"] == 10
    forward = channels.revert(current, "stable", offer("1.3.0"), CLOCK, None)  # an old line without a rollout
    assert "rollback_of" not in forward.payload and forward.payload["rollout"] == channels.FULL


OPERATIONS = st.lists(st.sampled_from(["promote", "rollout", "halt", "resume", "rollback", "refresh", "revert"]),
                      max_size=30)


@settings(max_examples=150, deadline=None)
@given(OPERATIONS)
def test_every_change_gets_the_next_number_and_a_fresh_window(ops):
    """docs/security-properties.md #12 and #13: numbers grow by one per change; every new manifest is valid now."""
    current, version, moment = published("1.0.0"), semver.parse("1.0.0"), NOW
    for op in ops:
        moment += timedelta(days=2)
        clock = channels.Clock(moment, 14)
        if op == "promote":
            version = semver.bump(version, "minor")
            change = channels.promote(current, "stable", offer(str(version)), clock, 10)
        elif op in ("rollout", "resume"):
            change = channels.steer(current, clock, percent=100)
        elif op == "halt":
            change = channels.steer(current, clock, halt=True)
        elif op == "rollback" and semver.parse(current["version"]) > semver.parse("1.0.0"):
            change = channels.roll_back(current, offer("1.0.0"), clock)
        elif op == "revert":
            change = channels.revert(current, "stable", offer(current["version"]), clock, current["rollout"])
        else:
            change = channels.refresh(current, clock)
        if change is None:
            continue
        assert change.action in channels.ACTIONS
        assert change.payload["manifest_number"] == current["manifest_number"] + 1
        manifest.check_expiry_policy(change.payload, moment)
        manifest.check_payload(change.payload)
        current = change.payload
