"""GitHub releases through the REST API, idempotent on re-runs (docs/security-properties.md #37).

`sync_release` makes exactly one release for a tag hold exactly the given files:

1. find it by listing `GET /repos/{repo}/releases` (every page), never by `GET /releases/tags/{tag}`, which answers
   404 for a draft (a release whose earlier run stopped before publishing); two releases for one tag are refused;
2. create it as a draft when absent (`422 already_exists` from a concurrent or half-answered create: list again),
   or update its name, body and `prerelease` flag (dev and beta releases are prereleases);
3. per file: skip an asset with the same name, state `uploaded`, size and `digest` (`sha256:<hex>`, computed by
   GitHub); delete a `starter` asset (an interrupted upload) or a mismatched one, then upload (`422 already_exists`
   on upload: list the assets again and judge);
4. publish last (`draft: false`), so nobody sees a release with missing assets.

429 and 5xx answers (and an answer not complete within `timeout` seconds in all, more for an upload: it may take
1 s per UPLOAD_RATE bytes) are retried with exponential backoff honouring Retry-After, for a bounded number of attempts
and at most `budget` seconds per call (default timeout x attempts). The token (from the variable named by
`github.token_env`) is sent only in the Authorization header, never printed: GitHub's error messages are redacted
(releng.http.redact) before they go into an error.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from releng import http
from releng.errors import BadInput, ExternalError
from releng.files import sha256_file

DEFAULT_API = "https://api.github.com"
UPLOAD_RATE = 256 << 10  # bytes/s: the slowest upload link an asset's deadline allows for (2 Mbit/s)
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class GitHubError(ExternalError):
    """GitHub refused or kept failing a request (exit 2); the message never holds the token."""


class Answer(NamedTuple):
    """A call's HTTP status, its JSON body (None when empty) and its message, redacted and cut, for an error."""

    status: int
    body: Any
    message: str = "no message"


@dataclass
class Result:
    release_id: int = 0
    html_url: str = ""
    created: bool = False
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class GitHub:
    api_base: str
    repository: str
    token: str = field(repr=False)
    attempts: int = 5
    backoff: float = 1.0
    timeout: float = 30.0  # seconds for one API call and its whole answer (an upload adds size / UPLOAD_RATE)
    budget: float | None = None  # seconds for one call with its retries and sleeps (None: its timeout x attempts)
    sleep: Callable[[float], None] = time.sleep

    def request(self, method: str, url: str, body: Any = None, *, data: bytes | None = None,
                ok: Sequence[int] = (200, 201, 204)) -> Answer:
        """One API call with retries; an Answer for `ok` statuses and 404/422 (the caller judges), GitHubError else."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.api_base.rstrip('/')}/repos/{self.repository}{url}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "releng-github-release"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
        def final(reply: http.Reply) -> bool:  # a 403 with Retry-After is GitHub's secondary rate limit
            return reply.status < 400 or reply.status in ok or reply.status in (404, 422) or not (
                http.overloaded(reply) or (reply.status == 403 and "Retry-After" in reply.headers))
        try:
            timeout = self.timeout + len(data) / UPLOAD_RATE if data else self.timeout
            reply = http.send(method, url, data=data, headers=headers, timeout=timeout, attempts=self.attempts,
                              backoff=self.backoff, budget=self.budget, sleep=self.sleep, retry=lambda r: not final(r),
                              describe=lambda r: f"HTTP {r.status}: {self._message(_json(r.body))}")
        except http.GaveUp as e:
            raise GitHubError(f"{method} {_path(url)} {e}", "github") from None
        body = _json(reply.body)
        answer = Answer(reply.status, body, self._message(body))
        if reply.status < 400 or reply.status in ok or reply.status in (404, 422):
            return answer
        raise GitHubError(f"{method} {_path(url)}: HTTP {reply.status}: {answer.message}", "github")

    def _message(self, body: Any) -> str:
        """GitHub's `message`, with the token and anything like a credential redacted, then cut to 300 characters."""
        text = str(body.get("message") or "") if isinstance(body, dict) else ""
        return http.redact(text, [self.token])[:300] or "no message"

    def pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, 1000):
            answer = self.request("GET", f"{path}?per_page=100&page={page}")
            if answer.status != 200 or not isinstance(answer.body, list):
                raise GitHubError(f"GET {path}: HTTP {answer.status}: {answer.message}", "github")
            items += [x for x in answer.body if isinstance(x, dict)]
            if len(answer.body) < 100:
                break
        return items

    def find_release(self, tag: str) -> dict[str, Any] | None:
        """The one release for `tag` (drafts included), found by listing; GitHubError when there are several."""
        found = [r for r in self.pages("/releases") if r.get("tag_name") == tag]
        if len(found) > 1:
            ids = ", ".join(str(r.get("id")) for r in found)
            raise GitHubError(f"{len(found)} releases exist for tag {tag} (ids {ids}): delete the extra ones", "github")
        return found[0] if found else None


def sync_release(gh: GitHub, tag: str, files: Sequence[Path], *, name: str | None = None, body: str = "",
                 prerelease: bool = False) -> Result:
    """Create or update the release for `tag` with exactly these files as assets (by name), then publish it."""
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise BadInput("two assets have the same file name")
    out = Result()
    fields = {"name": name or tag, "body": body, "prerelease": prerelease}
    release = gh.find_release(tag)
    if release is None:
        answer = gh.request("POST", "/releases", {"tag_name": tag, "draft": True, **fields})
        if answer.status == 201 and isinstance(answer.body, dict):
            release, out.created = answer.body, True
        elif answer.status == 422 and _already_exists(answer.body):
            release = gh.find_release(tag)  # created concurrently, or by an attempt whose answer was lost
            if release is None:
                raise GitHubError(f"a release for {tag} exists but is not listed (a draft needs a token with push "
                                  "access)", "github")
        else:
            raise GitHubError(f"cannot create the release for {tag}: HTTP {answer.status}: "
                              f"{answer.message}", "github")
    rid = int(release["id"])
    if any(release.get(k) != v for k, v in fields.items()):
        _expect(gh.request("PATCH", f"/releases/{rid}", fields), f"update release {rid}")
    upload_url = str(release["upload_url"]).split("{", 1)[0]
    assets = {a["name"]: a for a in gh.pages(f"/releases/{rid}/assets")}
    for path in files:
        size, digest = sha256_file(path)
        _sync_asset(gh, rid, upload_url, path, size, digest, assets, out)
    published = gh.request("PATCH", f"/releases/{rid}", {"draft": False}) if release.get("draft", True) else None
    final = _expect(published, f"publish release {rid}") if published is not None else release
    out.release_id, out.html_url = rid, str(final.get("html_url", ""))
    return out


def _sync_asset(gh: GitHub, rid: int, upload_url: str, path: Path, size: int, digest: str,
                assets: dict[str, dict[str, Any]], out: Result) -> None:
    for _ in range(2):
        current = assets.get(path.name)
        if current is not None:
            if _same(current, size, digest):
                out.skipped.append(path.name)
                return
            _expect(gh.request("DELETE", f"/releases/assets/{current['id']}", ok=(204, 404)),
                    f"delete asset {path.name}")
            out.deleted.append(path.name)
        query = urllib.parse.urlencode({"name": path.name})
        answer = gh.request("POST", f"{upload_url}?{query}", data=path.read_bytes())
        if answer.status == 201:
            out.uploaded.append(path.name)
            return
        if not (answer.status == 422 and _already_exists(answer.body)):
            raise GitHubError(f"cannot upload {path.name}: HTTP {answer.status}: {answer.message}", "github")
        assets.clear()  # an earlier attempt whose answer was lost, or a concurrent run: judge what is there
        assets.update({a["name"]: a for a in gh.pages(f"/releases/{rid}/assets")})
    raise GitHubError(f"cannot upload {path.name}: it keeps being replaced", "github")


def _same(asset: Mapping[str, Any], size: int, digest: str) -> bool:
    """Same bytes: uploaded completely, same size, and GitHub's digest equal (no digest: cannot tell, replace)."""
    return asset.get("state") == "uploaded" and asset.get("size") == size and asset.get("digest") == f"sha256:{digest}"


def _expect(answer: Answer, what: str) -> dict[str, Any]:
    if answer.status not in (200, 201, 204):
        raise GitHubError(f"cannot {what}: HTTP {answer.status}: {answer.message}", "github")
    return answer.body if isinstance(answer.body, dict) else {}


def _already_exists(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return any(isinstance(e, dict) and e.get("code") == "already_exists" for e in errors or [])


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except (ValueError, RecursionError):  # an answer nested too deeply is no answer either
        return None


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def from_config(cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> GitHub | None:
    """The client the config's `github` section describes; None when no repository is set."""
    section = cfg.get("github") or {}
    repo = section.get("repository")
    if repo is None:
        return None
    if not isinstance(repo, str) or not _REPO.fullmatch(repo) or ".." in repo:
        raise BadInput(f"github.repository must be \"owner/name\", found {repo!r}")
    api = section.get("api_base") or DEFAULT_API
    if not isinstance(api, str) or not re.fullmatch(r"https?://\S+", api):
        raise BadInput(f"github.api_base must be an http(s) URL, found {api!r}")
    env = section.get("token_env") or "GITHUB_TOKEN"
    token = (os.environ if environ is None else environ).get(env, "").strip()
    if not token:
        raise BadInput(f"no GitHub token: set ${env} (github.token_env)")
    return GitHub(api, repo, token)
