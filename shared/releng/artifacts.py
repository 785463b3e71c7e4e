"""A release folder's integrity: SHA256SUMS, its Ed25519 signature, the releng/artifacts document, and the check
that all three agree with the files (verify-artifacts; publish-release and validate-release reuse it).

- `SHA256SUMS`: `<64 lowercase hex>  <file name>` per artifact, sorted by name: what `sha256sum -c` reads.
- `SHA256SUMS.sig`: one line, base64 of the Ed25519 signature over the exact bytes of SHA256SUMS (DESIGN.md).
- `artifacts.json`: name, version, commit, tag, platform, arch, SOURCE_DATE_EPOCH, and per artifact its path
  (relative to the document's folder), kind, size and sha256, plus SHA256SUMS's own sha256 and signature.
  It cannot be listed in SHA256SUMS (it holds SHA256SUMS's signature); what vouches for it is that every artifact
  it names matches the signed SHA256SUMS, and that each file name spells its name, version, platform and arch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releng import names, signing
from releng.errors import BadInput, RelengError

SUMS, SIG, DOCUMENT = "SHA256SUMS", "SHA256SUMS.sig", "artifacts.json"
SUMS_CAP, SIG_CAP = 16 << 20, 4096  # read caps: a line per artifact; one line of base64 (a /dev/zero is refused)
_LINE = re.compile(rf"([0-9a-f]{{64}}) [ *]({names.SAFE_NAME.pattern})")


class Failed(RelengError):
    """A negative answer: a check found something wrong (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Artifact:
    path: str  # file name in the release folder
    kind: str  # tar.gz, tar.zst, zip, deb, exe, pkg
    platform: str
    arch: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "platform": self.platform, "arch": self.arch,
                "size": self.size, "sha256": self.sha256}


def artifact_name(name: str, version: str, platform: str, arch: str, kind: str) -> str:
    """`<name>-<version>-<platform>-<arch>.<ext>` (docs/packaging.md), checked to be a plain, safe file name."""
    file = f"{name}-{version}-{platform}-{arch}.{kind}"
    if not names.is_safe_name(file):
        raise BadInput(f"artifact name {file!r} is not a plain file name ({names.RULE})")
    return file


def sums_text(artifacts: Sequence[Artifact]) -> str:
    return "".join(f"{a.sha256}  {a.path}\n" for a in sorted(artifacts, key=lambda a: a.path))


def parse_sums(text: str, where: str = SUMS) -> dict[str, str]:
    """{file name: sha256} from SHA256SUMS text; Failed on a line that is not `<hex>  <safe name>`."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = _LINE.fullmatch(line)
        if m is None or not names.is_safe_name(m[2]) or m[2] in (SUMS, SIG, DOCUMENT) or m[2] in out:
            raise Failed(f"malformed or duplicate line {number}", where)
        out[m[2]] = m[1]
    if not out:
        raise Failed("lists no files", where)
    return out


def document(*, name: str, version: str, commit: str | None, tag: str | None, platform: str, arch: str,
             source_date_epoch: int, artifacts: Sequence[Artifact], sums: bytes, signature: bytes | None,
             key: signing.SigningKey | None, tools: Mapping[str, str]) -> dict[str, Any]:
    """The body of a releng/artifacts document (documents.write stamps it)."""
    sig = None
    if signature is not None and key is not None:
        sig = {"path": SIG, "algorithm": "ed25519", "key_id": key.key_id, "public_key": key.public_b64,
               "value": signing.signature_line(signature).strip()}
    return {"name": name, "version": version, "commit": commit, "tag": tag, "platform": platform, "arch": arch,
            "source_date_epoch": source_date_epoch,
            "artifacts": [a.as_json() for a in sorted(artifacts, key=lambda a: a.path)],
            "checksums": {"path": SUMS, "sha256": hashlib.sha256(sums).hexdigest(), "signature": sig},
            "tools": dict(sorted(tools.items()))}


def check_document(doc: Mapping[str, Any], where: str) -> None:
    """The shape every reader of an artifacts document relies on, checked cheaply before any of it is used:
    name and version strings, and each artifact an object with a safe path, kind, platform, arch, a byte count
    and a sha256. BadInput (exit 2) naming the first thing wrong (`"artifacts": "x"` was an internal error)."""
    for key in ("name", "version"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise BadInput(f"malformed artifacts document: {key} must be a non-empty string", where)
    items = doc.get("artifacts")
    if not isinstance(items, list):
        raise BadInput("malformed artifacts document: artifacts must be a list", where)
    for i, a in enumerate(items):
        if not isinstance(a, dict):
            raise BadInput(f"malformed artifacts document: artifacts[{i}] must be an object", where)
        missing = [k for k in ("path", "kind", "platform", "arch", "sha256") if not isinstance(a.get(k), str)]
        if missing:
            raise BadInput(f"malformed artifacts document: artifacts[{i}] needs {', '.join(missing)}", where)
        names.check_name(a["path"], "artifact name")  # "unsafe artifact name ...", as everywhere else
        size = a.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadInput(f"malformed artifacts document: artifacts[{i}].size must be a byte count", where)
        if not re.fullmatch(r"[0-9a-f]{64}", a["sha256"]):
            raise BadInput(f"malformed artifacts document: artifacts[{i}].sha256 must be 64 lowercase hex digits",
                           where)


def _read(folder: Path, name: str) -> bytes:
    from releng import files

    try:
        return files.read_capped(folder / name, SIG_CAP if name == SIG else SUMS_CAP, name)
    except files.Missing:  # a negative answer; a FIFO, a device or a file past the cap is bad input (exit 2)
        raise Failed(f"{name} is missing", str(folder)) from None


def verify_folder(folder: Path, public_raw: bytes,
                  hasher: Callable[[Path, int], tuple[int, str]]) -> dict[str, Any]:
    """Check a release folder; return its artifacts document. Failed (exit 1) names the first mismatch.

    Order: the signature over SHA256SUMS; artifacts.json against SHA256SUMS and the signature; each file's size
    (cheap) and then sha256 (`hasher(path, expected size)` returns (size, hex)).
    """
    from releng import documents

    if not folder.is_dir():
        raise BadInput("not a folder", str(folder))
    sums = _read(folder, SUMS)
    signature = signing.parse_signature_line(_read(folder, SIG).decode("ascii", "replace"))
    if signature is None:
        raise Failed(f"{SIG} is not one line of base64 of a 64-byte Ed25519 signature", str(folder))
    if not signing.verify(public_raw, signature, sums):
        raise Failed(f"the signature in {SIG} does not verify {SUMS} with key {signing.key_id(public_raw)}",
                     str(folder))
    listed = parse_sums(sums.decode("utf-8", "replace"), str(folder / SUMS))
    try:
        doc = documents.read(folder / DOCUMENT, "artifacts")
    except BadInput as e:
        if "newer than" in str(e) or "no such" in str(e):
            raise
        raise Failed(str(e)) from None
    _check_document(doc, listed, sums, signature, folder)
    for a in doc["artifacts"]:
        path = folder / a["path"]
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise Failed(f"{a['path']} is missing", str(folder)) from None
        if size != a["size"]:
            raise Failed(f"{a['path']} is {size} bytes, {DOCUMENT} says {a['size']}", str(folder))
        size, digest = hasher(path, size)
        if digest != listed[a["path"]]:
            raise Failed(f"{a['path']} does not match its sha256 in {SUMS}", str(folder))
    return doc


def _check_document(doc: Mapping[str, Any], listed: Mapping[str, str], sums: bytes, signature: bytes,
                    folder: Path) -> None:
    where = str(folder / DOCUMENT)
    try:
        entries = {a["path"]: a for a in doc["artifacts"]}
        checksums = doc["checksums"]
        fields = [doc[k] for k in ("name", "version")]
    except (KeyError, TypeError) as e:
        raise Failed(f"malformed document: missing {e}", where) from None
    if set(entries) != set(listed):
        extra = sorted(set(entries) ^ set(listed))
        raise Failed(f"{DOCUMENT} and {SUMS} list different files ({', '.join(extra[:3])})", where)
    for path, a in entries.items():
        if not names.is_safe_name(path):
            raise Failed(f"unsafe artifact path {path!r}", where)
        if a.get("sha256") != listed[path]:
            raise Failed(f"the sha256 of {path} differs from {SUMS}", where)
        if not isinstance(a.get("size"), int) or a["size"] < 0:
            raise Failed(f"the size of {path} is not a byte count", where)
        spelled = "{}-{}-{}-{}.{}".format(*fields[:2], a.get("platform"), a.get("arch"), a.get("kind"))
        if path != spelled:
            raise Failed(f"{path} is not named after the document's name, version, platform and arch "
                         f"({spelled})", where)
    if not isinstance(checksums, dict) or checksums.get("sha256") != hashlib.sha256(sums).hexdigest():
        raise Failed(f"the sha256 of {SUMS} differs from the one in {DOCUMENT}", where)
    sig = checksums.get("signature")
    if not isinstance(sig, dict) or sig.get("value") != signing.signature_line(signature).strip():
        raise Failed(f"the signature in {DOCUMENT} differs from {SIG}", where)
