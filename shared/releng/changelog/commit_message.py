"""A commit message as git hands it to a commit-msg hook, read without starting a git process.

git runs the commit-msg hook on `.git/COMMIT_EDITMSG` *before* its own cleanup, so the file still holds the
comment lines of the editor template and, after `git commit -v`, the diff below the scissors line. `cleanup()`
does what git's `strbuf_stripspace` and `wt_status_truncate_message_at_cut_line` do afterwards.

Start-up time is the point of this module (the hook runs on every commit): it imports nothing beyond `os` and
`sys`, which the interpreter has loaded anyway. No `re` (slow to import with its dependencies: bench/README.md), no
`pathlib` (which imports `re`), no `subprocess` unless core.commentChar is really configured somewhere
(`comment_string`).
"""

from __future__ import annotations

import os
import sys

DEFAULT_COMMENT = "#"
# git's wt-status.c cut_line, preceded by the comment string and a space.
SCISSORS = " ------------------------ >8 ------------------------"
# git's candidates for core.commentChar=auto, in its order (builtin/commit.c adjust_comment_line_char).
AUTO_CANDIDATES = "#;@!$%^&|:"


def git_dir(worktree: str | os.PathLike[str]) -> str | None:
    """The git dir of a work tree root: `<root>/.git`, or where a `.git` file (worktree, submodule) points."""
    dot_git = os.path.join(os.fspath(worktree), ".git")
    if os.path.isdir(dot_git):
        return dot_git
    try:
        with open(dot_git, encoding="utf-8") as f:
            line = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not line.startswith("gitdir:"):
        return None
    target = os.path.join(os.path.dirname(dot_git), line[len("gitdir:"):].strip())
    return os.path.normpath(target) if os.path.isdir(target) else None


def common_dir(gitdir: str) -> str:
    """The directory holding config and hooks, shared by all linked worktrees (`<gitdir>/commondir`)."""
    try:
        with open(os.path.join(gitdir, "commondir"), encoding="utf-8") as f:
            rel = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return gitdir
    return os.path.normpath(os.path.join(gitdir, rel)) if rel else gitdir


def find_repo(start: str | None = None) -> tuple[str, str] | None:
    """(work tree root, git dir) for `start` (default: the cwd, which git sets to the root for hooks), or None.

    Honours GIT_DIR and GIT_WORK_TREE as git does; otherwise walks up to the first folder holding `.git`.
    """
    here = os.path.abspath(start or os.getcwd())
    env_dir = os.environ.get("GIT_DIR")
    if env_dir:
        gitdir = os.path.abspath(env_dir)
        worktree = os.environ.get("GIT_WORK_TREE") or (
            os.path.dirname(gitdir) if os.path.basename(gitdir) == ".git" else here)
        return os.path.abspath(worktree), gitdir
    while True:
        found = git_dir(here)
        if found is not None:
            return here, found
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def edited() -> bool:
    """Whether the message went through an editor: git sets GIT_EDITOR=: for hooks of `commit -m`/`-F`, and
    then commits it with `--cleanup=whitespace`, comment lines and scissors included."""
    return os.environ.get("GIT_EDITOR") != ":"


def cleanup(message: str, comment: str | None = DEFAULT_COMMENT) -> str:
    """The message git would commit: cut at the scissors line, comment lines dropped, trailing whitespace of each
    line dropped, runs of blank lines squeezed to one, blank lines at both ends removed, "\\n" at the end.

    `comment=None` keeps comment lines (git's `--cleanup=whitespace`, and messages read back from `git log`).
    """
    if comment:
        cut = comment + SCISSORS
        if message.startswith(cut):
            return ""
        at = message.find("\n" + cut)
        if at >= 0:
            message = message[:at + 1]
    out: list[str] = []
    blank = False
    for line in message.split("\n"):
        if comment and line.startswith(comment):
            continue
        line = line.rstrip()
        if not line:
            blank = bool(out)
            continue
        if blank:
            out.append("")
            blank = False
        out.append(line)
    return "\n".join(out) + "\n" if out else ""


def comment_string(worktree: str | None, gitdir: str | None, message: str) -> str:
    """core.commentString / core.commentChar in force for this repository (default `#`).

    Reading config without a git process: when no config source git would read (the `git -c` environment, the
    system, global and repository files) so much as mentions "comment" or "include", the answer is git's default
    and costs a few small reads. Otherwise we ask `git config`, which knows includes, conditional includes and
    precedence. `auto` is resolved from the message itself (`resolve_auto`).
    """
    if not _may_configure_comment(gitdir):
        return DEFAULT_COMMENT
    import subprocess

    cmd = ["git", "config", "--get-regexp", r"^core\.comment(char|string)$"]
    if worktree:
        cmd[1:1] = ["-C", worktree]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    except OSError:
        return DEFAULT_COMMENT
    lines = proc.stdout.splitlines() if proc.returncode == 0 else []
    value = lines[-1].partition(" ")[2] if lines else ""  # the last definition wins, as in git
    if value.lower() == "auto":
        return resolve_auto(message)
    return value or DEFAULT_COMMENT


def resolve_auto(message: str) -> str:
    """The comment character git chose for core.commentChar=auto, recovered from the message it wrote.

    git picks the first of `#;@!$%^&|:` that starts no line of the message *before* it adds its comments, and its
    comments come after the message (the status block and the scissors line). So: the character of a scissors
    line if there is one, else that of the last non-blank line when it is a candidate written the way git writes
    comments (alone or followed by a space), else `#`.
    """
    for c in AUTO_CANDIDATES:
        if message.startswith(c + SCISSORS) or "\n" + c + SCISSORS in message:
            return c
    for line in reversed(message.rstrip().split("\n")[-50:]):
        if line.strip():
            c = line[:1]
            if c in AUTO_CANDIDATES and (len(line) == 1 or line[1] == " "):
                return c
            break
    return DEFAULT_COMMENT


def _may_configure_comment(gitdir: str | None) -> bool:
    env = os.environ
    if any(k in env for k in ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")):
        params = env.get("GIT_CONFIG_PARAMETERS", "") + " ".join(
            env.get(f"GIT_CONFIG_KEY_{i}", "") for i in range(_int(env.get("GIT_CONFIG_COUNT"))))
        if "comment" in params.lower() or "include" in params.lower():
            return True
    for path in _config_files(gitdir):
        try:
            with open(path, "rb") as f:
                data = f.read().lower()
        except OSError:
            continue
        if b"comment" in data or b"include" in data:
            return True
    return False


def _config_files(gitdir: str | None) -> list[str]:
    """Every file git may read config from; a superset (extra files only cost us a git process, never a miss)."""
    env = os.environ
    files: list[str] = []
    if not env.get("GIT_CONFIG_NOSYSTEM"):
        if env.get("GIT_CONFIG_SYSTEM"):
            files.append(env["GIT_CONFIG_SYSTEM"])
        else:
            files += ["/etc/gitconfig", "/usr/local/etc/gitconfig", "/opt/homebrew/etc/gitconfig"]
            files += _prefix_configs()
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(env["GIT_CONFIG_GLOBAL"])
    else:
        xdg = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        files += [os.path.join(xdg, "git", "config"), os.path.join(os.path.expanduser("~"), ".gitconfig")]
    if gitdir:
        common = common_dir(gitdir)
        files += [os.path.join(common, "config"), os.path.join(gitdir, "config.worktree")]
    return files


def _prefix_configs() -> list[str]:
    """`<prefix>/etc/gitconfig` for the git running the hook and the first on PATH (git's sysconfdir, but
    /etc for prefix /usr, which is listed anyway)."""
    out = []
    exec_path = os.environ.get("GIT_EXEC_PATH")  # set for hooks: <prefix>/lib/git-core or <prefix>/libexec/...
    if exec_path:
        out.append(os.path.join(os.path.dirname(os.path.dirname(exec_path)), "etc", "gitconfig"))
    exe = "git.exe" if sys.platform == "win32" else "git"
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, exe)
        if folder and os.path.isfile(candidate):
            for path in {candidate, os.path.realpath(candidate)}:
                prefix = os.path.dirname(os.path.dirname(path))
                out.append(os.path.join(prefix, "etc", "gitconfig"))
                if sys.platform == "win32":
                    out.append(os.path.join(os.path.dirname(prefix), "etc", "gitconfig"))
            break
    return out


def _int(text: str | None) -> int:
    try:
        return max(0, min(int(text or 0), 1000))
    except ValueError:
        return 0
