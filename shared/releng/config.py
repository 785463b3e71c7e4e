"""Configuration: `--config FILE`, else `releng.toml` at the repository root, else `[tool.releng]` in its
pyproject.toml, else nothing; each script merges what it finds over the defaults shipped beside it.

Every path a config names (version files, the contents manifest, the compatibility matrix, the changelog) goes
through `repo_path`: it must resolve inside the repository, symlinks included, or it is bad input (issue 12:
bump-version rewrote `../outside-ver.txt`). `check_keys` refuses unknown keys with the nearest valid one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from releng.errors import BadInput

CONFIG_CAP = 4 << 20  # no releng.toml or pyproject.toml comes near 4 MiB: more is not a config


def find(repo: Path, explicit: str | None = None) -> Path | None:
    """The config file in force, or None when the repository has none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BadInput("config file not found", explicit)
        return path
    for name in ("releng.toml", "pyproject.toml"):
        path = repo / name
        if path.is_file() and (name == "releng.toml" or _has_tool_releng(path)):
            return path
    return None


# Every table a releng config may hold and the keys each may hold (None: a table or path checked by its reader,
# releng.changelog.settings for changelog_config). One list for every script, so that a typo anywhere in the file
# is exit 2 in whichever script reads it first, before anything changes (issue 13: `[[versioning.file]]` made an
# empty release). An area that adds a setting adds its key here; tests/releng/test_config.py keeps each area's
# DEFAULTS inside this list.
TABLES: dict[str, frozenset[str] | None] = {
    "project": frozenset({"name"}),
    "versioning": frozenset({"tag_prefix", "initial_version", "zero_major_breaking", "minor_types", "patch_types",
                             "commit_message", "files"}),
    "packaging": frozenset({
        "name", "display_name", "publisher", "homepage", "identifier", "maintainer", "summary", "description",
        "contents", "installer_configs", "changelog", "changelog_dest", "archive_root", "version_command",
        "signing_key_env", "signing_key_passphrase_env", "formats", "levels", "macos_prefix", "code_sign",
        "windows_toolchain", "authenticode_ca"}),
    "validation": frozenset({"main_branch", "changelog", "compatibility_matrix", "test_command", "test_timeout",
                             "freeze_date", "freeze_allowed", "public_key", "unpack_max_bytes",
                             "unpack_max_members"}),
    "metrics": frozenset({"bug_window_days", "bug_types", "since_days"}),
    "changelog_config": None,
}
SUBTABLES: dict[str, frozenset[str]] = {  # tables inside the tables above whose keys are fixed too
    "packaging.formats": frozenset({"linux", "windows", "macos"}),
    "packaging.levels": frozenset({"tar.gz", "tar.zst", "zip"}),
    "packaging.code_sign": frozenset({"linux", "windows", "macos"}),
}


def load(repo: Path, explicit: str | None = None) -> dict[str, Any]:
    """The repository's releng settings as a dict (empty when there is no config), every key checked."""
    path = find(repo, explicit)
    if path is None:
        return {}
    data = load_toml(path)
    prefix = ""
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        data = tool.get("releng", {}) if isinstance(tool, dict) else {}
        if not isinstance(data, dict):
            raise BadInput("[tool.releng] must be a table", str(path))
        prefix = "tool.releng."
    check_config(data, str(path), prefix)
    return data


def check_config(data: Mapping[str, Any], where: str, prefix: str = "") -> None:
    """BadInput naming the first unknown table or key (and the nearest valid one) anywhere in a releng config."""
    found = unknown_keys(data, where, prefix)
    if found:
        raise BadInput(found[0], where)


def unknown_keys(data: Mapping[str, Any], where: str, prefix: str = "") -> list[str]:
    """Every unknown table or key of a releng config, each with the nearest valid name (check-setup lists them all);
    BadInput when a table is not a table."""
    found = _unknown(data, TABLES, f"the releng config{' [tool.releng]' if prefix else ''}")
    for name, keys in TABLES.items():
        table = data.get(name)
        if keys is None or table is None:
            continue
        if not isinstance(table, Mapping):
            raise BadInput(f"[{prefix}{name}] must be a table", where)
        found += _unknown(table, keys, f"[{prefix}{name}]")
        for key, value in table.items():
            sub = SUBTABLES.get(f"{name}.{key}")
            if sub is not None and isinstance(value, Mapping):
                found += _unknown(value, sub, f"[{prefix}{name}.{key}]")
    return found


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file (a regular file of at most CONFIG_CAP bytes); BadInput in one line for anything wrong.

    tomllib recurses once per nested array or inline table: `a = [[[...` 30,000 deep is a RecursionError, and
    a 5,000-digit integer a ValueError; both are a malformed file here, never an internal error.
    """
    import tomllib  # only when there is a config file: start-up otherwise (bench/README.md)

    from releng import files

    data = files.read_capped(path, CONFIG_CAP, "config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"malformed TOML: not UTF-8 ({e.reason} at byte {e.start})", str(path)) from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise BadInput("malformed TOML: nested too deeply", str(path)) from None
    except ValueError as e:  # TOMLDecodeError is one
        raise BadInput(f"malformed TOML: {e}", str(path)) from None


def repo_path(repo: Path, value: object, key: str, where: str = "config") -> Path:
    """`repo / value` for a path the config names, checked to resolve inside the repository (symlinks followed,
    `..` and absolute paths included); BadInput naming `key` otherwise. The path returned is the joined one, so a
    symlink inside the repository to a file inside it stays a symlink when the file is rewritten."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise BadInput(f"{key} must be a path inside the repository, found {value!r}", where)
    root = repo.resolve()
    path = repo / value
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise BadInput(f"{key} {value!r} is outside the repository ({root}): every configured path must stay "
                       "inside it", where)
    return path


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], what: str, where: str) -> None:
    """BadInput for the first key of `table` not in `allowed`, naming the nearest valid one (a typo is not ignored:
    DESIGN.md, "unknown config keys are errors")."""
    found = _unknown(table, allowed, what)
    if found:
        raise BadInput(found[0], where)


def _unknown(table: Mapping[str, Any], allowed: Iterable[str], what: str) -> list[str]:
    import difflib

    known = sorted(allowed) if isinstance(allowed, frozenset | set | dict) else list(allowed)
    found = []
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(known)})"
            found.append(f"unknown key {key!r} in {what}{hint}")
    return found


def merged(defaults: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` over `defaults`: tables merge key by key, anything else replaces."""
    out = dict(defaults)
    for key, value in override.items():
        base = out.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            out[key] = merged(base, value)
        else:
            out[key] = value
    return out


def section(cfg: Mapping[str, Any], name: str, where: str = "config") -> dict[str, Any]:
    """`cfg[name]` as a table (empty if absent); BadInput if it is something else."""
    value = cfg.get(name, {})
    if not isinstance(value, dict):
        raise BadInput(f"[{name}] must be a table", where)
    return value


def _has_tool_releng(path: Path) -> bool:
    from releng import files

    try:
        return b"[tool.releng" in files.read_capped(path, CONFIG_CAP, "pyproject.toml")
    except BadInput:
        return False
