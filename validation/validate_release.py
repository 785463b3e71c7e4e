"""Validate a release: the release checklist as executable gates, each reported with its evidence.

  validate-release --public-key release.pub          profile release: every gate on HEAD, dist/ and build/release/
  validate-release --profile rc                      a release candidate (main or release/*)
  validate-release --profile hotfix                  the quick subset, for hotfix/* branches
  validate-release --junit build/tests.xml --json    take the test results from a JUnit report; print the document
  validate-release --rebuild                         also rebuild in a temp folder and compare byte for byte
  validate-release --write-checklist validation/release_checklist.md     regenerate the checklist

Gates: clean-tree, branch, version-agrees, no-skipped-version, tag, changelog, compatibility, tests, artifacts,
package-contents, rebuild (opt-in), smoke-run, code-freeze; validation/release_checklist.md says what each checks
and how blocking it is per profile, and lists the items only a person can tick (sign-off, the beta testers'
report, the user-facing message). Every gate runs and is reported even when earlier ones fail.

Inputs: the repository (--repo), its releng.toml ([versioning], [packaging], [validation]), the artifacts
document in --dist (default dist/artifacts.json), the version document (--version-file, default
build/release/version.json when present), the compatibility matrix ([validation] compatibility_matrix, else
versioning/compatibility_matrix.json of the repository; never another project's), a JUnit report (--junit).
Prints a table; writes the releng/validation document to build/release/validation.json (or --out; --json
prints it). Exit 0 when no blocking gate failed, 1 when one did, 2 on bad input (a missing or corrupt document,
named).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from releng import cli, config, documents, git, semver, signing, times
from releng.errors import BadInput
from releng.validation import artifact_gates as ga
from releng.validation import checklist, gates
from releng.versioning import compatibility

HERE = Path(__file__).resolve().parent
SHIPPED_CONTENTS = HERE.parent / "packaging" / "package_contents.toml"  # build-package's generic default
SYMBOLS = {"pass": "pass", "fail": "FAIL", "warn": "warn", "skip": "skip"}
COLORS = {"pass": "32", "fail": "31;1", "warn": "33", "skip": "2"}


def _matrix(repo: Path, configured: str | None, where: str) -> tuple[str, dict[str, Any]] | None:
    if configured:
        path = config.repo_path(repo, configured, "[validation] compatibility_matrix", where)
    else:  # the project's own or none: never another project's (issue 13)
        path = repo / "versioning" / "compatibility_matrix.json"
        if not path.is_file():
            return None
    doc, _ = compatibility.load(path)
    return path.name, doc


def _public_key(repo: Path, given: str | None, configured: str | None, where: str) -> bytes | None:
    if configured and len(configured) != 44:  # a file (44 characters: the key in base64), checked even if --public-key
        configured = str(config.repo_path(repo, configured, "[validation] public_key", where))
    if given:
        return signing.load_public_key(given)
    return signing.load_public_key(configured) if configured else None


def context(args: argparse.Namespace) -> checklist.Context:
    """Read and check every input before any gate runs: bad input is exit 2 naming the file, nothing run."""
    from releng.versioning import version_files

    repo = git.toplevel(args.repo or ".")
    cfg = config.load(repo, args.config)
    where = str(config.find(repo, args.config) or "defaults")
    settings = checklist.settings(cfg, where)
    versioning = config.section(cfg, "versioning", where)
    packaging = config.section(cfg, "packaging", where)
    files = versioning.get("files", [])
    if not isinstance(files, list):
        raise BadInput("[[versioning.files]] must be an array of tables", where)
    dist = Path(args.dist) if args.dist else repo / "dist"
    artifacts_path = dist / "artifacts.json"
    artifacts_doc = ga.read_document(artifacts_path, "artifacts")
    ga.check_artifacts_document(artifacts_doc, str(artifacts_path))
    version_path = Path(args.version_file) if args.version_file else repo / "build" / "release" / "version.json"
    version_doc = None
    if args.version_file or version_path.is_file():
        version_doc = (version_path.name, ga.read_document(version_path, "version"))
        semver.parse(str(version_doc[1].get("version")), str(version_path))
    version = semver.parse((version_doc[1] if version_doc else artifacts_doc)["version"])
    head = git.head(repo)
    if head is None:
        raise BadInput("the repository has no commits yet", str(repo))
    project = cfg.get("project", {}).get("name") if isinstance(cfg.get("project"), dict) else None
    # Every configured path stays inside the repository (symlinks included): exit 2 naming the key otherwise.
    specs = [version_files.Spec.from_config(e, where) for e in files]
    for spec in specs:
        version_files.path_of(repo, spec, where)
    config.repo_path(repo, settings["changelog"], "[validation] changelog", where)
    contents = config.repo_path(repo, packaging["contents"], "[packaging] contents", where) \
        if "contents" in packaging else SHIPPED_CONTENTS
    if not contents.is_file():
        raise BadInput("contents manifest not found", str(contents))
    prefix = versioning.get("tag_prefix", "v")
    if not isinstance(prefix, str):
        raise BadInput("tag_prefix must be a string", where)
    ctx = checklist.Context(
        repo=repo, profile=args.profile, settings=settings, version=version, prefix=prefix,
        project=project if isinstance(project, str) else None,
        version_files=specs,
        release_commit=str(versioning.get("commit_message", "chore(release): {version}")),
        version_doc=version_doc, artifacts_doc=artifacts_doc, dist=dist,
        matrix=_matrix(repo, settings["compatibility_matrix"], where),
        junit=(Path(args.junit).name, ga.read_junit(Path(args.junit))) if args.junit else None,
        public_key=_public_key(repo, args.public_key, settings["public_key"], where),
        contents=contents, packaging=packaging, head=head, branch=git.branch(repo),
        tags=git.tags(repo, prefix))  # its warnings about other tags are not this report's business
    if args.rebuild:
        ctx.rebuild = lambda: rebuild(ctx, args.config, version_path if version_doc else None)
    return ctx


def rebuild(ctx: checklist.Context, config_file: str | None, version_file: Path | None) -> checklist.Outcome:
    """Run build-package again (unsigned, same SOURCE_DATE_EPOCH) into a temp folder and compare the artifacts."""
    from releng.packaging import plugin_formats

    doc = ctx.artifacts_doc
    if doc["platform"] != plugin_formats.host_platform():
        return None, [f"the artifacts are for {doc['platform']}: rebuild them on a {doc['platform']} host"]
    kinds = sorted({a["kind"] for a in doc["artifacts"]})
    with tempfile.TemporaryDirectory(prefix="releng-rebuild-") as tmp:
        # build-package is another command: run it, never import it (scripts don't import each other).
        argv = [sys.executable, "-m", "releng._scripts.packaging.build_package", "--source", str(ctx.repo),
                "--out", f"{tmp}/dist", "--build-dir", f"{tmp}/build", "--unsigned", "-q",
                "--platform", doc["platform"], "--arch", doc["arch"], *(f"--format={k}" for k in kinds)]
        argv += ["--version-file", str(version_file)] if version_file else []
        argv += ["--config", config_file] if config_file else []
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(doc["source_date_epoch"]))
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=env,
                              stdin=subprocess.DEVNULL, cwd=ctx.repo)
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return False, [f"build-package exited {done.returncode}: {said}"]
        rebuilt = documents.read(Path(tmp) / "dist" / "artifacts.json", "artifacts")
    return ga.compare_rebuild(doc, rebuilt)


def document(ctx: checklist.Context, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of the releng/validation document."""
    counts = {r: sum(1 for g in results if g["result"] == r) for r in ("pass", "fail", "warn", "skip")}
    blocked = [g["id"] for g in results if g["result"] == "fail"]
    return {"project": ctx.project, "version": str(ctx.version), "tag": ctx.tag_name, "commit": ctx.head,
            "branch": ctx.branch, "profile": ctx.profile, "passed": not blocked,
            "summary": {**counts, "blocking_failed": blocked}, "gates": results,
            "human": checklist.human_items(ctx.profile),
            "created_at": times.now_text()}


def table(body: dict[str, Any], colour: bool = False) -> str:
    """The readable report: one row per gate, every evidence line, the human items, the verdict."""
    def paint(text: str, result: str) -> str:
        return f"\033[{COLORS[result]}m{text}\033[0m" if colour else text

    head = f"validate-release: {body['project'] or 'release'} {body['version']} (tag {body['tag']}), " \
           f"profile {body['profile']}, HEAD {body['commit'][:12]} on {body['branch'] or 'a detached HEAD'}"
    width = max(len(g["id"]) for g in body["gates"])
    lines = [head, "", f"   #  {'gate':<{width}}  result  kind      evidence"]
    for n, g in enumerate(body["gates"], 1):
        kind = "blocking" if g["blocking"] else "-" if g["result"] == "skip" else "warning"
        evidence = g["evidence"] or [""]
        lines.append(f"  {n:>2}  {g['id']:<{width}}  {paint(SYMBOLS[g['result']].ljust(6), g['result'])}  "
                     f"{kind:<8}  {evidence[0]}")
        lines += [f"{'':>{width + 28}}{line}" for line in evidence[1:]]
    lines += ["", "human items (tick by hand):"]
    lines += [f"  [ ] {h['id']}: {h['title']}: {h['checks']}" for h in body["human"]]
    s = body["summary"]
    tally = f"{s['pass']} passed, {s['warn']} warnings, {s['skip']} skipped"
    if s["blocking_failed"]:
        verdict = paint(f"NOT READY: {len(s['blocking_failed'])} blocking gate(s) failed: "
                        f"{', '.join(s['blocking_failed'])}", "fail") + f" ({tally})"
    else:
        verdict = f"READY for the human items: {tally}"
    return "\n".join([*lines, "", verdict]) + "\n"


def _run(args: argparse.Namespace) -> int:
    if args.write_checklist:
        text = checklist.markdown()
        if args.write_checklist == "-":
            sys.stdout.write(text)
        else:
            documents.write_text_atomic(args.write_checklist, text)
            cli.info(args, f"wrote {args.write_checklist}")
        return cli.OK
    ctx = context(args)
    if args.dry_run:
        for gate_id, title, _, severity in checklist.GATES:
            sys.stdout.write(f"{gate_id:<20} {severity.get(ctx.profile, 'skip (not in profile)'):<22} {title}\n")
        return cli.OK
    body = document(ctx, gates.run_all(ctx))
    if not args.out:
        documents.write(ctx.repo / "build" / "release" / "validation.json", "validation", body)
    cli.emit(args, "validation", body)
    machine = args.json or args.out == "-"
    stream = sys.stderr if machine else sys.stdout
    if args.quiet < (1 if machine else 2):
        stream.write(table(body, cli.color(stream)))
    return cli.NEGATIVE if body["summary"]["blocking_failed"] else cli.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="validate-release")
    cli.add_output(parser, "the releng/validation document")
    cli.add_dry_run(parser)
    cli.add_repository(parser)
    parser.add_argument("--profile", choices=checklist.PROFILES, default="release",
                        help="which gates run and how blocking they are (default: release)")
    parser.add_argument("--dist", metavar="DIR", help="the release folder build-package wrote (default: dist/)")
    parser.add_argument("--public-key", metavar="KEY", help="the trusted release key: base64 of the 32-byte "
                        "Ed25519 public key, or a file (default: [validation] public_key)")
    parser.add_argument("--version-file", metavar="FILE",
                        help="releng/version document (default: build/release/version.json when present)")
    parser.add_argument("--junit", metavar="FILE", help="JUnit XML test report instead of [validation] test_command")
    parser.add_argument("--rebuild", action="store_true", help="rebuild in a temp folder and compare byte for byte")
    parser.add_argument("--write-checklist", metavar="FILE",
                        help="write the release checklist generated from the gate list ('-' = stdout) and exit")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
