"""releng.server.github against testkit.FakeGitHub (the fake_github fixture), a local fake of GitHub's releases REST API
(docs/security-properties.md #14 and #37).

The fake keeps releases and assets in memory and behaves like GitHub where it matters: it checks the Bearer token
and API headers, answers 404 for a draft on `/releases/tags/{tag}`, 422 `already_exists` for a second release of a
tag or a second asset of a name, computes `digest` (`sha256:<hex>`) for uploads, paginates listings, and can lose
an answer (do the work, answer 502) or ask to slow down (429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from faultkit import Dripping, EchoingGitHub
from releng.errors import BadInput
from releng.server import github
from testkit import GH_REPO as REPO
from testkit import GH_TOKEN as TOKEN
from testkit import FakeGitHub


@pytest.fixture
def files(tmp_path) -> list[Path]:
    out = []
    for name, data in (("gain-1.3.0-linux-x86_64.tar.gz", b"tar" * 1000), ("SHA256SUMS", b"sums\n")):
        (tmp_path / name).write_bytes(data)
        out.append(tmp_path / name)
    return out


def client(fake: FakeGitHub, sleeps: list[float] | None = None) -> github.GitHub:
    gh = github.from_config({"github": {"repository": REPO, "api_base": fake.base, "token_env": "GH"}}, {"GH": TOKEN})
    assert gh is not None
    gh.sleep = (sleeps if sleeps is not None else []).append
    return gh


def assets_of(rel: dict) -> dict[str, str]:
    return {a["name"]: a["digest"] for a in rel["assets"]}


def expected(files: list[Path]) -> dict[str, str]:
    return {f.name: "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_creates_a_draft_uploads_then_publishes_last(fake_github, files):
    out = github.sync_release(client(fake_github), "v1.3.0", files, name="gain 1.3.0", body="notes", prerelease=True)
    [rel] = fake_github.releases
    assert out.created and out.release_id == rel["id"] and sorted(out.uploaded) == sorted(f.name for f in files)
    assert (rel["draft"], rel["prerelease"], rel["name"], rel["body"]) == (False, True, "gain 1.3.0", "notes")
    assert assets_of(rel) == expected(files)
    writes = [(c.method, c.path) for c in fake_github.calls if c.method != "GET"]
    assert writes[-1] == ("PATCH", f"/repos/{REPO}/releases/{rel['id']}")  # published after every upload
    assert not any("/tags/" in c.path for c in fake_github.calls)


def test_a_rerun_changes_nothing(fake_github, files):
    github.sync_release(client(fake_github), "v1.3.0", files)
    fake_github.calls.clear()
    out = github.sync_release(client(fake_github), "v1.3.0", files)
    assert not out.created and out.uploaded == [] and out.deleted == [] and sorted(out.skipped) == sorted(
        f.name for f in files)
    assert [c.method for c in fake_github.calls] == ["GET", "GET"] and len(fake_github.releases) == 1


def test_an_unpublished_draft_is_found_by_listing_and_completed(fake_github, files):
    starter = fake_github.asset(files[0].name, b"partial", state="starter")
    wrong = fake_github.asset(files[1].name, b"other bytes")
    fake_github.add_release("v1.3.0", draft=True, assets=[starter, wrong])
    fake_github.add_release("v1.2.0")
    out = github.sync_release(client(fake_github), "v1.3.0", files, prerelease=False)
    assert not out.created and sorted(out.deleted) == sorted(out.uploaded) == sorted(f.name for f in files)
    rel = fake_github.releases[0]
    assert not rel["draft"] and assets_of(rel) == expected(files) and len(fake_github.releases) == 2


def test_a_lost_create_answer_reuses_the_created_release(fake_github, files):
    fake_github.fail(502, method="POST", path=f"/repos/{REPO}/releases", lose=True)
    sleeps: list[float] = []
    out = github.sync_release(client(fake_github, sleeps), "v1.3.0", files)
    assert len(fake_github.releases) == 1 and not out.created and sleeps == [1.0]
    assert assets_of(fake_github.releases[0]) == expected(files) and not fake_github.releases[0]["draft"]


def test_a_lost_upload_answer_is_judged_by_listing(fake_github, files):
    fake_github.fail(502, method="POST", path="/uploads/", lose=True)
    out = github.sync_release(client(fake_github), "v1.3.0", files)
    assert out.skipped == [files[0].name] and out.uploaded == [files[1].name]
    assert assets_of(fake_github.releases[0]) == expected(files)


def test_429_honours_retry_after(fake_github, files):
    fake_github.fail(429, retry_after="3", method="GET", path=f"/repos/{REPO}/releases")
    sleeps: list[float] = []
    github.sync_release(client(fake_github, sleeps), "v1.3.0", files)
    assert sleeps == [3.0]


def test_persistent_5xx_gives_up_after_bounded_attempts(fake_github, files):
    fake_github.fail(503, times=9, method="GET", path=f"/repos/{REPO}/releases")
    sleeps: list[float] = []
    with pytest.raises(github.GitHubError, match="after 5 attempts"):
        github.sync_release(client(fake_github, sleeps), "v1.3.0", files)
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and fake_github.releases == []


def test_the_release_is_found_on_a_later_page(fake_github, files):
    for i in range(150):
        fake_github.add_release(f"v0.{i}.0")
    fake_github.add_release("v1.3.0")
    github.sync_release(client(fake_github), "v1.3.0", files)
    assert len(fake_github.releases) == 151 and assets_of(fake_github.releases[-1]) == expected(files)


def test_two_releases_for_one_tag_are_refused(fake_github, files):
    fake_github.add_release("v1.3.0", draft=True)
    fake_github.add_release("v1.3.0")
    with pytest.raises(github.GitHubError, match="2 releases exist for tag v1.3.0"):
        github.sync_release(client(fake_github), "v1.3.0", files)
    assert all(c.method == "GET" for c in fake_github.calls)


def test_bad_credentials_are_not_retried_and_the_token_never_shows(fake_github, files, capfd):
    gh = client(fake_github)
    gh.token = "wrong-" + TOKEN
    with pytest.raises(github.GitHubError, match="HTTP 401: Bad credentials") as e:
        github.sync_release(gh, "v1.3.0", files)
    assert fake_github.requests == 1
    out = capfd.readouterr()
    assert TOKEN not in str(e.value) + repr(gh) + out.out + out.err


def test_duplicate_asset_names_are_refused(fake_github, files):
    with pytest.raises(BadInput):
        github.sync_release(client(fake_github), "v1.3.0", [files[0], files[0]])
    assert fake_github.calls == []


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


# --- issue 12: a dripping API is cut at the deadline; an error echoing the token never shows it ------------------


@pytest.mark.parametrize("phase", ["headers", "eof-body"])
def test_a_dripping_api_fails_the_call_within_its_budget(phase, files):
    with Dripping(phase) as srv:
        gh = github.GitHub(srv.url, REPO, TOKEN, timeout=1, attempts=2, backoff=0.1)
        start = time.monotonic()
        with pytest.raises(github.GitHubError, match="no complete answer within 1 s") as e:
            github.sync_release(gh, "v1.3.0", files)
        assert time.monotonic() - start < 2 + 1.0  # one call's budget (1 s x 2 attempts) and a generous second
    # the first call fails it: its second attempt would not have had its second (the budget is 2 s)
    assert "\n" not in str(e.value) and TOKEN not in str(e.value) and srv.hits == 1


def test_an_error_echoing_the_token_and_the_authorization_header_is_redacted(files, capfd):
    echoed = r"HTTP 401: Bad credentials: got Authorization: \[redacted\]"
    with EchoingGitHub() as fake, pytest.raises(github.GitHubError, match=echoed) as e:
        github.sync_release(client(fake), "v1.3.0", files)
    assert TOKEN not in str(e.value) and TOKEN[4:16] not in str(e.value)
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err
