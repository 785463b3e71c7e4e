"""Check commit messages against Conventional Commits 1.0.0 and the project's rules.

  lint-commit .git/COMMIT_EDITMSG         the commit-msg hook's call (git and pre-commit pass the file)
  lint-commit --message "feat: add knob"  check a text; `lint-commit -` reads the message from stdin
  lint-commit --range origin/main..HEAD   check every commit of a range (CI on pull requests)
  lint-commit --install-hook [--force]    install .git/hooks/commit-msg, for teams without pre-commit

A message file is read as git reads it: comment lines (core.commentChar) and everything below the scissors line
of `git commit -v` are dropped, unless git says no editor was used (`commit -m`/`-F` keep them). Merges, git's
`Revert "..."` and fixup!/squash!/amend! commits pass by default.
The rules (types, scopes, header length...) are in changelog/changelog_config.yml; a repository overrides them
in its releng.toml, `[changelog_config]` table. Exit 0 valid, 1 invalid (what is wrong, and a corrected
example), 2 usage error.
"""

from __future__ import annotations

import os
import sys

from releng.changelog import commit_message, commitlint, settings
from releng.errors import BadInput, RelengError

TYPE_CHECKING = False  # not typing's: this runs on every commit, and importing typing costs more than the check
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

HOOK_MARK = "# installed by lint-commit --install-hook (releng)"


def decode(data: bytes, repo: str | None) -> tuple[str, list[str]]:
    """The message's text and the problems of its bytes (NUL, not UTF-8, byte order mark)."""
    problems: list[str] = []
    nul = data.find(b"\0")
    if nul >= 0:
        problems.append(f"the message contains a NUL byte (offset {nul}): is it a binary file?")
        data = data[:nul]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        encoding = _commit_encoding(repo)
        try:
            text = data.decode(encoding) if encoding else ""
        except (LookupError, UnicodeDecodeError):
            encoding = None
        if not encoding:
            problems.append(f"the message is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); "
                            "save it as UTF-8 or set i18n.commitEncoding")
            text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        problems.append("the message starts with a byte order mark (U+FEFF): save it as UTF-8 without BOM")
        text = text[1:]
    return text, problems


def lint(data: bytes, cfg: Mapping[str, Any], repo: tuple[str, str] | None = None, *,
         strip_comments: bool = True) -> tuple[list[str], str | None, str]:
    """(problems, corrected example or None, header) of raw message bytes, cleaned as git cleans them."""
    text, problems = decode(data, repo[0] if repo else None)
    if strip_comments:
        comment = commit_message.comment_string(repo[0], repo[1], text) if repo else commit_message.DEFAULT_COMMENT
        message = commit_message.cleanup(text, comment)
    else:
        message = commit_message.cleanup(text, None)
    found, example = commitlint.check(message, cfg)
    if problems and example is None and message:
        example = message.rstrip("\n")
    return problems + found, example, message.split("\n", 1)[0]


def check_source(source: str, repo_path: str | None = None, config: str | None = None,
                 text: str | None = None) -> int:
    """Lint a message file, `-` (stdin) or `text`; print the report; 0 valid, 1 invalid."""
    if text is not None:
        data = text.encode("utf-8", "surrogateescape")
    elif source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BadInput("message file not found", source) from None
        except IsADirectoryError:
            raise BadInput("message file is a directory", source) from None
        except OSError as e:
            raise BadInput(f"cannot read message file: {e.strerror}", source) from None
    if repo_path is not None and not os.path.isdir(repo_path):
        raise BadInput("not a directory", repo_path)
    repo = commit_message.find_repo(repo_path)
    cfg = settings.load(repo[0] if repo else None, config)
    problems, example, header = lint(data, cfg, repo, strip_comments=text is None and commit_message.edited())
    if not problems:
        return 0
    out = commitlint.report(problems, example, header)
    if os.path.basename(source) == "COMMIT_EDITMSG":
        out += f"(your message is kept: `git commit -e -F {source}` edits it again)\n"
    sys.stderr.write(out)
    return 1


def check_range(revisions: str, repo_path: str | None, config: str | None) -> int:
    """Lint every commit of `revisions` from one `git log -z` process; report each bad one; 1 if any."""
    from releng import git

    root = str(git.toplevel(repo_path or "."))
    cfg = settings.load(root, config)
    total = bad = 0
    for entry in git.log(root, [revisions]):
        total += 1
        problems, example, header = lint(entry.message.encode("utf-8", "surrogateescape"), cfg,
                                         strip_comments=False)
        if problems:
            bad += 1
            sys.stderr.write(f"{entry.sha[:12]} {header[:100]}\n")
            report = commitlint.report(problems, example, header)
            sys.stderr.write("".join(f"    {line}\n" for line in report.splitlines()))
    if bad:
        sys.stderr.write(f"{bad} of {total} commits in {revisions} rejected\n")
        return 1
    sys.stderr.write(f"{total} commits in {revisions}: all valid\n" if total else f"no commits in {revisions}\n")
    return 0


def _commit_encoding(repo: str | None) -> str | None:
    """i18n.commitEncoding when it is not UTF-8 (asked only about a message that is not UTF-8)."""
    if repo is None:
        return None
    from releng import git

    try:
        value = git.config_value(repo, "i18n.commitEncoding")
    except RelengError:
        return None
    return value if value and value.lower().replace("-", "") != "utf8" else None


def hook_text(python: str, script: str) -> str:
    """The commit-msg hook: exec this interpreter on this script, no shell work beyond that."""
    return (f"#!/bin/sh\n{HOOK_MARK}: checks each commit message (Conventional Commits).\n"
            f"# `lint-commit --install-hook --force` rewrites this file; delete it to uninstall.\n"
            f'exec {_sh_quote(python)} {_sh_quote(script)} "$1"\n')


def install_hook(repo_path: str | None, force: bool) -> int:
    """Write <hooks>/commit-msg (core.hooksPath respected) atomically, mode 0755."""
    from releng import documents, git

    root = git.toplevel(repo_path or ".")
    hooks = git.run(root, "rev-parse", "--git-path", "hooks").strip()  # knows core.hooksPath and worktrees
    hook = os.path.join(root, hooks, "commit-msg")
    if os.path.lexists(hook) and not force:
        try:
            with open(hook, encoding="utf-8", errors="replace") as f:
                ours = HOOK_MARK in f.read(4096)
        except OSError:
            ours = False
        if not ours:
            raise BadInput("a commit-msg hook not written by lint-commit exists (--force replaces it)", hook)
    text = hook_text(sys.executable, os.path.abspath(__file__))
    documents.write_bytes_atomic(hook, text.encode("utf-8"), mode=0o755)
    sys.stderr.write(f"installed {hook}\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.install_hook:
        return install_hook(args.repo, args.force)
    if args.range:
        return check_range(args.range, args.repo, args.config)
    if args.message is not None:
        return check_source("--message", args.repo, args.config, text=args.message)
    return check_source(args.file, args.repo, args.config)


def _guard(func: Callable[..., int], *args: Any) -> int:
    """cli.run's exit codes without importing argparse (the hook's fast path)."""
    try:
        return func(*args)
    except RelengError as e:
        sys.stderr.write(f"error: {' '.join(str(e).split())}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback: a bug is exit 3
        sys.stderr.write(f"error: internal: {type(e).__name__}: {e} (rerun with --debug)\n")
        return 3


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) == 1 and (args[0] == "-" or not args[0].startswith("-")):
        return _guard(check_source, args[0])  # what git and pre-commit call: skip argparse (bench/README.md)
    from releng import cli

    parser = cli.parser(__doc__, prog="lint-commit")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("file", nargs="?", metavar="MSGFILE", help="the message file ('-' = stdin)")
    what.add_argument("--message", metavar="TEXT", help="check TEXT (comment lines are kept, as with -m)")
    what.add_argument("--range", metavar="A..B", help="check every commit of a revision range")
    what.add_argument("--install-hook", action="store_true", help="install the commit-msg hook in the repo")
    parser.add_argument("--force", action="store_true", help="with --install-hook: replace a foreign hook")
    cli.add_repository(parser)
    parsed = parser.parse_args(args)
    if parsed.force and not parsed.install_hook:
        parser.error("--force goes with --install-hook")
    return cli.run(_run, parsed)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":
    raise SystemExit(main())
