"""The release gates that open the release folder (validate-release): every artifact intact and signed, the
archives' contents against the contents manifest, the packaged program run from an empty folder, and the
comparison of a rebuild; plus the checks on the input documents that make a missing or corrupt one exit 2.

Unlike `artifacts.verify_folder`, which stops at the first mismatch (verify-artifacts answers yes or no), these
collect every problem: a release manager fixes them all in one round.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from releng import artifacts, documents, files, names, semver, signing
from releng.errors import BadInput
from releng.packaging.archive.entries import check_name
from releng.validation.checklist import DEFAULTS, Context, Outcome

ARCHIVES = ("tar.gz", "tar.zst", "zip")
T = TypeVar("T")
GENERATED = ("INSTALL.txt",)  # written into each archive's root by build-package, not staged


def _archive_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged archive raises: a gate failure naming the archive, never a crash."""
    import zlib

    import zstandard

    return OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error, zstandard.ZstdError, BadInput


def read_document(path: Path, name: str) -> dict[str, Any]:
    """A stamped document, schema-validated when jsonschema is installed; BadInput (exit 2) naming the file."""
    doc = documents.read(path, name)
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:  # a dev dependency: the cheap stamp check above is what a bare install gets
        return doc
    from importlib import resources

    schema = json.loads(resources.files("releng").joinpath(f"schemas/{name}.schema.json").read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if error is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise BadInput(f"not a valid releng/{name} document: {error.message} at {where}", str(path))
    return doc


def read_junit(path: Path) -> dict[str, Any]:
    """Totals of a JUnit XML report (pytest, ctest --output-junit, gtest); BadInput naming the file if unreadable."""
    import xml.etree.ElementTree as ET  # expat >= 2.4.1 refuses entity-expansion bombs

    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise BadInput("no such JUnit report", str(path)) from None
    except (ET.ParseError, OSError) as e:
        raise BadInput(f"malformed JUnit XML: {e}", str(path)) from None
    if root.tag not in ("testsuites", "testsuite"):
        raise BadInput(f"not a JUnit report: root element <{root.tag}>", str(path))
    counts, failed = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}, []
    for case in root.iter("testcase"):
        counts["tests"] += 1
        for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(kind) is not None:
                counts[key] += 1
                if key != "skipped":
                    failed.append(f"{case.get('classname') or ''}.{case.get('name') or '?'}".lstrip("."))
    return {**counts, "failed": failed}


def check_artifacts_document(doc: Mapping[str, Any], where: str) -> None:
    """The fields the gates rely on, checked even without jsonschema; BadInput naming the file."""
    for key in ("name", "version", "platform", "arch"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise BadInput(f"malformed artifacts document: {key} must be a non-empty string", where)
    semver.parse(doc["version"], where)
    items = doc.get("artifacts")
    if not isinstance(items, list) or not all(
            isinstance(a, dict) and names.is_safe_name(a.get("path"))
            and isinstance(a.get("size"), int) and isinstance(a.get("sha256"), str) and isinstance(a.get("kind"), str)
            for a in items):
        raise BadInput("malformed artifacts document: artifacts must list path, kind, size and sha256", where)
    if not isinstance(doc.get("checksums"), dict) or not isinstance(doc.get("source_date_epoch"), int):
        raise BadInput("malformed artifacts document: no checksums or source_date_epoch", where)


def integrity(ctx: Context) -> Outcome:
    """Every artifact present with its size and sha256, SHA256SUMS agreeing, its signature valid."""
    dist, doc, problems = ctx.dist, ctx.artifacts_doc, []
    try:  # capped, regular files only: a SHA256SUMS.sig that is /dev/zero or a FIFO fails the gate, never hangs it
        sums = files.read_capped(dist / artifacts.SUMS, artifacts.SUMS_CAP, artifacts.SUMS)
    except files.Missing:
        return False, [f"{artifacts.SUMS} is missing from {dist}"]
    except BadInput as e:
        return False, [str(e)]
    signature = None
    try:
        raw = files.read_capped(dist / artifacts.SIG, artifacts.SIG_CAP, artifacts.SIG)
        signature = signing.parse_signature_line(raw.decode("ascii", "replace"))
        if signature is None:
            problems.append(f"{artifacts.SIG} is not one line of base64 of a 64-byte Ed25519 signature")
    except files.Missing:
        problems.append(f"{artifacts.SIG} is missing: the release is unsigned")
    except BadInput as e:
        problems.append(str(e))
    if ctx.public_key is None:
        problems.append("no trusted public key to check the signature with (--public-key or [validation] "
                        "public_key)")
    elif signature is not None and not signing.verify(ctx.public_key, signature, sums):
        problems.append(f"{artifacts.SIG} does not verify {artifacts.SUMS} with key {signing.key_id(ctx.public_key)}")
    try:
        listed = artifacts.parse_sums(sums.decode("utf-8", "replace"))
    except artifacts.Failed as e:
        listed = {}
        problems.append(str(e))
    if doc.get("checksums", {}).get("sha256") != hashlib.sha256(sums).hexdigest():
        problems.append(f"the sha256 of {artifacts.SUMS} differs from the one in {artifacts.DOCUMENT}")
    entries = {a["path"]: a for a in doc["artifacts"]}
    for extra in sorted(set(listed) - set(entries)):
        problems.append(f"{extra} is in {artifacts.SUMS} but not in {artifacts.DOCUMENT}")
    for path, a in sorted(entries.items()):
        try:
            size, digest = files.sha256_file(dist / path)
        except FileNotFoundError:
            problems.append(f"{path} is missing")
            continue
        except BadInput as e:  # a FIFO or a device: never read it
            problems.append(f"{path}: {e.what}")
            continue
        if size != a["size"]:
            problems.append(f"{path} is {size} bytes, {artifacts.DOCUMENT} says {a['size']}")
        if digest != a["sha256"]:
            problems.append(f"{path} does not match its sha256 in {artifacts.DOCUMENT} and {artifacts.SUMS}"
                            if listed.get(path) == a["sha256"] else f"{path} does not match its sha256")
        if path not in listed:
            problems.append(f"{path} is not listed in {artifacts.SUMS}")
        elif listed[path] != a["sha256"]:
            problems.append(f"{artifacts.DOCUMENT} and {artifacts.SUMS} disagree on the sha256 of {path}")
    if problems:
        return False, problems
    key = signing.key_id(ctx.public_key) if ctx.public_key else "?"
    return True, [f"{len(entries)} artifacts match size and sha256; {artifacts.SUMS} signed by key {key}"]


def _open_tar(path: Path, kind: str, stack: list[IO[bytes]]) -> tarfile.TarFile:
    if kind == "tar.gz":
        return tarfile.open(path, "r:gz")
    import zstandard

    raw = path.open("rb")
    stack.append(raw)
    stream = zstandard.ZstdDecompressor().stream_reader(raw)
    stack.append(stream)
    return tarfile.open(fileobj=stream, mode="r|")


def members(path: Path, kind: str, most: int = 100_000) -> Iterator[tuple[str, bool]]:
    """(name, is a directory) of each member of an archive, in order; BadInput past `most` members."""
    limits = Limits(1 << 62, most)  # only listed: the sizes do not matter here
    if kind == "zip":
        with zipfile.ZipFile(path) as z:
            for info in _capped(((i, 0) for i in z.infolist()), limits, path.name):
                yield info.filename.rstrip("/"), info.is_dir()
        return
    stack: list[IO[bytes]] = []
    try:
        with _open_tar(path, kind, stack) as tar:
            for m in _capped(((m, 0) for m in tar), limits, path.name):
                yield m.name.rstrip("/"), m.isdir()
    finally:
        for f in reversed(stack):
            f.close()


def _root(ctx: Context, a: Mapping[str, Any]) -> str:
    fields = {"name": ctx.artifacts_doc["name"], "version": ctx.artifacts_doc["version"], "platform": a["platform"],
              "arch": a["arch"]}
    return str(ctx.packaging.get("archive_root", "{name}-{version}-{platform}-{arch}")).format_map(fields)


def contents(ctx: Context) -> Outcome:
    """Each archive's files (under its root folder) against the contents manifest for its platform; each MSI's
    at their install paths, with its version and Authenticode signatures (msi_problems)."""
    from releng import config
    from releng.packaging import staging

    if ctx.contents is None:
        return False, ["no contents manifest"]
    data = config.load_toml(ctx.contents)
    checked, problems = [], []
    for a in ctx.artifacts_doc["artifacts"]:
        if a["kind"] not in (*ARCHIVES, "msi"):
            continue
        fields = {"name": ctx.artifacts_doc["name"], "exe": ".exe" if a["platform"] == "windows" else ""}
        manifest = staging.load_manifest(data, a["platform"], fields, str(ctx.contents))
        if a["kind"] == "msi":
            problems += [f"{a['path']}: {p}" for p in msi_problems(ctx, ctx.dist / a["path"], manifest)]
            checked.append(a["path"])
            continue
        root = _root(ctx, a)
        prefix = f"{root}/" if root else ""
        try:
            names = [n for n, is_dir in members(ctx.dist / a["path"], a["kind"], _limits(ctx).members)
                     if not is_dir]
        except _archive_errors() as e:
            problems.append(f"cannot read {a['path']}: {e}")
            continue
        outside = [n for n in names if not n.startswith(prefix)]
        files = [n[len(prefix):] for n in names if n.startswith(prefix) and n[len(prefix):] not in GENERATED]
        missing, unexpected = staging.check_contents(files, manifest)
        unexpected += outside
        if missing or unexpected:
            problems.append(f"{a['path']}: " + staging.contents_error(missing, unexpected, manifest, a["platform"])
                            .replace("the staging tree", "the archive"))
        checked.append(a["path"])
    if not checked and not problems:
        return False, ["no archive (tar.gz, tar.zst, zip) or MSI among the artifacts to check"]
    return (False, problems) if problems else (True, [f"complete per {ctx.contents.name}: {', '.join(checked)}"])


def msi_problems(ctx: Context, path: Path, manifest: Any) -> list[str]:
    """An MSI read back with msitools: it opens (msiinfo suminfo), its ProductVersion is the release's, its files
    sit where the contents manifest's staged paths install (Program Files\\<name>, Common Files\\<format>),
    and, with Windows code signing configured, osslsigncode verifies it and every PE file inside."""
    from releng.errors import ExternalError
    from releng.packaging import msi, staging

    name = ctx.artifacts_doc["name"]
    try:
        msi.summary(path)
        props = msi.properties(path)
        installed = msi.installed_files(path)
    except (BadInput, OSError) as e:
        return [f"cannot read the MSI: {e}"]
    except ExternalError as e:
        return [str(e)]
    problems = []
    want = msi.numeric_version(str(ctx.version))
    if props.get("ProductVersion") != want:
        problems.append(f"ProductVersion {props.get('ProductVersion')}, the release's is {want}")
    staged = [msi.staged_path(p, name) for p in installed]
    missing, unexpected = staging.check_contents([s for s in staged if s is not None], manifest)
    unexpected += [p for p, s in zip(installed, staged, strict=True) if s is None]
    if missing or unexpected:
        problems.append(staging.contents_error(missing, unexpected, manifest, "windows")
                        .replace("the staging tree", "the MSI"))
    if ctx.packaging.get("code_sign", {}).get("windows"):
        problems += _authenticode(ctx, path)
    return problems


def _authenticode(ctx: Context, path: Path) -> list[str]:
    """`osslsigncode verify` on the MSI and on each PE file msiextract unpacks from it, against [packaging]
    authenticode_ca (a PEM bundle in the repository) or the system's CAs."""
    import shutil

    from releng import config
    from releng.packaging import msi

    tool = shutil.which("osslsigncode")
    if tool is None:
        return ["osslsigncode not found on PATH: install the Debian package osslsigncode"]
    ca = ctx.packaging.get("authenticode_ca") or ""
    ca_args = ["-CAfile", str(config.repo_path(ctx.repo, ca, "[packaging] authenticode_ca", "releng.toml"))] \
        if ca else []

    def verify(file: Path, shown: str) -> list[str]:
        done = subprocess.run([tool, "verify", *ca_args, "-in", str(file)], capture_output=True, text=True,
                              errors="replace", stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode == 0:
            return []
        lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "fail" in ln.lower() or "error" in ln.lower()), lines[-1] if lines else "")
        return [f"Authenticode: {shown} does not verify ({why})"]

    problems = verify(path, "the MSI")
    with tempfile.TemporaryDirectory(prefix="releng-msi-") as tmp:
        try:
            msi.extract(path, Path(tmp))
        except BadInput as e:
            return [*problems, str(e)]
        for file in sorted(Path(tmp).rglob("*")):
            if msi.is_pe(file):
                problems += verify(file, file.relative_to(tmp).as_posix())
    return problems


class Limits(NamedTuple):
    """How much an archive may unpack to ([validation] unpack_max_bytes, unpack_max_members)."""

    bytes: int
    members: int


def _limits(ctx: Context) -> Limits:
    return Limits(*(ctx.settings.get(k, DEFAULTS[k]) for k in ("unpack_max_bytes", "unpack_max_members")))


def _capped(sizes: Iterator[tuple[T, int]], limits: Limits, name: str) -> Iterator[T]:
    """Each item as long as the members so far stay within `limits` (sizes as the headers declare them, checked
    before a member is written: the zip and tar readers never produce more than that); BadInput past them."""
    count = total = 0
    for item, size in sizes:
        count, total = count + 1, total + max(size, 0)
        if count > limits.members:
            raise BadInput(f"{name} holds more than {limits.members} members ([validation] unpack_max_members)")
        if total > limits.bytes:
            raise BadInput(f"{name} unpacks to more than {limits.bytes} bytes ([validation] unpack_max_bytes)")
        yield item


def _extract(path: Path, kind: str, into: Path, limits: Limits) -> None:
    """Unpack safely: the `data` filter refuses absolute paths, `..`, links leaving the folder and devices, and
    `limits` caps the members and their total size (an archive bomb fails the gate instead of filling the disk)."""
    if kind == "zip":
        with zipfile.ZipFile(path) as z:
            for info in _capped(((i, i.file_size) for i in z.infolist()), limits, path.name):
                check_name(info.filename.rstrip("/"), path.name)
                target = z.extract(info, into)
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    os.chmod(target, mode)
        return
    stack: list[IO[bytes]] = []
    try:
        with _open_tar(path, kind, stack) as tar:  # streamed (r|): each member is checked as it is reached
            tar.extractall(into, members=_capped(((m, m.size if m.isreg() else 0) for m in tar), limits, path.name),
                           filter="data")
    finally:
        for f in reversed(stack):
            f.close()


def smoke_run(ctx: Context) -> Outcome:
    """The archive for this host unpacked into an empty folder; its program's --version must print the version."""
    from releng.packaging import plugin_formats

    host = (plugin_formats.host_platform(), plugin_formats.host_arch())
    mine = {a["kind"]: a for a in ctx.artifacts_doc["artifacts"] if (a["platform"], a["arch"]) == host}
    a = next((mine[k] for k in ARCHIVES if k in mine), None)
    if a is None:
        return None, [f"no archive for this host ({'-'.join(host)}) among the artifacts: run this gate there"]
    fields = {"name": ctx.artifacts_doc["name"], "exe": ".exe" if a["platform"] == "windows" else ""}
    argv = [str(x).format_map(fields) for x in ctx.packaging.get("version_command", ["bin/{name}{exe}", "--version"])]
    with tempfile.TemporaryDirectory(prefix="releng-smoke-") as tmp:
        folder = Path(tmp)
        try:
            _extract(ctx.dist / a["path"], a["kind"], folder / "unpacked", _limits(ctx))
        except _archive_errors() as e:
            return False, [f"cannot unpack {a['path']}: {e}"]
        exe = folder / "unpacked" / _root(ctx, a) / argv[0]
        if not exe.is_file() or not os.access(exe, os.X_OK):
            return False, [f"{a['path']} holds no executable {argv[0]}"]
        env = {"PATH": os.defpath, "HOME": tmp, "LC_ALL": "C", "TMPDIR": tmp}
        try:
            done = subprocess.run([str(exe), *argv[1:]], cwd=folder, env=env, capture_output=True, text=True,
                                  errors="replace", stdin=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, [f"cannot run {argv[0]} from {a['path']}: {e}"]
    words = [w.strip(",;()").removeprefix("v") for w in (done.stdout + " " + done.stderr).split()]
    printed = next((w for w in words if semver.is_valid(w)), None)
    shown = f"{argv[0]} {' '.join(argv[1:])} from {a['path']} in an empty folder"
    if done.returncode != 0:
        return False, [f"{shown} exited {done.returncode}"]
    if printed != str(ctx.version):
        return False, [f"{shown} printed {printed or 'no version'}, the release is {ctx.version}"]
    return True, [f"{shown} printed {printed}"]


def compare_rebuild(original: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> Outcome:
    """Each artifact the rebuild made against the release's: same sha256, byte for byte."""
    again = {a["path"]: a["sha256"] for a in rebuilt.get("artifacts", [])}
    same, problems, absent = [], [], []
    for a in original["artifacts"]:
        if a["path"] not in again:
            absent.append(a["path"])
        elif again[a["path"]] != a["sha256"]:
            problems.append(f"{a['path']} differs when rebuilt (sha256 {again[a['path']][:16]}... instead of "
                            f"{a['sha256'][:16]}...)")
        else:
            same.append(a["path"])
    notes = [f"not rebuilt on this host: {', '.join(absent)}"] if absent else []
    if problems or not same:
        return False, problems + notes + ([] if same else ["nothing could be compared"])
    return True, [f"byte-identical when rebuilt: {', '.join(same)}", *notes]
