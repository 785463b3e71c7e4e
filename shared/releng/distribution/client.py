"""The reference update client's algorithm (docs/update-client.md) under the thin `check-update` script.

`check` runs it in the documented order: the state file is read (corrupt: refused before any request), the
channel's envelope fetched and verified, then `decide` (pure) checks product, channel, expiry and the recorded
number before it answers (version, rollout, platform). Every manifest the client answers from is recorded
(`client_state.record`: number and envelope digest per channel, under a lock, never lower than what is stored),
"no update" at once and an update once its download verified, so that a replay can never undo a rollback the
client has seen (issue 12, item 2). A refusal or failure (exit 2) changes nothing. Both network reads run inside
one total `releng.http.Deadline` whose sockets are cut when it passes (item 3): a server that drips bytes cannot
hold the client past `--max-time`, and a cut download leaves no `.part` file behind.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from releng import documents, http, names, semver, times
from releng.distribution import client_state
from releng.errors import BadInput, ExternalError
from releng.server import manifest

MANIFEST_CAP = 64 * 1024  # a channel manifest is a few KiB; reading stops past this
MAX_SECONDS = 86_400.0  # --timeout and --max-time: above 0, at most a day (a timer cannot wait for ever)
CHUNK = 64 * 1024
_OS = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}
_ARCH = {"amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


# --- inputs -----------------------------------------------------------------------------------------------------


def this_platform() -> str:
    """`<os>-<arch>` of this machine, as artifact keys spell it: linux-x86_64, macos-arm64, windows-x86_64."""
    import platform

    machine = platform.machine().lower()
    return f"{_OS.get(sys.platform, sys.platform)}-{_ARCH.get(machine, machine)}"


def seconds(text: str, flag: str) -> float:
    """A duration flag: a number above 0 and at most MAX_SECONDS (nan, inf, 0 and negatives are bad usage)."""
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{flag} must be a number of seconds, found {text!r}") from None
    if not 0 < value <= MAX_SECONDS:  # nan fails every comparison; inf is above the cap
        raise BadInput(f"{flag} must be above 0 and at most {MAX_SECONDS:g} seconds, found {text!r}")
    return value


def check_url(url: str, what: str = "--manifest-url") -> str:
    """An http(s) URL with a host and a valid port; a malformed one (`http://[::1/x`) is bad usage, not a bug."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as e:
        raise BadInput(f"{what} is not a valid URL: {e}", url) from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadInput(f"{what} must be an http or https URL with a host", url)
    return url


def channel_from_url(url: str) -> str:
    """The channel named by the manifest URL's file name, `<channel>.json`."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    stem = name.removesuffix(".json")
    if stem == name or not names.is_channel(stem):
        raise BadInput("cannot infer the channel from the manifest URL (no <channel>.json); give --channel", url)
    return stem


def artifact_url(manifest_url: str, url: str) -> str:
    """Resolve `url` against the manifest URL; refuse a result on another origin (scheme, host, port)."""
    try:
        resolved = urljoin(manifest_url, url)
        base, target = urlsplit(manifest_url), urlsplit(resolved)
    except ValueError:  # a signed but malformed URL (`http://[::1/x`) is refused like any other bad one
        raise BadInput(f"artifact URL {url!r} is not a valid URL") from None
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise BadInput(f"artifact URL {url!r} leaves the manifest's origin {base.scheme}://{base.netloc}")
    return resolved


# --- the decision (pure) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """What this installation asks for."""

    product: str
    channel: str
    current: semver.Version
    client_id: str
    platform: str


@dataclass(frozen=True)
class Decision:
    """The answer to a verified manifest: `update` with its `artifact`, or not, and whether to `record` it."""

    update: bool
    reason: str
    record: bool
    artifact: Mapping[str, Any] | None = None


def verify(envelope: bytes, trusted: Mapping[str, bytes], where: str, threshold: int = 1) -> dict[str, Any]:
    """manifest.verify_envelope, with JSON nested past the parser's depth refused as malformed (not exit 3)."""
    try:
        return manifest.verify_envelope(envelope, trusted, where, threshold)
    except RecursionError:
        raise manifest.MalformedEnvelope("JSON nested too deeply", where) from None


def decide(payload: Mapping[str, Any], digest: str, last: Mapping[str, Any] | None, ask: Ask,
           now: datetime) -> Decision:
    """The checks after the signature, in the documented order: BadInput refuses (nothing is recorded), a
    Decision answers. Every answer but "already handled" records the manifest."""
    if payload["product"] != ask.product:
        raise BadInput(f"the manifest is for product {payload['product']!r}, not {ask.product!r}")
    if payload["channel"] != ask.channel:
        raise BadInput(f"the manifest is for channel {payload['channel']!r}, not the requested {ask.channel!r}")
    if now >= times.parse_time(payload["expires_at"], "expires_at"):
        raise BadInput(f"the manifest expired at {payload['expires_at']} (now {times.format_time(now)})")
    number, version = payload["manifest_number"], payload["version"]
    if client_state.check_number(last, number, digest):
        return Decision(False, f"no update: manifest {number} was already handled", record=False)
    offered = semver.parse(version, "manifest version")
    rollback_of = payload.get("rollback_of")
    # The one accepted downgrade: a signed manifest that rolls back exactly the installed version.
    is_rollback = rollback_of is not None and semver.parse(rollback_of) == ask.current
    if offered == ask.current or (offered < ask.current and not is_rollback):
        return Decision(False, f"no update: {offered} is not newer than the installed {ask.current}", record=True)
    if not manifest.in_rollout(ask.client_id, version, payload.get("rollout")):
        return Decision(False, f"no update: not in the rollout of {offered} (or the rollout is halted)", record=True)
    artifact = payload["artifacts"].get(ask.platform)
    if artifact is None:
        return Decision(False, f"no update: {version} has no artifact for {ask.platform}", record=True)
    return Decision(True, f"update: {version}", record=True, artifact=artifact)


# --- the network, inside the deadline ---------------------------------------------------------------------------


def _fetch(url: str, timeout: float, deadline: http.Deadline, take: Callable[[bytes], None],
           absent_ok: bool = False) -> bool:
    """GET `url` (200 only, no redirects, identity encoding) and hand its body to `take` chunk by chunk, all of it
    before `deadline`: its sockets are cut when it passes, whatever the server drips. With `absent_ok` a 404 is
    False (no next root), not an error."""
    import requests

    try:
        with http.bounded(deadline, url) as session:
            try:
                response = session.get(url, stream=True, timeout=deadline.timeout(timeout), allow_redirects=False,
                                       headers={"Accept-Encoding": "identity"})
            except requests.RequestException as e:
                raise ExternalError(f"cannot fetch: {type(e).__name__}", url) from None
            with response:
                if absent_ok and response.status_code == 404:
                    return False
                if response.status_code != 200:
                    raise ExternalError(f"HTTP {response.status_code} (redirects are not followed)", url)
                try:
                    for chunk in response.iter_content(chunk_size=CHUNK):
                        if deadline.passed:  # between two reads: the timer may not have fired yet
                            raise http.TooSlow("past the deadline")
                        take(chunk)
                except (requests.RequestException, OSError) as e:
                    raise ExternalError(f"download failed: {type(e).__name__}", url) from None
    except http.TooSlow:
        raise ExternalError(f"no complete answer within --max-time ({deadline.seconds:g} s)", url) from None
    return True


def fetch_manifest(url: str, timeout: float, deadline: http.Deadline, cap: int = MANIFEST_CAP,
                   absent_ok: bool = False) -> bytes | None:
    """The envelope's bytes; reading stops as soon as they pass `cap`. None for a 404 when `absent_ok`."""
    data = bytearray()

    def take(chunk: bytes) -> None:
        data.extend(chunk)
        if len(data) > cap:
            raise BadInput(f"the answer is larger than {cap} bytes", url)

    return bytes(data) if _fetch(url, timeout, deadline, take, absent_ok) else None


def download(url: str, size: int, sha256: str, folder: Path, timeout: float, deadline: http.Deadline,
             before_rename: Callable[[], None] = lambda: None) -> Path:
    """Stream to a temp name in `folder`, stop past `size`, check size and sha256, call `before_rename` (which may
    refuse), then rename to the final name. On any failure the temp file is removed: nothing is left behind."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not names.is_safe_name(name):
        raise BadInput(f"unsafe artifact file name {name!r}", url)
    final, digest, got = folder / name, hashlib.sha256(), 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with documents.atomic_writer(final, suffix=".part") as f:  # nothing at `final` unless every check passes

            def take(chunk: bytes) -> None:
                nonlocal got
                got += len(chunk)
                if got > size:
                    raise BadInput(f"the artifact is longer than its signed size {size}", url)
                digest.update(chunk)
                f.write(chunk)

            _fetch(url, timeout, deadline, take)
            if got < size:
                raise BadInput(f"the artifact is shorter ({got} bytes) than its signed size {size}", url)
            if digest.hexdigest() != sha256:
                raise BadInput(f"the artifact's sha256 {digest.hexdigest()} is not the signed {sha256}", url)
            before_rename()
    except OSError as e:  # the download folder, not the network (_fetch turned those into ExternalError)
        raise ExternalError(f"cannot write the download: {e.strerror or e}", str(folder)) from None
    return final


# --- the whole check --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    manifest_url: str
    trusted: Mapping[str, bytes]
    ask: Ask
    state: Path
    download_dir: Path
    timeout: float  # per connect and per read
    deadline: http.Deadline  # for the whole run
    now: datetime  # one "now" for every comparison (docs/security-properties.md #18)
    shipped_root: bytes | None = None  # --root: the root document shipped with the app (issue 15)


@dataclass(frozen=True)
class Outcome:
    """What check-update prints: `message` for people, `body` for --json, the verified file's `path`."""

    update: bool
    message: str
    body: dict[str, Any]
    path: Path | None = None


def check(req: Request) -> Outcome:
    """docs/update-client.md's algorithm. BadInput or ExternalError (exit 2) leave the state file as it was."""
    state = client_state.read_state(req.state)  # corrupt: refused before any request
    root = None
    if req.shipped_root is not None:  # the newest root first: it says whose signatures count (issue 15)
        from releng.distribution import client_trust

        root = client_trust.update_root(req, fetch_manifest)
        state = client_state.read_state(req.state)  # a channel key change has discarded the numbers
    envelope = fetch_manifest(req.manifest_url, req.timeout, req.deadline)
    assert envelope is not None
    if root is None:
        payload = verify(envelope, req.trusted, req.manifest_url)
    else:
        channel = root.roles["channel"]
        payload = verify(envelope, channel.short_ids, req.manifest_url, channel.threshold)
    digest = manifest.envelope_digest(envelope)
    decision = decide(payload, digest, state["channels"].get(req.ask.channel), req.ask, req.now)
    body: dict[str, Any] = {"update": False, "channel": req.ask.channel, "manifest_number": payload["manifest_number"],
                            "version": payload["version"], "critical": payload.get("critical") is True}

    def commit() -> None:
        if decision.record:
            client_state.record(req.state, req.ask.channel, client_state.entry(payload, digest, req.now),
                                req.deadline)

    if decision.artifact is None:
        commit()
        return Outcome(False, decision.reason, {**body, "reason": decision.reason})
    url = artifact_url(req.manifest_url, decision.artifact["url"])
    if root is not None or payload.get("release_statement_sha256") is not None:
        from releng.distribution import client_trust  # the bytes must also be in the named release statement

        client_trust.check_statement(req, root, payload, url, decision.artifact["sha256"], fetch_manifest)
    path = download(url, decision.artifact["size"], decision.artifact["sha256"], req.download_dir, req.timeout,
                    req.deadline, before_rename=commit)
    kind = "critical update" if body["critical"] else "update"
    message = (f"{kind} {payload['version']} (channel {req.ask.channel}, manifest {payload['manifest_number']}) "
               f"downloaded and verified: {path}")
    return Outcome(True, message, {**body, "update": True, "path": str(path.resolve()),
                                   "platform": req.ask.platform}, path)

