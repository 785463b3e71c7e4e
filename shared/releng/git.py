"""Git access: a handful of plumbing calls, and history streamed through ONE `git log -z` process.

Never one git process per commit: on a 100,000-commit history that alone would take minutes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from releng import semver
from releng.errors import BadInput, ExternalError

_FIELD = "\x1e"  # record separator between fields; the message comes last, so it may contain anything
_LOG_FORMAT = _FIELD.join(["%H", "%P", "%ct", "%an", "%B"])
_CHUNK = 1 << 20


class LogEntry(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    timestamp: int  # committer time, Unix seconds
    author: str
    message: str

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


class Tag(NamedTuple):
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
        proc = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", env=_env(), input=input)
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
    try:
        out = subprocess.run(["git", "-C", str(p), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                             env=_env())
    except FileNotFoundError:
        raise ExternalError("git is not installed (install git)") from None
    if out.returncode != 0:
        raise BadInput("not a git repository", str(path))
    return Path(out.stdout.strip())


def log(repo: Path | str, revisions: Sequence[str] = ("HEAD",), *extra: str) -> Generator[LogEntry, None, None]:
    """Stream commits (newest first) from one `git log -z` process (`close()` stops git); `extra`: --first-parent..

    git writes to a temporary file that is read while it grows, not to a pipe: through a pipe git is much slower
    for a big history, to a file it takes the time of `git log > /dev/null` (bench/README.md); and Python parses
    what is there while git writes the rest, on another core.
    """
    cmd = ["git", "-C", str(repo), "-c", "log.showSignature=false", "log", "-z", "--no-color",
           f"--format={_LOG_FORMAT}", *extra, *revisions, "--"]
    for record in _Stream(repo, cmd).records():
        yield _entry(record)


class _Stream:
    """A git process started now, writing NUL-separated records to a temporary file read as it grows."""

    def __init__(self, repo: Path | str, cmd: list[str]) -> None:
        self.repo, self.proc = repo, None
        self.what = next((a for a in cmd[1:] if a in ("log", "for-each-ref")), "log")
        self.out, self.err = _temporary_fd(), _temporary_fd()
        try:
            self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, env=_env())
        except FileNotFoundError:
            self.close()
            raise ExternalError("git is not installed (install git)") from None

    proc: subprocess.Popen[bytes] | None

    def records(self) -> Iterator[bytes]:
        """The records as git writes them; stopping early kills git. Raises BadInput/ExternalError on failure."""
        assert self.proc is not None
        pending = b""
        try:
            for chunk in _follow(self.out, self.proc):
                records = (pending + chunk).split(b"\0")
                pending = records.pop()
                yield from records
            if pending:
                yield pending
        finally:
            rc, stderr = self.close()
        self._check(rc, stderr)

    def text(self) -> str:
        """All git writes, once it has exited."""
        assert self.proc is not None
        self.proc.wait()
        data = os.pread(self.out, os.fstat(self.out).st_size, 0)
        self._check(*self.close())
        return data.decode("utf-8", "replace")

    def _check(self, rc: int, stderr: str) -> None:
        if rc != 0:
            msg = (stderr.strip().splitlines() or [f"exit {rc}"])[-1]
            if "does not have any commits" in msg or "unknown revision" in msg or "bad revision" in msg:
                raise BadInput(f"git {self.what}: {msg}", str(self.repo))
            raise ExternalError(f"git {self.what} failed: {msg}", str(self.repo))

    def close(self) -> tuple[int, str]:
        """Stop git if it still runs (the caller stopped early), drop its output; its exit code and stderr."""
        rc, stderr = 0, ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            rc = self.proc.wait()
            self.proc = None
        if self.out >= 0:
            stderr = os.pread(self.err, os.fstat(self.err).st_size, 0).decode(errors="replace")
            os.close(self.out)
            os.close(self.err)
            self.out = self.err = -1
        return rc, stderr


def _temporary_fd() -> int:
    """An unnamed temporary file (O_TMPFILE: no name to clean up, and no `tempfile` import on the hot path)."""
    where = os.environ.get("TMPDIR") or "/tmp"
    try:
        return os.open(where, getattr(os, "O_TMPFILE", 0) | os.O_RDWR, 0o600)
    except (OSError, ValueError):  # no O_TMPFILE here (not Linux, or the file system lacks it)
        import tempfile

        fd, name = tempfile.mkstemp(prefix="releng-git-")
        os.unlink(name)
        return fd


def _follow(fd: int, proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """What `proc` writes to the file `fd`, as it comes, until it exits (pread: git's file offset is shared)."""
    offset = 0
    while True:
        done = proc.poll() is not None  # asked before reading: all it wrote before exiting is read below
        data = os.pread(fd, _CHUNK, offset)
        if data:
            offset += len(data)
            yield data
        elif done:
            return
        else:
            time.sleep(0.001)


def _entry(record: bytes) -> LogEntry:
    sha, parents, ts, author, message = record.decode("utf-8", errors="replace").split(_FIELD, 4)
    return LogEntry(sha, tuple(parents.split()), int(ts), author, message)


class Tags(list[Tag]):
    """Release tags sorted by precedence, and a warning (for the script to print) for each other tag skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []


def tags(repo: Path | str, prefix: str = "v", *, merged: str | None = None) -> Tags:
    """SemVer tags `<prefix>X.Y.Z`, sorted by precedence; other tags are skipped, each with a warning in `.warnings`.

    `merged="HEAD"` keeps only tags reachable from HEAD (one `for-each-ref` process either way).
    """
    fmt = "%00".join(["%(refname:strip=2)", "%(objecttype)", "%(objectname)", "%(*objectname)",
                      "%(*objecttype)", "%(creatordate:unix)"])
    out = run(repo, "for-each-ref", f"--format={fmt}", *([f"--merged={merged}"] if merged else []), "refs/tags")
    found = Tags()
    nested: list[int] = []
    for line in out.split("\n"):  # not splitlines(): a ref name may contain U+2028, U+0085...
        if not line:
            continue
        name, objtype, obj, peeled, peeled_type, date = line.split("\0")
        if not name.startswith(prefix) or not semver.is_valid(name[len(prefix):]):
            found.warnings.append(f"ignoring tag {name!r}: not {prefix}<SemVer>")
            continue
        annotated = objtype == "tag"
        if annotated and peeled_type == "tag":  # a tag of a tag: %(*objectname) peeled one level only
            nested.append(len(found))
        found.append(Tag(name, semver.parse(name[len(prefix):]), peeled if annotated else obj,
                         int(date or 0), annotated))
    if nested:
        query = "".join(f"refs/tags/{found[i].name}^{{commit}}\n" for i in nested)
        answers = run(repo, "cat-file", "--batch-check=%(objectname)", input=query).split("\n")
        for i, sha in zip(nested, answers, strict=False):  # answers end with an empty line
            if sha and " " not in sha:  # else "<name> missing": not a commit at the bottom, keep the object
                found[i] = found[i]._replace(commit=sha)
    found.sort(key=lambda t: t.version.precedence_key())
    return found


def head(repo: Path | str) -> str | None:
    """HEAD's sha, or None in a repository without commits."""
    out = run(repo, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).strip()
    return out or None


SHALLOW = ("shallow clone: tags and history are missing, so releases would lose commits "
           "(run: git fetch --unshallow --tags; in GitHub Actions: actions/checkout with fetch-depth: 0)")


def full_head(repo: Path | str) -> str | None:
    """HEAD's sha (None without commits) in one git call with the shallow check: BadInput (exit 2) in a shallow
    clone, where a history walk silently misses commits and tags (CI checkouts are shallow by default)."""
    out = run(repo, "rev-parse", "--is-shallow-repository", "-q", "--verify", "HEAD^{commit}", check=False).split()
    if out[:1] == ["true"]:
        raise BadInput(SHALLOW, str(repo))
    return out[1] if len(out) > 1 else None


def branch(repo: Path | str) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    return run(repo, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip() or None


def is_shallow(repo: Path | str) -> bool:
    return run(repo, "rev-parse", "--is-shallow-repository").strip() == "true"


def dirty_files(repo: Path | str) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files don't count."""
    out = run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=no")
    files: list[str] = []
    entries = iter(out.split("\0"))
    for entry in entries:
        if entry:
            files.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:  # the source path follows as an entry of its own
                source = next(entries, "")
                if "R" in entry[:2] and source:  # a rename's source is gone; a copy's is unchanged
                    files.append(source)
    return files


def config_value(repo: Path | str, key: str) -> str | None:
    return run(repo, "config", "--get", key, check=False).strip() or None


def start(repo: Path | str, *args: str) -> subprocess.Popen[str]:
    """Start `git -C repo args...` without waiting, so independent queries run side by side."""
    return subprocess.Popen(["git", "-C", str(repo), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate()
    return proc.returncode, out, err
