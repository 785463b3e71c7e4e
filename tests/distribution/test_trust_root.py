"""releng.trust: the root document's checks and its chained rotation (issue 15). Keys come from fixed seeds, so
every signature, and every outcome, is the same on every run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from releng import trust
from trustkit import T0, root_payload, seed_key, signed


def test_a_root_signed_by_its_threshold_verifies_and_counts_distinct_keys():
    payload = root_payload(1, [1, 2, 3], [10], [20], (2, 1, 1))
    assert trust.verify_self(signed(payload, 1, 2)).version == 1
    with pytest.raises(trust.TrustError, match="1 of its own 2"):
        trust.verify_self(signed(payload, 1))
    doc = json.loads(signed(payload, 1))  # the same key's signature twice is one signature
    doc["signatures"] = doc["signatures"] * 2
    with pytest.raises(trust.TrustError, match="1 of its own 2"):
        trust.verify_self(json.dumps(doc).encode())


def _raw_role(keys: list, threshold: object) -> dict:
    return {"keys": keys, "threshold": threshold}


def _key(n: int, **changes: object) -> dict:
    return {**trust.role_entry([seed_key(n).public_raw], 1)["keys"][0], **changes}


@pytest.mark.parametrize(("role", "match"), [
    (_raw_role([_key(1)], 0), "threshold must be an integer >= 1"),
    (_raw_role([], 0), "threshold must be an integer >= 1"),
    (_raw_role([_key(1)], True), "threshold must be an integer >= 1"),
    (_raw_role([_key(1)], 2), "threshold 2 is more than its 1 keys"),
    (_raw_role([_key(1), _key(1)], 1), "listed twice"),
    (_raw_role([_key(1, keytype="rsa")], 1), "unknown key type 'rsa'"),
    (_raw_role([_key(1, keytype="ecdsa-sha2-nistp256")], 1), "unknown key type"),
    (_raw_role([_key(1, keyid="00" * 32)], 1), "keyid must be sha256"),
])
def test_zero_thresholds_duplicate_and_unknown_keys_are_refused(role, match):
    payload = root_payload(1, [1], [10], [20])
    payload["roles"]["channel"] = role
    with pytest.raises(trust.TrustError, match=match):
        trust.parse_root(payload)
    with pytest.raises(trust.TrustError, match=match):  # and a signer never signs such a document
        trust.sign_root(payload, [seed_key(1)])


def test_rotation_needs_the_old_and_the_new_root_threshold():
    v1 = trust.verify_self(signed(root_payload(1, [1, 2], [10], [20], (2, 1, 1)), 1, 2))
    v2 = root_payload(2, [3, 4], [10], [21], (2, 1, 1))
    assert trust.verify_update(v1, signed(v2, 1, 2, 3, 4)).version == 2
    with pytest.raises(trust.TrustError, match="from version 1's root keys"):  # only the new keys
        trust.verify_update(v1, signed(v2, 3, 4))
    with pytest.raises(trust.TrustError, match="from version 1's root keys"):  # one old key of two
        trust.verify_update(v1, signed(v2, 1, 3, 4))
    with pytest.raises(trust.TrustError, match="of its own 2 root"):  # only the old keys
        trust.verify_update(v1, signed(v2, 1, 2))


@pytest.mark.parametrize("version", [1, 2, 4])  # backwards, the same again, N+2 without N+1
def test_a_root_version_must_be_exactly_the_next(version):
    v2 = trust.verify_self(signed(root_payload(2, [1], [10], [20]), 1))
    with pytest.raises(trust.TrustError, match="expected root version 3"):
        trust.verify_update(v2, signed(root_payload(version, [1], [10], [20]), 1))


def test_root_version_zero_is_refused():
    payload = root_payload(1, [1], [10], [20])
    payload["version"] = 0
    with pytest.raises(trust.TrustError, match="version must be an integer >= 1"):
        trust.parse_root(payload)


def test_an_expired_root_is_refused():
    root = trust.verify_self(signed(root_payload(1, [1], [10], [20], expires=T0), 1))
    trust.check_fresh(root, T0 - timedelta(seconds=1))
    with pytest.raises(trust.TrustError, match="expired"):
        trust.check_fresh(root, T0)


def test_a_release_statement_needs_the_release_threshold():
    root = trust.verify_self(signed(root_payload(1, [1], [10, 11], [20], (1, 2, 1)), 1))
    sums = b"ab" * 32 + b"  gain-1.3.0-linux-x86_64.tar.gz\n"
    trust.verify_statement(sums, trust.sign_statement(sums, [seed_key(10), seed_key(11)]), root.roles["release"])
    with pytest.raises(trust.TrustError, match="1 of the 2"):
        trust.verify_statement(sums, trust.sign_statement(sums, [seed_key(10), seed_key(10)]),
                               root.roles["release"])
    with pytest.raises(trust.TrustError, match="0 of the 2"):  # signed by the channel key
        trust.verify_statement(sums, trust.sign_statement(sums, [seed_key(20)]), root.roles["release"])


def test_the_payload_type_is_a_domain_tag():
    envelope = json.loads(signed(root_payload(1, [1], [10], [20]), 1))
    envelope["payloadType"] = "application/vnd.releng.channel-manifest+json"
    with pytest.raises(trust.TrustError, match="not a root document"):
        trust.verify_self(json.dumps(envelope).encode())
