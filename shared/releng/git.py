"""Git access: a handful of plumbing calls, and history streamed through ONE `git log -z` process.

Never one git process per commit: on a 100,000-commit history that alone would take minutes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from releng import semver
from releng.errors import BadInput, ExternalError

_FIELD = "\x1e"  # record separator between fields; the message comes last, so it may contain anything
_LOG_FORMAT = _FIELD.join(["%H", "%P", "%ct", "%an", "%B"])
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LogEntry:
    sha: str
    parents: tuple[str, ...]
    timestamp: int  # committer time, Unix seconds
    author: str
    message: str

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class Tag:
    name: str
    version: semver.Version
    commit: str  # the commit the tag points at (peeled)
    timestamp: int  # tagger date for annotated tags, committer date for lightweight ones
    annotated: bool


def _env() -> dict[str, str]:
    # Stable, machine-readable output whatever the user's locale and pager settings.
    return dict(os.environ, LC_ALL="C", GIT_PAGER="cat", GIT_TERMINAL_PROMPT="0")


def run(repo: Path | str, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run `git -C repo args...` and return stdout; raise ExternalError with git's first error line."""
    cmd = ["git", "-C", str(repo), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), input=input)
    except FileNotFoundError:
        raise ExternalError("git is not installed (install git)") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise ExternalError(f"git {args[0]} failed: {msg}", str(repo))
    return proc.stdout


def toplevel(path: Path | str = ".") -> Path:
    """The work tree root containing `path`; BadInput when it is not inside a git repository."""
    p = Path(path)
    if not p.is_dir():
        raise BadInput("not a directory", str(path))
    out = subprocess.run(
        ["git", "-C", str(p), "rev-parse", "--show-toplevel"],
        capture_output=True, text=True, env=_env(),
    )
    if out.returncode != 0:
        raise BadInput("not a git repository", str(path))
    return Path(out.stdout.strip())


def log(repo: Path | str, revisions: Sequence[str] = ("HEAD",), *extra: str) -> Iterator[LogEntry]:
    """Stream commits (newest first) from one `git log -z` process; `extra` adds options like --first-parent."""
    cmd = ["git", "-C", str(repo), "-c", "log.showSignature=false", "log", "-z", "--no-color",
           f"--format={_LOG_FORMAT}", *extra, *revisions, "--"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert proc.stdout is not None
    pending = b""
    try:
        while chunk := proc.stdout.read(_CHUNK):
            records = (pending + chunk).split(b"\0")
            pending = records.pop()
            for record in records:
                yield _entry(record)
        if pending:
            yield _entry(pending)
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        msg = (stderr.strip().splitlines() or [f"exit {rc}"])[-1]
        if "does not have any commits" in msg or "unknown revision" in msg:
            raise BadInput(f"git log: {msg}", str(repo))
        raise ExternalError(f"git log failed: {msg}", str(repo))


def _entry(record: bytes) -> LogEntry:
    sha, parents, ts, author, message = record.decode("utf-8", errors="replace").split(_FIELD, 4)
    return LogEntry(sha, tuple(parents.split()), int(ts), author, message)


def tags(repo: Path | str, prefix: str = "v", *, merged: str | None = None,
         warn: bool = True) -> list[Tag]:
    """SemVer tags `<prefix>X.Y.Z`, sorted by precedence; other tags are skipped with a warning.

    `merged="HEAD"` keeps only tags reachable from HEAD (one `for-each-ref` process either way).
    """
    fmt = "%00".join(["%(refname:strip=2)", "%(objecttype)", "%(objectname)", "%(*objectname)",
                      "%(creatordate:unix)"])
    args = ["for-each-ref", f"--format={fmt}"]
    if merged:
        args.append(f"--merged={merged}")
    out = run(repo, *args, "refs/tags")
    found: list[Tag] = []
    for line in out.splitlines():
        name, objtype, obj, peeled, date = line.split("\0")
        if not name.startswith(prefix) or not semver.is_valid(name[len(prefix):]):
            if warn:
                from releng import cli

                cli.warn(f"ignoring tag {name!r}: not {prefix}<SemVer>")
            continue
        annotated = objtype == "tag"
        found.append(Tag(name, semver.parse(name[len(prefix):]), peeled if annotated else obj,
                         int(date or 0), annotated))
    found.sort(key=lambda t: t.version.precedence_key())
    return found


def head(repo: Path | str) -> str | None:
    """HEAD's sha, or None in a repository without commits."""
    out = run(repo, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).strip()
    return out or None


def branch(repo: Path | str) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    return run(repo, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip() or None


def is_shallow(repo: Path | str) -> bool:
    return run(repo, "rev-parse", "--is-shallow-repository").strip() == "true"


def dirty_files(repo: Path | str) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files don't count."""
    out = run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=no")
    return [entry[3:] for entry in out.split("\0") if entry]


def config_value(repo: Path | str, key: str) -> str | None:
    return run(repo, "config", "--get", key, check=False).strip() or None
