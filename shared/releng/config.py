"""Configuration: `--config FILE`, else `releng.toml` at the repository root, else `[tool.releng]` in its
pyproject.toml, else nothing; each script merges what it finds over the defaults shipped beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from releng.errors import BadInput


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


def load(repo: Path, explicit: str | None = None) -> dict[str, Any]:
    """The repository's releng settings as a dict (empty when there is no config)."""
    path = find(repo, explicit)
    if path is None:
        return {}
    data = load_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        data = tool.get("releng", {}) if isinstance(tool, dict) else {}
        if not isinstance(data, dict):
            raise BadInput("[tool.releng] must be a table", str(path))
    return data


def load_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a config file: start-up otherwise (bench/README.md)

    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"malformed TOML: {e}", str(path)) from None
    except UnicodeDecodeError as e:  # tomllib decodes the bytes itself and lets this through
        raise BadInput(f"malformed TOML: not UTF-8 ({e.reason} at byte {e.start})", str(path)) from None
    except OSError as e:
        raise BadInput(f"cannot read config: {e.strerror}", str(path)) from None


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "[tool.releng" in text
