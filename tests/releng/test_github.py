"""releng.github against a local fake of GitHub's releases REST API (UPDATE_SECURITY items 14 and 37).

The fake keeps releases and assets in memory and behaves like GitHub where it matters: it checks the Bearer token
and API headers, answers 404 for a draft on `/releases/tags/{tag}`, 422 `already_exists` for a second release of a
tag or a second asset of a name, computes `digest` (`sha256:<hex>`) for uploads, paginates listings, and can lose
an answer (do the work, answer 502) or ask to slow down (429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from releng import github
from releng.errors import BadInput

TOKEN = "ghp_fakeTokenValue0123456789abcdefXYZ"
REPO = "acme/gain"


class Fake(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.releases: list[dict] = []
        self.log: list[tuple[str, str]] = []
        self.faults: list[tuple[str, str, int, dict[str, str], bool]] = []  # method, path prefix, code, hdrs, do it
        self.next_id = 100
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_release(self, tag: str, draft: bool = False, assets: list[dict] | None = None) -> dict:
        self.next_id += 1
        rel = {"id": self.next_id, "tag_name": tag, "name": tag, "body": "", "draft": draft, "prerelease": False,
               "upload_url": f"{self.base}/uploads/repos/{REPO}/releases/{self.next_id}/assets{{?name,label}}",
               "html_url": f"https://github.com/{REPO}/releases/tag/{tag}", "assets": assets or []}
        self.releases.append(rel)
        return rel

    def asset(self, name: str, data: bytes, state: str = "uploaded") -> dict:
        self.next_id += 1
        return {"id": self.next_id, "name": name, "size": len(data), "state": state,
                "digest": "sha256:" + hashlib.sha256(data).hexdigest()}


def _public(rel: dict) -> dict:
    return {k: v for k, v in rel.items() if k != "assets"}


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, code: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.log.append((method, url.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"message": "Bad credentials"})
        assert self.headers["Accept"] == "application/vnd.github+json"
        assert self.headers["X-GitHub-Api-Version"] == "2022-11-28"
        lost = False
        for fault in list(self.server.faults):
            if fault[0] == method and url.path.startswith(fault[1]):
                self.server.faults.remove(fault)
                if not fault[4]:
                    return self.reply(fault[2], {"message": "fault"}, fault[3])
                lost = True  # do the work, then lose the answer
        code, body = self.route(method, url.path, query, data)
        if lost:
            return self.reply(502, {"message": "Server Error"})
        self.reply(code, body)

    def route(self, method: str, path: str, query: dict, data: bytes) -> tuple[int, object]:
        s = self.server
        api = f"/repos/{REPO}/releases"
        parts = path.removeprefix(api).strip("/").split("/") if path.startswith(api) else []
        if method == "GET" and path == api:
            per, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            return 200, [_public(r) for r in s.releases[(page - 1) * per:page * per]]
        if method == "GET" and parts[:1] == ["tags"]:
            live = [r for r in s.releases if r["tag_name"] == parts[1] and not r["draft"]]
            return (200, _public(live[0])) if live else (404, {"message": "Not Found"})
        if method == "POST" and path == api:
            body = json.loads(data)
            if any(r["tag_name"] == body["tag_name"] for r in s.releases):
                return 422, {"message": "Validation Failed", "errors": [
                    {"resource": "Release", "code": "already_exists", "field": "tag_name"}]}
            rel = s.add_release(body["tag_name"], body.get("draft", False))
            rel.update({k: body[k] for k in ("name", "body", "prerelease") if k in body})
            return 201, _public(rel)
        by_id = {str(r["id"]): r for r in s.releases}
        if method == "PATCH" and len(parts) == 1 and parts[0] in by_id:
            by_id[parts[0]].update(json.loads(data))
            return 200, _public(by_id[parts[0]])
        if method == "GET" and len(parts) == 2 and parts[1] == "assets" and parts[0] in by_id:
            per, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            return 200, by_id[parts[0]]["assets"][(page - 1) * per:page * per]
        if method == "DELETE" and parts[:1] == ["assets"]:
            for r in s.releases:
                r["assets"] = [a for a in r["assets"] if str(a["id"]) != parts[1]]
            return 204, None
        up = path.removeprefix(f"/uploads{api}/").split("/")
        if method == "POST" and path.startswith(f"/uploads{api}/") and up[0] in by_id:
            assert self.headers["Content-Type"] == "application/octet-stream"
            rel = by_id[up[0]]
            if any(a["name"] == query["name"] for a in rel["assets"]):
                return 422, {"message": "Validation Failed", "errors": [
                    {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]}
            asset = s.asset(query["name"], data)
            rel["assets"].append(asset)
            return 201, asset
        return 404, {"message": "Not Found"}

    def do_GET(self) -> None:  # noqa: N802
        self.handle_any("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.handle_any("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self.handle_any("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self.handle_any("DELETE")


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def files(tmp_path) -> list[Path]:
    out = []
    for name, data in (("gain-1.3.0-linux-x86_64.tar.gz", b"tar" * 1000), ("SHA256SUMS", b"sums\n")):
        (tmp_path / name).write_bytes(data)
        out.append(tmp_path / name)
    return out


def client(fake: Fake, sleeps: list[float] | None = None) -> github.GitHub:
    gh = github.from_config({"github": {"repository": REPO, "api_base": fake.base, "token_env": "GH"}}, {"GH": TOKEN})
    assert gh is not None
    gh.sleep = (sleeps if sleeps is not None else []).append
    return gh


def assets_of(rel: dict) -> dict[str, str]:
    return {a["name"]: a["digest"] for a in rel["assets"]}


def expected(files: list[Path]) -> dict[str, str]:
    return {f.name: "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_creates_a_draft_uploads_then_publishes_last(fake, files):
    out = github.sync_release(client(fake), "v1.3.0", files, name="gain 1.3.0", body="notes", prerelease=True)
    [rel] = fake.releases
    assert out.created and out.release_id == rel["id"] and sorted(out.uploaded) == sorted(f.name for f in files)
    assert (rel["draft"], rel["prerelease"], rel["name"], rel["body"]) == (False, True, "gain 1.3.0", "notes")
    assert assets_of(rel) == expected(files)
    writes = [entry for entry in fake.log if entry[0] != "GET"]
    assert writes[-1] == ("PATCH", f"/repos/{REPO}/releases/{rel['id']}")  # published after every upload
    assert not any("/tags/" in p for _, p in fake.log)


def test_a_rerun_changes_nothing(fake, files):
    github.sync_release(client(fake), "v1.3.0", files)
    fake.log.clear()
    out = github.sync_release(client(fake), "v1.3.0", files)
    assert not out.created and out.uploaded == [] and out.deleted == [] and sorted(out.skipped) == sorted(
        f.name for f in files)
    assert [m for m, _ in fake.log] == ["GET", "GET"] and len(fake.releases) == 1


def test_an_unpublished_draft_is_found_by_listing_and_completed(fake, files):
    starter = fake.asset(files[0].name, b"partial", state="starter")
    wrong = fake.asset(files[1].name, b"other bytes")
    fake.add_release("v1.3.0", draft=True, assets=[starter, wrong])
    fake.add_release("v1.2.0")
    out = github.sync_release(client(fake), "v1.3.0", files, prerelease=False)
    assert not out.created and sorted(out.deleted) == sorted(out.uploaded) == sorted(f.name for f in files)
    rel = fake.releases[0]
    assert not rel["draft"] and assets_of(rel) == expected(files) and len(fake.releases) == 2


def test_a_lost_create_answer_reuses_the_created_release(fake, files):
    fake.faults.append(("POST", f"/repos/{REPO}/releases", 502, {}, True))
    sleeps: list[float] = []
    out = github.sync_release(client(fake, sleeps), "v1.3.0", files)
    assert len(fake.releases) == 1 and not out.created and sleeps == [1.0]
    assert assets_of(fake.releases[0]) == expected(files) and not fake.releases[0]["draft"]


def test_a_lost_upload_answer_is_judged_by_listing(fake, files):
    fake.faults.append(("POST", "/uploads/", 502, {}, True))
    out = github.sync_release(client(fake), "v1.3.0", files)
    assert out.skipped == [files[0].name] and out.uploaded == [files[1].name]
    assert assets_of(fake.releases[0]) == expected(files)


def test_429_honours_retry_after(fake, files):
    fake.faults.append(("GET", f"/repos/{REPO}/releases", 429, {"Retry-After": "3"}, False))
    sleeps: list[float] = []
    github.sync_release(client(fake, sleeps), "v1.3.0", files)
    assert sleeps == [3.0]


def test_persistent_5xx_gives_up_after_bounded_attempts(fake, files):
    fake.faults += [("GET", f"/repos/{REPO}/releases", 503, {}, False)] * 9
    sleeps: list[float] = []
    with pytest.raises(github.GitHubError, match="after 5 attempts"):
        github.sync_release(client(fake, sleeps), "v1.3.0", files)
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and fake.releases == []


def test_the_release_is_found_on_a_later_page(fake, files):
    for i in range(150):
        fake.add_release(f"v0.{i}.0")
    fake.add_release("v1.3.0")
    github.sync_release(client(fake), "v1.3.0", files)
    assert len(fake.releases) == 151 and assets_of(fake.releases[-1]) == expected(files)


def test_two_releases_for_one_tag_are_refused(fake, files):
    fake.add_release("v1.3.0", draft=True)
    fake.add_release("v1.3.0")
    with pytest.raises(github.GitHubError, match="2 releases exist for tag v1.3.0"):
        github.sync_release(client(fake), "v1.3.0", files)
    assert all(m == "GET" for m, _ in fake.log)


def test_bad_credentials_are_not_retried_and_the_token_never_shows(fake, files, capfd):
    gh = client(fake)
    gh.token = "wrong-" + TOKEN
    with pytest.raises(github.GitHubError, match="HTTP 401: Bad credentials") as e:
        github.sync_release(gh, "v1.3.0", files)
    assert len(fake.log) == 1
    out = capfd.readouterr()
    assert TOKEN not in str(e.value) + repr(gh) + out.out + out.err


def test_duplicate_asset_names_are_refused(fake, files):
    with pytest.raises(BadInput):
        github.sync_release(client(fake), "v1.3.0", [files[0], files[0]])
    assert fake.log == []


@pytest.mark.parametrize(("section", "message"), [
    ({"repository": "no-slash"}, "owner/name"),
    ({"repository": "a/../b"}, "owner/name"),
    ({"repository": "a/b", "api_base": "ftp://x"}, "api_base"),
    ({"repository": "a/b", "token_env": "NOPE"}, r"\$NOPE"),
])
def test_bad_config(section, message):
    with pytest.raises(BadInput, match=message):
        github.from_config({"github": section}, {"GITHUB_TOKEN": TOKEN})


def test_no_repository_means_no_github():
    assert github.from_config({"github": {"repository": None}}) is None and github.from_config({}) is None
