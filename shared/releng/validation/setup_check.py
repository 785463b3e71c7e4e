"""check-setup's checks: everything a release will read, read before anything changes (issue 13: each borrowed
default or typo showed up only after the tag existed).

Each check reads one input the way the script that uses it reads it (the same parsers, the same rules) and adds
either a note (what is in force) or a problem (one line, naming the file or key) to a Report; none stops the others,
so one run lists every problem. Nothing is written; the signing key is loaded to prove it readable, and only its
public key id is printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releng import config
from releng.errors import RelengError


@dataclass
class Report:
    """What check-setup found: notes (what is in force) and problems (what a release would trip on)."""

    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.notes.append(text)

    def problem(self, text: object) -> None:
        """Once each: a reader that stops at the first unknown key repeats one read_config listed already."""
        if str(text) not in self.problems:
            self.problems.append(str(text))


@dataclass
class Inputs:
    """Where to look: the repository, its releng config (--config), and the optional extras."""

    repo: Path
    config: str | None = None
    servers: str | None = None
    online: bool = False
    signing_key: str | None = None
    staging: Path | None = None
    shipped_contents: Path | None = None  # build-package's generic manifest, found by the script
    platforms: Sequence[str] = ("linux", "windows", "macos")


def run(inputs: Inputs) -> Report:
    """Every check, in the order a release reads its inputs."""
    report = Report()
    cfg, where = read_config(inputs, report)
    if cfg is not None:
        project = check_project(cfg, where, report)
        check_versioning(inputs.repo, cfg, where, report)
        check_changelog(inputs.repo, inputs.config, report)
        check_validation(cfg, where, report)
        check_contents(inputs, cfg, where, project, report)
        check_matrix(inputs.repo, cfg, where, project, report)
        check_signing_key(inputs.signing_key, cfg, report)
    if inputs.servers:
        check_servers(inputs.servers, inputs.online, report)
    return report


def read_config(inputs: Inputs, report: Report) -> tuple[dict[str, Any] | None, str]:
    """The config in force with every unknown key listed (not only the first, as the other scripts stop at)."""
    try:
        path = config.find(inputs.repo, inputs.config)
    except RelengError as e:
        report.problem(e)
        return None, ""
    if path is None:
        report.problem(f"no releng config: no releng.toml and no [tool.releng] in pyproject.toml ({inputs.repo}); "
                       "run init-project")
        return None, ""
    where = str(path)
    try:
        data = config.load_toml(path)
        if path.name == "pyproject.toml":
            data = data.get("tool", {}).get("releng", {})
        unknown = config.unknown_keys(data, where, "tool.releng." if path.name == "pyproject.toml" else "")
    except RelengError as e:
        report.problem(e)
        return None, where
    for text in unknown:
        report.problem(RelengError(text, where))
    report.ok(f"config: {where}")
    return data, where


def check_project(cfg: Mapping[str, Any], where: str, report: Report) -> str | None:
    name = (cfg.get("project") or {}).get("name") or (cfg.get("packaging") or {}).get("name")
    if not isinstance(name, str) or not name:
        report.problem(f"[project] name is not set: packages, manifests and the matrix are named by it ({where})")
        return None
    report.ok(f"project: {name}")
    return name


def check_versioning(repo: Path, cfg: Mapping[str, Any], where: str, report: Report) -> None:
    """The version files: configured, present, readable, agreeing with each other and not behind the last tag."""
    from releng import tag_history
    from releng.versioning import bump, version_files

    try:
        settings = bump.settings(cfg, where)
        bump.require_files(settings, where)
        specs = [version_files.Spec.from_config(e, where) for e in settings["files"]]
    except RelengError as e:
        report.problem(e)
        return
    found = []
    for spec in specs:
        try:
            found.append(version_files.read(spec, version_files.read_text(repo, spec, where)))
        except RelengError as e:
            report.problem(e)
    if len(found) != len(specs):
        return
    try:
        full, core = version_files.agreed_version(found)
        query = tag_history.HistoryQuery(repo, settings["tag_prefix"])
        try:
            last = query.result().last
        finally:
            query.close()
        current = bump.current_version(full, core, last, settings["initial_version"])
    except RelengError as e:
        report.problem(e)
        return
    tag = f", last tag {last.name}" if last else ", no release tag yet"
    report.ok(f"version files: {len(specs)} agree on {full or core or current}{tag}")


def check_changelog(repo: Path, explicit: str | None, report: Report) -> None:
    from releng.changelog import settings

    try:
        settings.load(repo, explicit)
    except RelengError as e:
        report.problem(e)


def check_validation(cfg: Mapping[str, Any], where: str, report: Report) -> None:
    from releng.validation import checklist

    try:
        checklist.settings(cfg, where)
    except RelengError as e:
        report.problem(e)


def check_contents(inputs: Inputs, cfg: Mapping[str, Any], where: str, project: str | None,
                   report: Report) -> None:
    """The contents manifest parses for every platform; against the staging tree when one exists."""
    from releng.packaging import staging

    packaging = cfg.get("packaging") or {}
    try:
        if "contents" in packaging:
            path = config.repo_path(inputs.repo, packaging["contents"], "[packaging] contents", where)
        elif inputs.shipped_contents is not None:
            path = inputs.shipped_contents
        else:
            return
        data = config.load_toml(path)
        fields = {"name": project or "{name}"}
        manifests = {p: staging.load_manifest(data, p, {**fields, "exe": ".exe" if p == "windows" else ""}, str(path))
                     for p in inputs.platforms}
    except RelengError as e:
        report.problem(e)
        return
    report.ok(f"contents manifest: {path}")
    tree = inputs.staging
    if tree is None or not tree.is_dir():
        return
    files = [p.relative_to(tree).as_posix() for p in tree.rglob("*") if not p.is_dir()]
    platform = next((p for p in inputs.platforms if p in tree.as_posix()), inputs.platforms[0])
    missing, unexpected = staging.check_contents(files, manifests[platform])
    if missing or unexpected:
        report.problem(staging.contents_error(missing, unexpected, manifests[platform], platform))
    else:
        report.ok(f"staging tree {tree} matches the contents manifest ({platform})")


def check_matrix(repo: Path, cfg: Mapping[str, Any], where: str, project: str | None, report: Report) -> None:
    from releng.versioning import compatibility

    configured = (cfg.get("validation") or {}).get("compatibility_matrix")
    try:
        if configured:
            path = config.repo_path(repo, configured, "[validation] compatibility_matrix", where)
        else:
            path = repo / "versioning" / "compatibility_matrix.json"
            if not path.is_file():
                report.problem(f"no compatibility matrix: set [validation] compatibility_matrix ({where}); "
                               "validate-release's compatibility gate needs one")
                return
        doc, releases = compatibility.load(path)
    except RelengError as e:
        report.problem(e)
        return
    if project and doc.get("product") != project:
        report.problem(f"{path} is the matrix of {doc.get('product')!r}, not of {project!r}")
        return
    report.ok(f"compatibility matrix: {path} ({len(releases)} releases)")


def check_signing_key(path: str | None, cfg: Mapping[str, Any], report: Report) -> None:
    """Loaded to prove it readable; only its public key id is printed, never the key or its passphrase."""
    import os

    from releng import signing

    packaging = cfg.get("packaging") or {}
    variable = str(packaging.get("signing_key_env", "RELENG_SIGNING_KEY"))
    passphrase_variable = str(packaging.get("signing_key_passphrase_env", "RELENG_SIGNING_KEY_PASSPHRASE"))
    try:
        if path:
            key = signing.load_private_key_file(path, os.environ.get(passphrase_variable, "").encode() or None)
        else:
            loaded = signing.load_private_key_env(variable, passphrase_variable)
            if loaded is None:
                report.problem(f"no signing key: set ${variable} or pass --signing-key FILE")
                return
            key = loaded
    except RelengError as e:
        report.problem(e)
        return
    report.ok(f"signing key readable (key id {key.key_id})")


def check_servers(path: str, online: bool, report: Report) -> None:
    """The update servers' config, its types checked; with `online`, each enabled server reached (SFTP: its host
    key checked against the configured known_hosts, as publish-release does)."""
    from releng.server import connect, layout

    try:
        cfg = layout.load_config(path)
    except RelengError as e:
        report.problem(e)
        return
    enabled = [s for s in cfg["servers"] if s.get("enabled", True)]
    report.ok(f"update servers: {', '.join(s['name'] for s in enabled) or 'none enabled'} ({path})")
    for spec in enabled if online else []:
        try:
            transport = connect.open_server(spec, create=False)
            try:
                transport.listdir("")
            finally:
                transport.close()
        except (RelengError, OSError) as e:
            report.problem(f"server {spec['name']!r} not reachable: {e}")
        else:
            report.ok(f"server {spec['name']!r} reachable")
