"""Shared fixtures: an isolated git environment, real temporary repositories, and entry points.

Never mock git, Path or sys.argv: fixtures build real repositories in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from s3kit import moto_s3, s3_bucket  # noqa: F401 - fixtures: the moto S3 server and a fresh bucket
from testkit import FakeCloudflare, FakeGitHub, FakeWebhook, copy_plugin

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On CI (`CI` set, as .ci/run sets it), a test skipped for a missing tool fails: .ci/run installs every tool,
    so such a skip means a test silently stopped running. On a developer's machine it stays a skip."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI") and "not installed" in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where .ci/run installs every tool: {report.longrepr}"


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads the user's git config, hooks, pre-commit cache or known_hosts."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("")
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_AUTHOR_NAME="Release Tester",
        GIT_AUTHOR_EMAIL="tester@audiolab.example",
        GIT_COMMITTER_NAME="Release Tester",
        GIT_COMMITTER_EMAIL="tester@audiolab.example",
        GIT_TEMPLATE_DIR=str(tmp_path_factory.mktemp("git-template")),
        PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pre-commit-home")),
        TZ="UTC",
        LC_ALL="C.UTF-8",
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "NO_COLOR", "SOURCE_DATE_EPOCH"):
        os.environ.pop(var, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


class GitRepo:
    """A real git repository in a temp dir with helpers for commits and tags at chosen dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._clock = 1_700_000_000  # 2023-11-14, advanced one minute per commit unless a date is given
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True,
            env={**os.environ, **(env or {})},
        )
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str, *, files: dict[str, str] | None = None, date: int | None = None,
               allow_empty: bool = True) -> str:
        """Commit (empty unless `files` are given) and return the new sha."""
        for name, text in (files or {}).items():
            self.write(name, text)
            self.git("add", name)
        self._clock = date if date is not None else self._clock + 60
        stamp = f"{self._clock} +0000"
        args = ["commit", "-q", "--no-verify", "-m", message]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args, env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        return self.head()

    def tag(self, name: str, *, annotated: bool = True, message: str | None = None,
            ref: str = "HEAD") -> None:
        stamp = f"{self._clock} +0000"
        if annotated:
            self.git("tag", "-a", name, "-m", message or name, ref, env={"GIT_COMMITTER_DATE": stamp})
        else:
            self.git("tag", name, ref)

    def fork(self, branch: str, tag: str, *, base: str = "feat: base", side: str = "feat: on the side",
             main: str = "fix: on main") -> str:
        """The start of every merged-branch history: a `base` commit tagged v1.0.0, a `side` commit tagged `tag` on
        a new `branch` from it, then (back on main) a `main` commit; returns the main commit's sha."""
        self.commit(base)
        self.tag("v1.0.0")
        self.git("checkout", "-q", "-b", branch)
        self.commit(side)
        self.tag(tag)
        self.git("checkout", "-q", "main")
        return self.commit(main)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def status(self) -> str:
        return self.git("status", "--porcelain")

    def snapshot(self) -> dict[str, bytes]:
        """Every file's bytes outside .git: compare before/after to prove nothing changed."""
        return {
            str(p.relative_to(self.path)): p.read_bytes()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.path).parts
        }


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[str], GitRepo]:
    """Factory for several repositories in one test."""

    def make(name: str) -> GitRepo:
        return GitRepo(tmp_path / name)

    return make


@pytest.fixture
def plugin_repo(tmp_path: Path) -> GitRepo:
    """A throwaway git copy of examples/plugin with one initial commit tagged v0.1.0."""
    repo = GitRepo(copy_plugin(tmp_path / "plugin"))
    repo.git("add", "-A")
    repo.commit("chore: initial import of the gain plugin", allow_empty=False)
    repo.tag("v0.1.0")
    return repo


def script_path(folder: str, stem: str) -> Path:
    return ROOT / folder / f"{stem}.py"


def run_script(folder: str, stem: str, *args: str, cwd: Path | None = None,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a script by path, as `python <folder>/<stem>.py`, in a subprocess."""
    return subprocess.run(
        [sys.executable, str(script_path(folder, stem)), *args],
        cwd=cwd, capture_output=True, text=True, input=input,
    )


def run_command(name: str, *args: str, cwd: Path | None = None,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an installed console command from the venv that runs the tests."""
    exe = Path(sys.executable).parent / name
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, input=input)


@pytest.fixture
def script() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`script("versioning", "bump_version", "--help")` runs a script by path in a subprocess."""
    return run_script


@pytest.fixture
def command() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`command("bump-version", "--help")` runs the installed console command in a subprocess."""
    return run_command


@pytest.fixture(scope="session")
def validate_document() -> Callable[[dict[str, object]], None]:
    """Validate a document against its JSON Schema in shared/releng/schemas/ (jsonschema, draft 2020-12)."""
    import json

    import jsonschema

    def validate(doc: dict[str, object]) -> None:
        name = str(doc["schema"]).removeprefix("releng/")
        schema = json.loads((ROOT / "shared" / "releng" / "schemas" / f"{name}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(doc)

    return validate


# ---- local stand-ins for Cloudflare, GitHub and a Slack-compatible webhook (testkit) ------------------------------


@pytest.fixture
def fake_cloudflare() -> Iterator[FakeCloudflare]:
    """Cloudflare's purge API on 127.0.0.1: zone testkit.CF_ZONE, token testkit.CF_TOKEN; `api` is the api_base."""
    with FakeCloudflare() as server:
        yield server


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """GitHub's releases API on 127.0.0.1 for testkit.GH_REPO with token testkit.GH_TOKEN; `base` is the api_base."""
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhook]:
    """A Slack-compatible incoming webhook on 127.0.0.1; `url` is its (secret) URL, `messages` what it received."""
    with FakeWebhook() as server:
        yield server


# ---- sshd fixture (publish-release / releng.server.transport) ------------------------------------------------
# A real OpenSSH sshd on 127.0.0.1 with its own host key, a generated client key and a temp root (DESIGN.md "Tests").


class Sshd:
    """A running sshd: where it listens, who may log in with which key, and the known_hosts files to trust it."""

    def __init__(self, base: Path) -> None:
        import getpass
        import socket

        self.base = base
        self.host = "127.0.0.1"
        self.user = getpass.getuser()
        with socket.socket() as s:
            s.bind((self.host, 0))
            self.port = s.getsockname()[1]
        self.root = base / "root"
        self.root.mkdir()
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f"]
        for name in ("host_key", "client_key", "wrong_host_key", "wrong_client_key", "readonly_client_key"):
            subprocess.run([*keygen, str(base / name), "-C", name], check=True)
        self.client_key = base / "client_key"
        self.wrong_client_key = base / "wrong_client_key"  # not authorised
        self.readonly_client_key = base / "readonly_client_key"  # authorised for a read-only SFTP server only
        (base / "authorized_keys").write_text(
            (base / "client_key.pub").read_text()
            + 'restrict,command="internal-sftp -R" ' + (base / "readonly_client_key.pub").read_text())
        entry = f"[{self.host}]:{self.port}"
        self.known_hosts = base / "known_hosts"
        self.known_hosts.write_text(f"{entry} {(base / 'host_key.pub').read_text()}")
        self.wrong_known_hosts = base / "wrong_known_hosts"
        self.wrong_known_hosts.write_text(f"{entry} {(base / 'wrong_host_key.pub').read_text()}")
        self.empty_known_hosts = base / "empty_known_hosts"
        self.empty_known_hosts.write_text("")
        config = base / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {base / 'host_key'}\n"
            f"AuthorizedKeysFile {base / 'authorized_keys'}\nPidFile {base / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
            "MaxStartups 100:30:200\nMaxSessions 50\nLogLevel ERROR\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # the privilege separation directory
        self.log = open(base / "sshd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self) -> None:
        import socket
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.base / 'sshd.log').read_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def fresh_root(self, name: str) -> Path:
        """A new empty folder under the sshd's temp area, for one test's server root."""
        import uuid

        path = self.base / "roots" / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A session-wide OpenSSH sshd on 127.0.0.1 (host, port, user, client_key, known_hosts, wrong_known_hosts, root)."""
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("OpenSSH sshd is not installed")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


# ---- end of sshd fixture --------------------------------------------------------------------------------------------
