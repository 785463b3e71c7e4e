"""The client's side of the root of trust (issue 15, docs/update-client.md "The root of trust").

`update_root` walks `trust/<N+1>.root.json` from the newest root the client holds (the one shipped with the app, or
the newer one it stored beside its state file) until the server answers 404, accepting each version only through
`releng.trust.verify_update` (a threshold of the old root keys and of its own, version exactly N+1), and refuses an
expired newest root. When the channel keys change, the recorded manifest numbers are discarded first, then the new
root stored: a stolen channel key's fast-forward (a huge `manifest_number`) is undone by rotating that key, without
users deleting their state. `check_statement` checks the artifact against the release role: its sha256 and file
name must be listed in the release's SHA256SUMS, signed (SHA256SUMS.sig) by a threshold of release keys, and the
manifest must name that SHA256SUMS by its sha256 (`release_statement_sha256`). So a
stolen channel key can halt, delay or re-offer signed releases, but never ship a byte no release key signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from releng import artifacts, documents, files, trust
from releng.distribution import client_state
from releng.errors import BadInput, ExternalError

MAX_ROTATIONS = 1024  # a server cannot keep the client walking roots for ever
Fetch = Callable[..., bytes | None]


def stored_root_path(state: Path) -> Path:
    """The newest verified root, kept beside the state file: `<state>.root.json`."""
    return state.with_name(state.name + ".root.json")


def root_url(manifest_url: str, version: int) -> str:
    """`trust/<version>.root.json` at the update server's root (the manifest is at `channels/<channel>.json`)."""
    return urljoin(manifest_url, f"../trust/{version}.root.json")


def _start(req: Any) -> tuple[trust.Root, bytes]:
    shipped = trust.verify_self(req.shipped_root, "--root")
    path = stored_root_path(req.state)
    try:
        data = files.read_capped(path, trust.MAX_ROOT_BYTES, "stored root")
    except files.Missing:
        return shipped, req.shipped_root
    stored = trust.verify_self(data, str(path))
    return (stored, data) if stored.version > shipped.version else (shipped, req.shipped_root)


def update_root(req: Any, fetch: Fetch) -> trust.Root:
    """The newest root the server's chain leads to from what the client trusts; TrustError (exit 2) for any link
    that does not verify or an expired newest root, with the state and the stored root untouched."""
    start, current_bytes = _start(req)
    current = start
    for _ in range(MAX_ROTATIONS):
        url = root_url(req.manifest_url, current.version + 1)
        data = fetch(url, req.timeout, req.deadline, trust.MAX_ROOT_BYTES, True)
        if data is None:
            break
        current, current_bytes = trust.verify_update(current, data, url), data
    else:
        raise BadInput(f"more than {MAX_ROTATIONS} root versions in one run", req.manifest_url)
    trust.check_fresh(current, req.now)
    if current.version > start.version:
        if _role_changed(start, current, "channel"):
            client_state.discard_numbers(req.state, req.deadline)  # first: a crash then redoes it, harmlessly
        try:
            documents.write_bytes_atomic(stored_root_path(req.state), current_bytes)
        except OSError as e:
            raise ExternalError(f"cannot store the root: {e.strerror}", str(stored_root_path(req.state))) from None
    return current


def _role_changed(old: trust.Root, new: trust.Root, role: str) -> bool:
    return set(old.roles[role].keys) != set(new.roles[role].keys)


def check_statement(req: Any, root: trust.Root | None, payload: Mapping[str, Any], url: str, sha256: str,
                    fetch: Fetch) -> None:
    """The artifact's name and sha256 are in its release's SHA256SUMS (fetched from the artifact's folder), whose
    sha256 is the manifest's `release_statement_sha256`, and which a threshold of release keys signed
    (SHA256SUMS.sig). With a root the field is required: a channel key cannot offer bytes without naming the
    statement that lists them. Without one (`--public-key`) the field is checked when present, the signature not
    (the one key is the channel's; a release key it does not know may have signed). BadInput (exit 2) otherwise."""
    named = payload.get("release_statement_sha256")
    if named is None:
        if root is None:
            return
        raise BadInput("the manifest names no release statement (release_statement_sha256): refused with --root",
                       req.manifest_url)
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    sums = fetch(urljoin(url, artifacts.SUMS), req.timeout, req.deadline, artifacts.SUMS_CAP)
    assert sums is not None
    if named != hashlib.sha256(sums).hexdigest():
        raise BadInput("the release's SHA256SUMS is not the statement the manifest names (release_statement_sha256)",
                       urljoin(url, artifacts.SUMS))
    try:
        if root is not None:
            sig = fetch(urljoin(url, artifacts.SIG), req.timeout, req.deadline, artifacts.SIG_CAP)
            assert sig is not None
            trust.verify_statement(sums, sig.decode("ascii"), root.roles["release"], urljoin(url, artifacts.SUMS))
        listed = artifacts.parse_sums(sums.decode("utf-8"))
    except (UnicodeDecodeError, artifacts.Failed) as e:
        raise BadInput(f"malformed release statement: {e}", url) from None
    if listed.get(name) != sha256:
        raise BadInput(f"{name} with sha256 {sha256} is not in the release statement signed by the release role",
                       url)
