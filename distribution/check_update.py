"""Check a signed update channel; download and verify the update for this machine (the reference update client).

  check-update --manifest-url https://updates.example/channels/stable.json --public-key KEY \\
               --current-version 1.2.0 --client-id 6f1c... --state ~/.gainplug/update-state.json

Fetches the channel's DSSE envelope (at most 64 KiB), verifies its Ed25519 signature with a trusted key before
reading anything else, then checks channel, expiry, manifest_number against the state file (replay), version
(newer, or a rollback of the installed one) and the staged rollout. The artifact for the platform is downloaded to
a temp name, checked against the signed size and sha256, and only then renamed; its path is printed on stdout.
The state file is written atomically, and only after all of that succeeded.

Artifact URLs may be relative (resolved against the manifest URL) or absolute on the manifest's own origin
(scheme, host and port); any other host is refused, and HTTP redirects are never followed.

Exit codes: 0 the verified update's path is on stdout; 1 no update (not newer, same manifest as last time, not in
the rollout, nothing for this platform); 2 refused (bad signature, wrong channel, expired, replayed, size or hash
mismatch, corrupt state, bad usage) or a network failure. docs/update-client.md specifies the algorithm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform as platform_module
import re
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from releng import cli, documents, names, semver, signing, times
from releng.errors import BadInput, ExternalError
from releng.server import manifest

MANIFEST_CAP = 64 * 1024
STATE_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_OS = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}
_ARCH = {"amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class NoUpdate(Exception):
    """A negative answer (exit 1), with the reason shown to the user."""


def this_platform() -> str:
    """`<os>-<arch>` of this machine, as artifact keys spell it: linux-x86_64, macos-arm64, windows-x86_64."""
    machine = platform_module.machine().lower()
    return f"{_OS.get(sys.platform, sys.platform)}-{_ARCH.get(machine, machine)}"


def channel_from_url(url: str) -> str:
    """The channel named by the manifest URL's file name, `<channel>.json`."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    stem = name.removesuffix(".json")
    if stem == name or not names.is_channel(stem):
        raise BadInput("cannot infer the channel from the manifest URL (no <channel>.json); give --channel", url)
    return stem


def artifact_url(manifest_url: str, url: str) -> str:
    """Resolve `url` against the manifest URL; refuse a result on another origin (scheme, host, port)."""
    resolved = urljoin(manifest_url, url)
    base, target = urlsplit(manifest_url), urlsplit(resolved)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise BadInput(f"artifact URL {url!r} leaves the manifest's origin {base.scheme}://{base.netloc}")
    return resolved


def read_state(path: Path) -> dict[str, Any]:
    """The state file, or a fresh state when it does not exist; BadInput (never "trust anything") when corrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"state_version": STATE_VERSION, "channels": {}}
    except OSError as e:
        raise BadInput(f"cannot read the state file: {e.strerror}", str(path)) from None
    try:
        state = json.loads(data)
    except ValueError:
        raise BadInput("corrupt state file: not JSON (delete it only if you trust the next manifest)",
                       str(path)) from None
    ok = (isinstance(state, dict) and state.get("state_version") == STATE_VERSION
          and isinstance(state.get("channels"), dict))
    for entry in state.get("channels", {}).values() if ok else ():
        number = entry.get("manifest_number") if isinstance(entry, dict) else None
        ok = ok and isinstance(number, int) and not isinstance(number, bool) and number >= 0
        ok = ok and isinstance(entry.get("envelope_sha256"), str) and bool(_HEX64.fullmatch(entry["envelope_sha256"]))
    if not ok:
        raise BadInput(f"corrupt state file: expected state_version {STATE_VERSION} and valid channels", str(path))
    result: dict[str, Any] = state
    return result


def evaluate(payload: dict[str, Any], digest: str, channel: str, last: dict[str, Any] | None,
             current: semver.Version, client_id: str, now: datetime) -> None:
    """The checks after the signature, in the documented order: BadInput refuses, NoUpdate answers no."""
    if payload["channel"] != channel:
        raise BadInput(f"the manifest is for channel {payload['channel']!r}, not the requested {channel!r}")
    expires = times.parse_time(payload["expires_at"], "expires_at")
    if now >= expires:
        raise BadInput(f"the manifest expired at {payload['expires_at']} (now {times.format_time(now)})")
    number = payload["manifest_number"]
    if last is not None:
        if number < last["manifest_number"]:
            raise BadInput(f"replayed manifest: manifest_number {number} is lower than the last accepted "
                           f"{last['manifest_number']}")
        if number == last["manifest_number"]:
            if digest != last["envelope_sha256"]:
                raise BadInput(f"manifest_number {number} was seen before with different content")
            raise NoUpdate(f"no update: manifest {number} was already handled")
    offered = semver.parse(payload["version"], "manifest version")
    rollback_of = payload.get("rollback_of")
    # The one accepted downgrade: a signed manifest that rolls back exactly the installed version.
    is_rollback = rollback_of is not None and semver.parse(rollback_of) == current
    if offered == current or (offered < current and not is_rollback):
        raise NoUpdate(f"no update: {offered} is not newer than the installed {current}")
    if not manifest.in_rollout(client_id, payload["version"], payload.get("rollout")):
        raise NoUpdate(f"no update: not in the rollout of {offered} (or the rollout is halted)")


def _get(url: str, timeout: float) -> Any:
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise BadInput("only http and https URLs are supported", url)
    try:
        response = requests.get(url, stream=True, timeout=timeout, allow_redirects=False,
                                headers={"Accept-Encoding": "identity"})
    except requests.RequestException as e:
        raise ExternalError(f"cannot fetch: {type(e).__name__}", url) from None
    if response.status_code != 200:
        response.close()
        raise ExternalError(f"HTTP {response.status_code} (redirects are not followed)", url)
    return response


def _chunks(response: Any, url: str, deadline: float) -> Iterator[bytes]:
    import requests

    try:
        for chunk in response.iter_content(chunk_size=65536):
            if time.monotonic() > deadline:
                raise ExternalError("download took too long (--max-time)", url)
            yield chunk
    except requests.RequestException as e:
        raise ExternalError(f"download failed: {type(e).__name__}", url) from None
    finally:
        response.close()


def fetch_manifest(url: str, timeout: float, deadline: float) -> bytes:
    """The envelope's bytes; reading stops as soon as they pass MANIFEST_CAP."""
    data = bytearray()
    for chunk in _chunks(_get(url, timeout), url, deadline):
        data += chunk
        if len(data) > MANIFEST_CAP:
            raise BadInput(f"the manifest is larger than {MANIFEST_CAP} bytes", url)
    return bytes(data)


def download(url: str, size: int, sha256: str, folder: Path, timeout: float, deadline: float) -> Path:
    """Stream to a temp name in `folder`, stop past `size`, check size and sha256, then rename to the final name."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not names.is_safe_name(name):
        raise BadInput(f"unsafe artifact file name {name!r}", url)
    folder.mkdir(parents=True, exist_ok=True)
    final, digest, got = folder / name, hashlib.sha256(), 0
    with documents.atomic_writer(final, suffix=".part") as f:  # nothing at `final` unless every check below passes
        for chunk in _chunks(_get(url, timeout), url, deadline):
            got += len(chunk)
            if got > size:
                raise BadInput(f"the artifact is longer than its signed size {size}", url)
            digest.update(chunk)
            f.write(chunk)
        if got < size:
            raise BadInput(f"the artifact is shorter ({got} bytes) than its signed size {size}", url)
        if digest.hexdigest() != sha256:
            raise BadInput(f"the artifact's sha256 {digest.hexdigest()} is not the signed {sha256}", url)
    return final


def _report(args: argparse.Namespace, body: dict[str, Any]) -> None:
    if args.json:
        sys.stdout.write(json.dumps(body, sort_keys=True) + "\n")
    elif body.get("path"):
        sys.stdout.write(f"{body['path']}\n")


def _run(args: argparse.Namespace) -> int:
    # One "now" for the whole run (docs/security-properties.md #18); --now only exists so tests can pin it.
    now = times.parse_time(args.now, "--now") if args.now else times.utc_now()
    deadline = time.monotonic() + args.max_time
    channel = args.channel or channel_from_url(args.manifest_url)
    current = semver.parse(args.current_version, "--current-version")
    if not args.client_id:
        raise BadInput("--client-id must not be empty")
    trusted = {signing.key_id(raw): raw for raw in map(signing.load_public_key, args.public_key)}
    state_path = Path(args.state)
    state = read_state(state_path)
    envelope = fetch_manifest(args.manifest_url, args.timeout, deadline)
    payload = manifest.verify_envelope(envelope, trusted, args.manifest_url)
    digest = manifest.envelope_digest(envelope)
    body: dict[str, Any] = {"update": False, "channel": channel, "manifest_number": payload["manifest_number"],
                            "version": payload["version"], "critical": payload.get("critical") is True}
    try:
        evaluate(payload, digest, channel, state["channels"].get(channel), current, args.client_id, now)
        platform = args.platform or this_platform()
        artifact = payload["artifacts"].get(platform)
        if artifact is None:
            raise NoUpdate(f"no update: {payload['version']} has no artifact for {platform}")
    except NoUpdate as answer:
        cli.info(args, str(answer))
        _report(args, {**body, "reason": str(answer)})
        return cli.NEGATIVE
    url = artifact_url(args.manifest_url, artifact["url"])
    path = download(url, artifact["size"], artifact["sha256"], Path(args.download_dir), args.timeout, deadline)
    channels = {**state["channels"], channel: {
        "manifest_number": payload["manifest_number"], "envelope_sha256": digest, "version": payload["version"],
        "accepted_at": times.format_time(now)}}
    documents.write_text_atomic(state_path, json.dumps({**state, "channels": channels}, indent=2, sort_keys=True)
                                + "\n")
    kind = "critical update" if body["critical"] else "update"
    cli.info(args, f"{kind} {payload['version']} (channel {channel}, manifest {payload['manifest_number']}) "
                   f"downloaded and verified: {path}")
    _report(args, {**body, "update": True, "path": str(path.resolve()), "platform": platform})
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="check-update")
    parser.add_argument("--manifest-url", required=True, metavar="URL", help="the channel manifest (DSSE envelope)")
    parser.add_argument("--public-key", required=True, action="append", metavar="KEY",
                        help="a trusted Ed25519 public key: base64 of its 32 raw bytes, or a file holding it "
                             "(PEM or OpenSSH public keys too); repeat for key rotation")
    parser.add_argument("--current-version", required=True, metavar="V", help="the installed version")
    parser.add_argument("--client-id", required=True, metavar="ID", help="this installation's stable random id")
    parser.add_argument("--state", required=True, metavar="FILE", help="the client's state file (JSON)")
    parser.add_argument("--channel", metavar="C", help="the channel asked for (default: <channel>.json of the URL)")
    parser.add_argument("--platform", metavar="P", help="artifact key <os>-<arch> (default: this machine's)")
    parser.add_argument("--download-dir", default=".", metavar="D", help="where the verified file goes (default: .)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per connect/read, seconds")
    parser.add_argument("--max-time", type=float, default=900.0, metavar="S", help="for the whole run, seconds")
    cli.add_output(parser, "the outcome as one JSON object", out=False)
    parser.add_argument("--now", metavar="RFC3339", help="FOR TESTS ONLY: pretend the time is this (UTC, ...Z)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
