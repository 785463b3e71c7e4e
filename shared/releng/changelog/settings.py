"""The settings of lint-commit and gen-changelog: the shipped defaults merged with the repository's own.

Sources, later ones winning (tables merge key by key, `releng.config.merged`):

1. `changelog/changelog_config.yml`, shipped beside the scripts (in a wheel: `releng/_scripts/changelog/`).
2. The repository's releng config (`releng.config.load`: `--config FILE`, else `releng.toml`, else
   `[tool.releng]` in pyproject.toml), either as a `[changelog_config]` table of the same shape, or as
   `changelog_config = "path/to/file.yml"` at its top level, naming a YAML file of the same shape (relative to the
   folder of the config file that names it, which is the repository root for releng.toml and pyproject.toml).

Speed, and the cache: lint-commit runs on every commit and must start in about the time of `python -c pass`, but
`import yaml` alone costs more than that, `tomllib` and `pathlib` pull in `re`, and `json` does too (bench/README.md).
So the merged and validated result is cached with `marshal` (built into the interpreter: no import, quick to
load) in `<git dir>/releng/changelog_config.<hash>.cache`, or under the user cache dir when there is no git dir. Its
key is the cache format, the Python version, the shipped file's path, the `explicit` argument and the path, mtime_ns
and size of every file consulted, absent ones included (creating a releng.toml invalidates it); the file is named
by a hash of the key's first part, so that two installations on one machine keep one file each. A hit costs a
handful of `stat()` calls; a miss
parses as usual, validates and rewrites the cache atomically; a cache that cannot be read or written is ignored.
As git does for its index ("racy git"), nothing is cached while a source is younger than `RACY_NS`: a second edit
within the file system's timestamp granularity could keep both mtime and size.
A JSON twin of the shipped file was the alternative; it was set aside because `json` imports `re` and because a
repository's TOML or YAML overrides would still need parsing on every commit.

This module imports only `os`, `sys` and `marshal` at load time; the parsers are imported on a cache miss.
"""

from __future__ import annotations

import marshal
import os
import sys

from releng.errors import BadInput

TYPE_CHECKING = False  # not typing's: importing typing costs more than a cache hit
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

CACHE_FORMAT = 1  # bump when the shape of the result or the merge rules change
RACY_NS = 2_000_000_000
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_BOOLS = ("allow_merge", "allow_revert", "allow_autosquash")
_STRINGS = ("unreleased_heading", "breaking_label", "repo_url", "commit_url", "issue_url", "compare_url")


def defaults_path() -> str:
    """The shipped `changelog_config.yml`: inside the installed wheel, or in the checkout (editable install).

    The folders of `releng._scripts.__path__`, found without importing it (releng never imports the scripts): a
    wheel carries the script folders in `releng/_scripts/`, a checkout keeps them at its root, two levels above
    the `releng` package. An editable install may leave a stale copy in site-packages; it is never this package.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # releng/, above releng/changelog/
    for folder in (os.path.join(package, "_scripts"), os.path.dirname(os.path.dirname(package))):
        path = os.path.join(folder, "changelog", "changelog_config.yml")
        if os.path.isfile(path):
            return path
    raise BadInput("shipped changelog_config.yml not found (reinstall releng)", package)


def load(repo: Path | str | None, explicit: str | None = None) -> dict[str, Any]:
    """The shipped defaults merged with the repository's overrides, validated; BadInput (exit 2) if malformed."""
    defaults = defaults_path()
    repo_s = os.path.abspath(os.fspath(repo)) if repo is not None else None
    if explicit:
        candidates = [os.path.abspath(explicit)]
    elif repo_s is not None:
        candidates = [os.path.join(repo_s, "releng.toml"), os.path.join(repo_s, "pyproject.toml")]
    else:
        candidates = []
    head = (CACHE_FORMAT, sys.version_info[:2], defaults, explicit or "", tuple(candidates))
    cache = _cache_file(repo_s, head)
    cached = _read_cache(cache, head)
    if cached is not None:
        return cached
    cfg, extra = _load_uncached(defaults, repo_s, explicit)
    _write_cache(cache, head, [defaults, *candidates, *extra], cfg)
    return cfg


def allowed_types(cfg: Mapping[str, Any]) -> list[str]:
    """The commit types lint-commit accepts: the keys of `types` plus `lint.extra_types`, sorted."""
    return sorted({*cfg["types"], *cfg["lint"]["extra_types"]})


def validate(cfg: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the shapes of the known keys (unknown keys pass through); type names are lowered."""
    out = dict(cfg)
    types = _table(out, "types", where)
    out["types"] = {_token(k, "types", where).lower(): _category(v, f"types.{k}", where) for k, v in types.items()}
    footers = _table(out, "footers", where)
    out["footers"] = {_footer_token(k, where): _category(v, f"footers.{k}", where) for k, v in footers.items()}
    lint = out["lint"] = dict(_table(out, "lint", where))
    for key in ("extra_types", "scopes"):
        items = lint.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise BadInput(f"lint.{key} must be a list of non-empty strings", where)
    lint["extra_types"] = [_token(t, "lint.extra_types", where).lower() for t in lint.get("extra_types", [])]
    lint["scopes"] = list(lint.get("scopes", []))
    length = lint.get("max_header_length", 100)
    if isinstance(length, bool) or not isinstance(length, int) or length < 10:
        raise BadInput(f"lint.max_header_length must be an integer >= 10, not {length!r}", where)
    for key in _BOOLS:
        if not isinstance(lint.get(key, True), bool):
            raise BadInput(f"lint.{key} must be true or false", where)
    changelog = out["changelog"] = dict(_table(out, "changelog", where))
    for key in _STRINGS:
        if key in changelog and not isinstance(changelog[key], str):
            raise BadInput(f"changelog.{key} must be a string", where)
    if not isinstance(changelog.get("other_heading"), str | None):
        raise BadInput("changelog.other_heading must be a string or null", where)
    yanked = changelog.get("yanked", [])
    if not isinstance(yanked, list) or not all(isinstance(v, str) for v in yanked):
        raise BadInput("changelog.yanked must be a list of versions", where)
    from releng import semver  # only on a cache miss: validation runs on freshly parsed settings

    bad = [v for v in yanked if not semver.is_valid(v.removeprefix("v"))]
    if bad:
        raise BadInput(f"changelog.yanked: {bad[0]!r} is not a SemVer version", where)
    changelog["yanked"] = [v.removeprefix("v") for v in yanked]
    for key in ("fold_prereleases", "squashed_commits"):
        if not isinstance(changelog.get(key, key == "fold_prereleases"), bool):
            raise BadInput(f"changelog.{key} must be true or false", where)
    return out


YAML_CAP = 1 << 20  # a changelog config is a page of settings: a larger file is a mistake (and YAML costs ~70x it)


def read_yaml(path: str) -> dict[str, Any]:
    """A YAML mapping from a file (empty file: {}); BadInput on anything else."""
    import yaml

    from releng import files

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = files.read_capped(path, YAML_CAP, "changelog config").decode("utf-8")
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except files.Missing:
        raise BadInput("changelog config not found", path) from None
    except UnicodeDecodeError as e:
        raise BadInput(f"cannot read changelog config: {e}", path) from None
    except RecursionError:
        raise BadInput("malformed YAML: nested too deeply", path) from None
    except yaml.YAMLError as e:
        raise BadInput(f"malformed YAML: {' '.join(str(e).split())}", path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput("a changelog config must be a mapping", path)
    return data


def _load_uncached(defaults: str, repo: str | None, explicit: str | None) -> tuple[dict[str, Any], list[str]]:
    from pathlib import Path

    from releng import config

    cfg = validate(read_yaml(defaults), defaults)
    if repo is None and not explicit:
        return cfg, []
    found = config.find(Path(repo or "."), explicit)
    if found is None:
        return cfg, []
    override = config.load(Path(repo or "."), explicit).get("changelog_config", {})
    where = f"{found}: changelog_config"
    if isinstance(override, str):
        if not override.strip():
            raise BadInput("changelog_config must name a YAML file", where)
        path = os.path.join(os.path.dirname(os.path.abspath(found)), override)
        data = read_yaml(path)
        check_keys(data, cfg, path)
        return validate(config.merged(cfg, data), path), [path]
    if not isinstance(override, dict):
        raise BadInput("changelog_config must be a table or the path of a YAML file", where)
    check_keys(override, cfg, where)
    return validate(config.merged(cfg, override), where), []


def check_keys(override: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> None:
    """Unknown keys are errors with the nearest valid one (issue 13: `max_header_lenght` was ignored): the
    shipped file names every key, except the free-form commit types and footer tokens."""
    from releng import config

    config.check_keys(override, sorted(defaults), "changelog_config", where)
    for table in ("lint", "changelog"):
        if isinstance(override.get(table), dict):
            config.check_keys(override[table], sorted(defaults[table]), f"changelog_config.{table}", where)


def _table(cfg: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadInput(f"{key} must be a mapping with string keys", where)
    return value


def _token(name: object, key: str, where: str) -> str:
    if not isinstance(name, str) or not name or not name[0].isascii() or not name[0].isalpha() or \
            not set(name) <= _TOKEN_CHARS:
        raise BadInput(f"{key}: {name!r} is not a commit type (a letter, then letters, digits, - or _)", where)
    return name


def _footer_token(name: str, where: str) -> str:
    if name not in ("BREAKING CHANGE", "BREAKING-CHANGE"):
        _token(name, "footers", where)
    return name


def _category(value: object, key: str, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise BadInput(f"{key} must be a changelog category (a string) or null", where)
    return value


def _cache_file(repo: str | None, head: tuple[Any, ...]) -> str | None:
    """The cache file for `head`, named by its hash: two installations (another shipped defaults file, another
    Python) or two `--config` files used on one machine each keep their own entry instead of evicting each
    other's on every run (a collision of the hash only costs a miss: the file's head is compared in full)."""
    name = f"changelog_config.{_hash(repr(head)):08x}.cache"
    if repo is not None:
        from releng.changelog import commit_message

        gitdir = commit_message.git_dir(repo)
        if gitdir is not None:
            return os.path.join(gitdir, "releng", name)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    return os.path.join(base, "releng", name)  # the head names the repository's config files, if any


def _hash(text: str) -> int:
    """A stable (unsalted, unlike `hash`) 32-bit FNV-1a hash, to name cache files by what they hold."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8", "surrogateescape"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _stamp(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _read_cache(cache: str | None, head: tuple[Any, ...]) -> dict[str, Any] | None:
    if cache is None:
        return None
    try:
        with open(cache, "rb") as f:
            saved_head, stamps, cfg = marshal.loads(f.read())
    except Exception:  # noqa: BLE001 - absent, unreadable or garbled: a miss, never an error
        return None
    if saved_head != head or not isinstance(cfg, dict) or not isinstance(stamps, tuple):
        return None
    for stamp in stamps:
        if not isinstance(stamp, tuple) or len(stamp) != 3 or _stamp(stamp[0]) != stamp:
            return None
    return cfg


def _write_cache(cache: str | None, head: tuple[Any, ...], sources: list[str], cfg: dict[str, Any]) -> None:
    if cache is None:
        return
    import time

    stamps = tuple(_stamp(p) for p in sources)
    now = time.time_ns()
    if any(now - mtime < RACY_NS for _, mtime, _ in stamps if mtime >= 0):
        return
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(marshal.dumps((head, stamps, cfg)))
        os.replace(tmp, cache)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
