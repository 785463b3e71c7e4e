"""Helpers the test folders share that are plain functions or classes rather than fixtures (importable as
`testkit`): release folders and keys, and local stand-ins for Cloudflare, GitHub and a Slack-compatible webhook
(tests/conftest.py wraps those in the fixtures fake_cloudflare, fake_github and fake_webhook)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Self

from releng import artifacts, documents, signing
from releng.server.local import LocalTransport
from releng.server.transport import Upload

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"


def null_device(path: Path) -> Path:
    """A character device with /dev/null's numbers at `path` (a temp dir, never the real /dev/null); skips the
    test where device nodes cannot be made or opened (not root, a nodev mount)."""
    import os
    import stat

    import pytest

    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        path.open("wb").close()
    except OSError:
        pytest.skip("cannot make or open a device node here (not root, or a nodev mount)")
    return path


def copy_plugin(dest: Path, changelog: str | None = None) -> Path:
    """A copy of examples/plugin at `dest`, without any build output the checkout may hold (every test builds from
    source), and with `changelog` as its CHANGELOG.md when given; returns `dest`."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", "__pycache__"))
    if changelog is not None:
        (dest / "CHANGELOG.md").write_text(changelog)
    return dest


def make_release(folder: Path, key: signing.SigningKey, version: str = "1.2.0", size: int = 200_000, seed: int = 1,
                 changes: bool = True, platform: str = "linux", arch: str = "x86_64") -> Path:
    """A signed release folder as build-package writes it (one seeded random archive, SHA256SUMS, its signature,
    artifacts.json) plus, with `changes`, a changes document; returns the path of its artifacts.json."""
    folder.mkdir(parents=True)
    data = random.Random(seed).randbytes(size)
    name = f"gain-{version}-{platform}-{arch}.tar.gz"
    (folder / name).write_bytes(data)
    arts = [artifacts.Artifact(name, "tar.gz", platform, arch, size, hashlib.sha256(data).hexdigest())]
    sums = artifacts.sums_text(arts).encode()
    (folder / artifacts.SUMS).write_bytes(sums)
    sig = key.sign(sums)
    (folder / artifacts.SIG).write_text(signing.signature_line(sig))
    documents.write(folder / "artifacts.json", "artifacts", artifacts.document(
        name="gain", version=version, commit=None, tag=None, platform=platform, arch=arch, source_date_epoch=0,
        artifacts=arts, sums=sums, signature=sig, key=key, tools={}))
    if changes:
        documents.write(folder / "changes.json", "changes", {"repo_url": None, "tag_prefix": "v", "versions": [
            {"version": version, "date": "2026-11-27", "tag": f"v{version}", "previous_tag": None, "url": None,
             "entries": [{"category": "Added", "scope": None, "text": f"release {version}", "breaking": False,
                          "breaking_text": None, "refs": [], "commit": "a" * 40, "type": "feat"}]}]})
    return folder / "artifacts.json"


def write_key(path: Path) -> str:
    """A fresh Ed25519 release key written to `path` as unencrypted PKCS#8 PEM; returns the public key's base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return signing.public_key_to_b64(raw)


BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def flip_base64(path: Path, offset: int = 5) -> None:
    """Change the base64 character at `offset` of a signature file to the next one of the alphabet: still base64,
    and (offset in the first 84 of 88 characters, all 6 bits significant) a different decoded signature, whatever
    the key. A byte XOR 1 instead left base64 in 1 run of 16 ('+' -> '*', 'Z' -> '['): issue 12, item 11."""
    text = path.read_text(encoding="ascii")
    assert 0 <= offset < 84 and text[offset] in BASE64
    path.write_text(text[:offset] + BASE64[(BASE64.index(text[offset]) + 1) % 64] + text[offset + 1:],
                    encoding="ascii")


def session_key_fixtures(file_name: str, key_name: str) -> tuple[Any, Any]:
    """The two session fixtures a folder that signs with its own throwaway key declares in its conftest.py, as
    `file, key = session_key_fixtures("file", "key")`: `file_name`, the PEM written by write_key to a fresh temp dir,
    and `key_name`, that file loaded as a signing.SigningKey. One factory so every folder's key is made the same way
    while each keeps the fixture names its tests use."""
    import pytest

    @pytest.fixture(scope="session", name=file_name)
    def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
        path = tmp_path_factory.mktemp(file_name) / "release.pem"
        write_key(path)
        return path

    @pytest.fixture(scope="session", name=key_name)
    def key(request: pytest.FixtureRequest) -> signing.SigningKey:
        return signing.load_private_key_file(request.getfixturevalue(file_name))

    return key_file, key


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under a server root with its content digest (or link target) and mtime: equal snapshots mean
    nothing was written, renamed or touched (dry runs, refusals)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            out[str(p.relative_to(root))] = ("-> " + os.readlink(p), st.st_mtime_ns)
        elif p.is_file():
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
        else:
            out[str(p.relative_to(root)) + "/"] = ("dir", 0)
    return out


# ---- local stand-ins for the web APIs the scripts call ---------------------------------------------------------------
# Each is a real HTTP server on 127.0.0.1 (a free port) served by a daemon thread. It checks what the real service
# checks, records every request in `calls`, and `fail()` programs faults: answers to give instead of serving.

CF_ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
CF_TOKEN = "Y4Jk-secret-cdn-token-ffa1"
GH_REPO = "acme/gain"
GH_TOKEN = "ghp_fakeTokenValue0123456789abcdefXYZ"


class Call(NamedTuple):
    """One request a fake received and what it answered."""

    method: str
    path: str  # without the query
    query: dict[str, str]
    body: Any  # the parsed JSON of a JSON body, else the raw bytes; None when empty
    status: int


@dataclass
class Fault:
    """`times` matching requests (None: every one until removed from `faults`) are answered `status` instead of
    served, with `Retry-After` when given. With `lose`, the request is served first and only its answer is replaced:
    the work is done but the client never learns it (a lost answer)."""

    status: int
    times: int | None = 1
    retry_after: str | None = None
    method: str | None = None
    path: str | None = None  # a path prefix
    lose: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and path.startswith(self.path or "")


class FakeService(ThreadingHTTPServer):
    """The shared part: the server thread, the request log, the faults. A subclass says what it refuses whatever the
    faults (`refuse`: routing, credentials, malformed bodies), how it serves (`route`) and how it words an error."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def requests(self) -> int:
        """Requests received, refused and failed ones included."""
        return len(self.calls)

    def fail(self, status: int, times: int | None = 1, *, retry_after: str | None = None, method: str | None = None,
             path: str | None = None, lose: bool = False) -> Fault:
        fault = Fault(status, times, retry_after, method, path, lose)
        with self.lock:
            self.faults.append(fault)
        return fault

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        return None

    def route(self, method: str, path: str, query: dict[str, str], headers: Message, body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def error(self, status: int, message: str) -> Any:
        return {"message": message}

    def answer(self, method: str, target: str, headers: Message, data: bytes) -> tuple[int, Any, dict[str, str]]:
        url = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(url.query))
        body: Any = data or None
        if data and "json" in headers.get("Content-Type", ""):
            try:
                body = json.loads(data)
            except ValueError:
                pass  # left as bytes: the service answers that it is not JSON
        with self.lock:
            status, out, extra = self._serve(method, url.path, query, headers, body)
            self.calls.append(Call(method, url.path, query, body, status))
        return status, out, extra

    def _serve(self, method: str, path: str, query: dict[str, str], headers: Message,
               body: Any) -> tuple[int, Any, dict[str, str]]:
        refused = self.refuse(method, path, headers, body)
        if refused is not None:
            return refused[0], refused[1], {}
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is None:
            return *self.route(method, path, query, headers, body), {}
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
        if fault.lose:
            self.route(method, path, query, headers, body)
        extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return fault.status, self.error(fault.status, "injected fault"), extra


class _Handler(BaseHTTPRequestHandler):
    server: FakeService

    def log_message(self, *args: object) -> None:
        pass

    def _any(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body, extra = self.server.answer(self.command, self.path, self.headers, data)
        if isinstance(body, str):
            raw, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            raw, kind = (b"" if body is None else json.dumps(body).encode()), "application/json; charset=utf-8"
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any


class FakeCloudflare(FakeService):
    """Cloudflare's `POST /client/v4/zones/{zone}/purge_cache` as Cloudflare checks it: the zone in the path (else
    404), `Authorization: Bearer <token>` (else 403, error 10000 "Authentication error"), a JSON body that is exactly
    `{"files": [...]}` of 1 to 100 absolute http(s) URLs (else 400). `batches` holds each accepted request's URLs;
    `on_purge(files)`, when set, runs as a batch is accepted (to look at the servers at that moment)."""

    def __init__(self, zone: str = CF_ZONE, token: str = CF_TOKEN,
                 on_purge: Callable[[list[str]], None] | None = None) -> None:
        self.zone, self.token, self.on_purge = zone, token, on_purge
        self.batches: list[list[str]] = []
        super().__init__()

    @property
    def api(self) -> str:
        """The `cdn.api_base` to configure."""
        return f"{self.base}/client/v4"

    @property
    def urls(self) -> list[str]:
        """Every URL purged, in order."""
        return [url for batch in self.batches for url in batch]

    def error(self, status: int, message: str) -> Any:
        return self._errors(971 if status == 429 else 1000, message)

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        if method != "POST" or path != f"/client/v4/zones/{self.zone}/purge_cache":
            return 404, self._errors(7003, "No route for that URI")
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 403, self._errors(10000, "Authentication error")
        if not isinstance(body, dict):
            return 400, self._errors(1012, "Request must be a JSON object")
        files = body.get("files") if set(body) == {"files"} else None
        if not isinstance(files, list) or not 0 < len(files) <= 100 or not all(
                isinstance(f, str) and f.startswith(("http://", "https://")) for f in files):
            return 400, self._errors(1015, "files must be 1 to 100 absolute URLs")
        return None

    def route(self, method: str, path: str, query: dict[str, str], headers: Message, body: Any) -> tuple[int, Any]:
        if self.on_purge is not None:
            self.on_purge(list(body["files"]))
        self.batches.append(list(body["files"]))
        return 200, {"success": True, "errors": [], "messages": [], "result": {"id": self.zone}}

    @staticmethod
    def _errors(code: int, message: str) -> dict[str, Any]:
        return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class FakeGitHub(FakeService):
    """GitHub's releases REST API for one repository, in memory, behaving like GitHub where it matters: it checks the
    Bearer token (else 401 "Bad credentials") and the API headers, lists releases (drafts included) and assets with
    per_page/page, answers 404 for a draft on `/releases/tags/{tag}`, 422 `already_exists` for a second release of a
    tag or a second asset of a name, creates, updates (PATCH) and deletes, and computes an upload's `digest`
    (`sha256:<hex>`). `releases` hold their `assets` (not shown in release answers, as on GitHub)."""

    def __init__(self, repo: str = GH_REPO, token: str = GH_TOKEN) -> None:
        self.repo, self.token = repo, token
        self.releases: list[dict[str, Any]] = []
        self.next_id = 100
        super().__init__()

    def add_release(self, tag: str, *, draft: bool = False, prerelease: bool = False, name: str | None = None,
                    body: str = "", assets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        self.next_id += 1
        rel = {"id": self.next_id, "tag_name": tag, "name": name or tag, "body": body, "draft": draft,
               "prerelease": prerelease,
               "upload_url": f"{self.base}/uploads/repos/{self.repo}/releases/{self.next_id}/assets{{?name,label}}",
               "html_url": f"https://github.com/{self.repo}/releases/tag/{tag}", "assets": assets or []}
        self.releases.append(rel)
        return rel

    def asset(self, name: str, data: bytes, state: str = "uploaded") -> dict[str, Any]:
        """An asset record as GitHub lists it (to put in add_release's `assets`)."""
        self.next_id += 1
        return {"id": self.next_id, "name": name, "size": len(data), "state": state,
                "digest": "sha256:" + hashlib.sha256(data).hexdigest()}

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        if headers.get("Accept") != "application/vnd.github+json" or \
                headers.get("X-GitHub-Api-Version") != "2022-11-28":
            return 400, {"message": "fake GitHub: send Accept: application/vnd.github+json and "
                                    "X-GitHub-Api-Version: 2022-11-28"}
        return None

    def route(self, method: str, path: str, query: dict[str, str], headers: Message, body: Any) -> tuple[int, Any]:
        api = f"/repos/{self.repo}/releases"
        parts = path.removeprefix(api).strip("/").split("/") if path.startswith(api) else []
        by_id = {str(r["id"]): r for r in self.releases}
        if method == "GET" and path == api:
            return 200, [_public(r) for r in _page(self.releases, query)]
        if method == "GET" and parts[:1] == ["tags"] and len(parts) == 2:
            live = [r for r in self.releases if r["tag_name"] == parts[1] and not r["draft"]]
            return (200, _public(live[0])) if live else (404, {"message": "Not Found"})
        if method == "POST" and path == api and isinstance(body, dict):
            if any(r["tag_name"] == body.get("tag_name") for r in self.releases):
                return 422, _already_exists("Release", "tag_name")
            rel = self.add_release(str(body["tag_name"]), draft=bool(body.get("draft", False)))
            rel.update({k: body[k] for k in ("name", "body", "prerelease") if k in body})
            return 201, _public(rel)
        if method == "PATCH" and len(parts) == 1 and parts[0] in by_id and isinstance(body, dict):
            by_id[parts[0]].update(body)
            return 200, _public(by_id[parts[0]])
        if method == "GET" and len(parts) == 2 and parts[1] == "assets" and parts[0] in by_id:
            return 200, _page(by_id[parts[0]]["assets"], query)
        if method == "DELETE" and parts[:1] == ["assets"] and len(parts) == 2:
            found = [r for r in self.releases if any(str(a["id"]) == parts[1] for a in r["assets"])]
            for r in found:
                r["assets"] = [a for a in r["assets"] if str(a["id"]) != parts[1]]
            return (204, None) if found else (404, {"message": "Not Found"})
        up = path.removeprefix(f"/uploads{api}/").split("/")
        if method == "POST" and path.startswith(f"/uploads{api}/") and up[0] in by_id and "name" in query:
            if headers.get("Content-Type") != "application/octet-stream" or not isinstance(body, bytes):
                return 415, {"message": "fake GitHub: an upload is Content-Type: application/octet-stream"}
            rel = by_id[up[0]]
            if any(a["name"] == query["name"] for a in rel["assets"]):
                return 422, _already_exists("ReleaseAsset", "name")
            asset = self.asset(query["name"], body)
            rel["assets"].append(asset)
            return 201, asset
        return 404, {"message": "Not Found"}


def _public(release: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in release.items() if k != "assets"}


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    per, page = int(query.get("per_page", 30)), int(query.get("page", 1))
    return items[(page - 1) * per:page * per]


def _already_exists(resource: str, field: str) -> dict[str, Any]:
    return {"message": "Validation Failed", "errors": [{"resource": resource, "code": "already_exists",
                                                        "field": field}]}


class FakeWebhook(FakeService):
    """A Slack-compatible incoming webhook: `POST` to its secret path of a JSON object with a `text` string, answered
    200 "ok" as Slack does (another path: 404 "no_service"; another body: 400 "invalid_payload"). `messages` holds
    every accepted body; `url` (a secret, like Slack's) is what to configure."""

    def __init__(self, path: str = "/services/T000/B000/secret") -> None:
        self.path = path
        self.messages: list[dict[str, Any]] = []
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + self.path

    def error(self, status: int, message: str) -> Any:
        return message

    def refuse(self, method: str, path: str, headers: Message, body: Any) -> tuple[int, Any] | None:
        if method != "POST" or path != self.path:
            return 404, "no_service"
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return 400, "invalid_payload"
        return None

    def route(self, method: str, path: str, query: dict[str, str], headers: Message, body: Any) -> tuple[int, Any]:
        self.messages.append(body)
        return 200, "ok"


class LoggingTransport(LocalTransport):
    """A real local transport that logs every call that changes the server (docs/security-properties.md #6 and #7's call
    log); several instances may share one `calls` list."""

    def __init__(self, name: str, root: Path, calls: list[tuple[str, ...]] | None = None) -> None:
        super().__init__(name, root)
        self.calls: list[tuple[str, ...]] = [] if calls is None else calls

    def mkdir(self, rel: str) -> bool:
        self.calls.append(("mkdir", rel))
        return super().mkdir(rel)

    def put_file(self, local: Path, rel: str) -> Upload:
        self.calls.append(("put_file", rel))
        return super().put_file(local, rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.calls.append(("write_bytes", rel))
        super().write_bytes(rel, data)

    def posix_rename(self, src: str, dst: str) -> None:
        self.calls.append(("posix_rename", src, dst))
        super().posix_rename(src, dst)

    def rename_noreplace(self, src: str, dst: str) -> None:
        self.calls.append(("rename_noreplace", src, dst))
        super().rename_noreplace(src, dst)

    def symlink(self, target: str, rel: str) -> None:
        self.calls.append(("symlink", target, rel))
        super().symlink(target, rel)

    def remove(self, rel: str) -> None:
        self.calls.append(("remove", rel))
        super().remove(rel)

    def rmdir(self, rel: str) -> None:
        self.calls.append(("rmdir", rel))
        super().rmdir(rel)


NEBULA_FILES = {  # a plugin repository that is not examples/plugin (issue 13): other names, no presets, build 8
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.20)\nproject(nebula-synth VERSION 0.3.0 LANGUAGES CXX)\n"
                      "add_executable(nebula-synth src/main.cpp)\ninstall(TARGETS nebula-synth DESTINATION bin)\n"
                      "install(FILES LICENSE DESTINATION share/doc/nebula-synth)\n"
                      "enable_testing()\nadd_test(NAME prints-its-version COMMAND nebula-synth --version)\n",
    "src/main.cpp": '#include "nebula_version.hpp"\n#include <cstdio>\n'
                    "int main() { std::puts(NEBULA_VERSION_STRING); }\n",
    "src/nebula_version.hpp": "#pragma once\n#define NEBULA_VERSION_MAJOR 0\n#define NEBULA_VERSION_MINOR 3\n"
                              "#define NEBULA_VERSION_PATCH 0\n#define NEBULA_VERSION_STRING \"0.3.0\"\n",
    "mac/Info.plist": "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n"
                      "\t<key>CFBundleShortVersionString</key>\n\t<string>0.3.0</string>\n"
                      "\t<key>CFBundleVersion</key>\n\t<string>8</string>\n\t<key>AudioComponents</key>\n\t<array>\n"
                      "\t\t<dict>\n\t\t\t<key>version</key>\n\t\t\t<integer>768</integer>\n\t\t</dict>\n\t</array>\n"
                      "</dict>\n</plist>\n",
    "win/nebula.rc": "1 VERSIONINFO\n FILEVERSION 0,3,0,8\n PRODUCTVERSION 0,3,0,8\nBEGIN\n  BLOCK \"StringFileInfo\"\n"
                     "  BEGIN\n    BLOCK \"040904b0\"\n    BEGIN\n      VALUE \"FileVersion\", \"0.3.0.8\"\n"
                     "      VALUE \"ProductVersion\", \"0.3.0\"\n    END\n  END\nEND\n",
    "LICENSE": "MIT License\n",
}


def write_nebula(root: Path) -> Path:
    """The files of the nebula-synth plugin at `root` (no releng config: init-project writes one)."""
    for name, text in NEBULA_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# A releng config for nebula-synth: its name and the two version files every nebula test needs (CMake, header).
NEBULA_CONFIG = '''[project]
name = "nebula-synth"

[versioning]
tag_prefix = "v"

[[versioning.files]]
path = "CMakeLists.txt"
format = "cmake"

[[versioning.files]]
path = "src/nebula_version.hpp"
format = "c-header"
macro_prefix = "NEBULA_VERSION"
'''
