"""One CLI vocabulary: every command's parser has exactly the option groups docs/conventions.md's table gives it.

The groups come from releng.cli (add_output, add_dry_run, add_repository, add_servers); a command adds only those
it uses, so no flag is accepted and ignored, and `--config` always means the releng config, never the update
servers' JSON (that is `--servers`).
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_FOLDERS = ("versioning", "changelog", "packaging", "distribution", "rollback", "validation")
CONVENTIONS = ROOT / "docs" / "conventions.md"
VOCABULARY = {"--json", "--out", "--dry-run", "--repo", "--config", "--servers"}
# A command's own flag that shares a vocabulary name, and why (docs/conventions.md says so too).
OWN_FLAGS = {("build-package", "--out"): "its output folder (DIR), not a result file",
             ("manage-keys", "--out"): "the key or root document it makes (issue 15's contract), not a result file"}
# The commands that talk only to update servers: their config file is --servers, and they have no --config.
SERVER_COMMANDS = {"publish-release", "promote-release", "rollback-release", "watch-health", "manage-keys"}
CELLS = {
    "output": {"yes": {"--json", "--out"}, "`--json`": {"--json"}, "-": set()},
    "dry run": {"yes": {"--dry-run"}, "-": set()},
    "repository": {"yes": {"--repo", "--config"}, "`--config`": {"--config"}, "-": set()},
    "servers": {"required": {"--servers"}, "default": {"--servers"}, "optional": {"--servers"}, "-": set()},
}
GROUP_TITLES = {"output": "output", "repository": "repository", "servers": "update servers"}


def scripts() -> dict[str, str]:
    """command name -> importable module of its script."""
    return {p.stem.replace("_", "-"): f"releng._scripts.{folder}.{p.stem}"
            for folder in SCRIPT_FOLDERS for p in sorted((ROOT / folder).glob("*.py"))}


def table() -> dict[str, dict[str, str]]:
    """command -> {column: cell} from the option-group table of docs/conventions.md."""
    text = CONVENTIONS.read_text()
    header = re.search(r"^\| command \|(.*)\|$", text, flags=re.M)
    assert header, "docs/conventions.md has no option-group table"
    columns = [c.strip() for c in header[1].split("|")]
    assert columns == list(CELLS), columns
    rows = {}
    for m in re.finditer(r"^\| `([\w-]+)` \|(.*)\|$", text[header.end():], flags=re.M):
        cells = [c.strip() for c in m[2].split("|")]
        rows[m[1]] = dict(zip(columns, cells, strict=True))
    return rows


class Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def built_parser(command: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser the command's main() builds, taken at the moment it would parse (nothing runs)."""
    module = importlib.import_module(scripts()[command])

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> NoReturn:
        raise Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(Captured) as got:
        module.main(["--help"])  # --help: bump-version starts no git before parsing, semver-tool takes argparse
    return got.value.parser


def parsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and its subcommands' parsers (check-compat, semver-tool)."""
    yield p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


def flags(p: argparse.ArgumentParser, group: str | None = None) -> set[str]:
    """The vocabulary's long flags of every (sub)parser; only those inside argument group `group` when given."""
    found = set()
    for each in parsers(p):
        if group is None:
            actions = each._actions
        else:
            actions = [a for g in each._action_groups if g.title == group for a in g._group_actions]
        found.update(o for a in actions for o in a.option_strings if o in VOCABULARY)
    return found


def action(p: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for each in parsers(p) for a in each._actions if flag in a.option_strings)


def test_the_table_lists_every_command_once():
    assert sorted(table()) == sorted(scripts())
    for command, row in table().items():
        for column, cell in row.items():
            assert cell in CELLS[column], f"{command}: {column} = {cell!r}"


@pytest.mark.parametrize("command", sorted(scripts()))
def test_the_parser_has_the_groups_of_the_table(command, monkeypatch):
    p = built_parser(command, monkeypatch)
    row = table()[command]
    expected = {flag for column, cell in row.items() for flag in CELLS[column][cell]}
    own = {flag for (c, flag) in OWN_FLAGS if c == command}
    assert flags(p) - own == expected, "a flag the table does not give it, or one it lacks"
    for column, title in GROUP_TITLES.items():
        assert flags(p, title) == CELLS[column][row[column]], f"{column}: not added through releng.cli"
    for flag in own:
        assert flag not in flags(p, "output"), OWN_FLAGS[(command, flag)]
    assert {"-q", "--quiet", "-v", "--verbose", "--debug"} <= {o for a in p._actions for o in a.option_strings}


@pytest.mark.parametrize("command", sorted(c for c, row in table().items() if row["servers"] != "-"))
def test_servers_is_required_only_where_the_command_cannot_work_without_it(command, monkeypatch):
    servers = action(built_parser(command, monkeypatch), "--servers")
    kind = table()[command]["servers"]
    assert servers.required is (kind == "required")
    if kind == "default":
        assert servers.default is not None and Path(servers.default).resolve() == (
            ROOT / "distribution" / "update_server_config.json")
    else:
        assert servers.default is None


def test_server_commands_have_no_config(monkeypatch):
    rows = table()
    assert {c for c, row in rows.items() if row["servers"] != "-" and row["repository"] == "-"} == SERVER_COMMANDS
    for command in SERVER_COMMANDS:
        assert "--config" not in flags(built_parser(command, monkeypatch)), command


@pytest.mark.parametrize("command", sorted(c for c, row in table().items() if row["repository"] != "-"))
def test_config_help_never_means_the_update_servers(command, monkeypatch):
    text = (action(built_parser(command, monkeypatch), "--config").help or "").lower()
    assert "releng" in text
    assert "server" not in text and ".json" not in text, text
