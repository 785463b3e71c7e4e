"""Write a commented releng.toml for the plugin repository it runs in, from what is there.

  init-project                 scan, write releng.toml and releng/{contents.toml,compatibility_matrix.json,
                               update_server_config.json}, print the pre-commit snippet and the next commands
  init-project --dry-run       print what it would write, write nothing
  init-project --force         overwrite files a previous run (or a person) wrote

It finds the files that carry the version (CMakeLists.txt project(VERSION), headers with <PREFIX>_MAJOR/_MINOR/
_PATCH macros, Info.plist, .rc VERSIONINFO, JSON and TOML manifests), the project name, the tag style of the
existing tags, the changelog, the maintainer (git config user.name and user.email) and what CMake's install()
rules stage (the contents manifest). Every version file listed is one bump-version reads the same way. Then run
check-setup. Exit 0 written, 2 when a file exists without --force, or on bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from releng import cli, git
from releng.errors import BadInput, RelengError

if TYPE_CHECKING:
    import argparse

    from releng.versioning import project_scan

HERE = Path(__file__).resolve().parent
SERVER_TEMPLATE = HERE.parent / "distribution" / "update_server_config.json"
FILES = {"config": "releng.toml", "contents": "releng/contents.toml", "matrix": "releng/compatibility_matrix.json",
         "servers": "releng/update_server_config.json"}
HOOK = """default_install_hook_types: [pre-commit, commit-msg]
repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: lint-commit
"""


def _git_config(repo: Path, key: str) -> str:
    try:
        return git.run(repo, "config", "--get", key).strip()
    except RelengError:  # unset: git exits 1
        return ""


def plan(repo: Path, config_path: str | None = None) -> tuple[project_scan.Found, dict[str, str]]:
    """The scan and the text of every file to write, keyed by path relative to `repo`."""
    from releng import documents, times
    from releng.versioning import project_scan

    tags = [line for line in git.run(repo, "tag", "-l").splitlines() if line] if git.head(repo) else []
    found = project_scan.scan(repo, tags)
    user, email = _git_config(repo, "user.name"), _git_config(repo, "user.email")
    maintainer = f"{user} <{email}>" if user and email else None
    name = found.name
    texts = {config_path or FILES["config"]: project_scan.render_config(found, name, maintainer, FILES),
             FILES["contents"]: project_scan.render_contents(found),
             FILES["matrix"]: documents.dumps("compatibility", project_scan.matrix_skeleton(
                 found, name or "my-plugin", times.now_text()[:10]))}
    if SERVER_TEMPLATE.is_file():
        servers = json.loads(SERVER_TEMPLATE.read_text(encoding="utf-8"))
        texts[FILES["servers"]] = json.dumps(servers, indent=2) + "\n"
    return found, texts


def _report(args: argparse.Namespace, found: project_scan.Found) -> None:
    cli.info(args, f"project: {found.name or '(not found: set [project] name)'}, version "
                   f"{found.version or '(none found)'}, tag prefix {found.tag_prefix!r} ({found.tags} tags)")
    for entry in found.files:
        cli.info(args, f"  version file: {entry['path']} ({entry['format']}) says {found.versions[entry['path']]}")
    for text in found.skipped:
        cli.info(args, f"  not listed: {text}")
    if len(set(found.versions.values())) > 1:
        cli.warn("the version files disagree (check-setup names them): make them agree before the first release")


def _run(args: argparse.Namespace) -> int:
    repo = git.toplevel(args.repo or ".")
    found, texts = plan(repo, args.config)
    existing = [p for p in texts if (repo / p).exists()]
    if existing and not args.force and not args.dry_run:
        raise BadInput(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: pass --force to "
                       "overwrite, or --dry-run to see what would be written", str(repo))
    _report(args, found)
    if args.dry_run:
        for path, text in texts.items():
            sys.stdout.write(f"# --- {path}{' (would overwrite)' if path in existing else ''}\n{text}")
        return cli.OK
    from releng import documents

    for path, text in texts.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        documents.write_text_atomic(repo / path, text)
        cli.info(args, f"wrote {path}")
    from importlib import metadata

    try:
        rev = f"v{metadata.version('releng')}"
    except metadata.PackageNotFoundError:
        rev = "<a release tag of releng>"
    hook = HOOK.format(repo=args.hook_repo or "<the releng repository you installed from: its URL or clone path>",
                       rev=args.hook_rev or rev)
    sys.stderr.write("\nThe commit-msg hook, in .pre-commit-config.yaml (then: pre-commit install):\n\n" + hook)
    sys.stderr.write("\nNext:\n  check-setup                          everything a release reads, checked now\n"
                     "  bump-version auto --dry-run          the version the commits ask for\n"
                     "  releng-release                       the chain: bump, changelog, build, test, tag\n")
    return cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="init-project")
    cli.add_dry_run(parser)
    cli.add_repository(parser)  # --config FILE: where the releng config is written (default releng.toml)
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.add_argument("--hook-repo", metavar="URL", help="the releng repository the pre-commit snippet names")
    parser.add_argument("--hook-rev", metavar="TAG", help="the tag of it the snippet pins (default: v<installed>)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
