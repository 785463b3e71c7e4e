"""Fixtures of the distribution tests: one throwaway Ed25519 release key for the session."""

from __future__ import annotations

from testkit import session_key_fixtures

key_file, key = session_key_fixtures("key_file", "key")  # the PEM's path, and that key loaded
