"""Answer questions from the compatibility matrix: plugin formats and minimum systems per platform, tested
hosts, and the preset and project-state formats each release reads and writes.

  check-compat validate                     exit 0, or 2 naming the problem and its JSON path
  check-compat reads-preset 1.0.0 1         can 1.0.0 read preset format 1? exit 0 yes, 1 no
  check-compat upgrade 0.2.0 1.0.0          exit 0 if no migration is needed, 1 if one is (and what changes)
  check-compat supports-host Reaper --version 7.18
                                            releases tested in the host (at that version or newer); 1 if none
  check-compat render [--check]             write the Markdown beside the matrix (--check: exit 1 if stale)
  check-compat show 1.0.0 [--json]          one release's entry

The matrix is --matrix FILE, else `[compat] matrix` in the repository's config (relative to its root), else
the compatibility_matrix.json beside this script. Its shape: shared/releng/schemas/compatibility.schema.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from releng import cli, config, documents, git, semver
from releng.errors import BadInput

DEFAULT_MATRIX = Path(__file__).with_name("compatibility_matrix.json")
FORMATS = ("VST3", "AU", "AAX", "CLAP")
PLATFORMS = {"windows": ("VST3", "AAX", "CLAP"), "macos": FORMATS, "linux": ("VST3", "CLAP")}
OS_NAMES = {"windows": "Windows", "macos": "macOS", "linux": "glibc"}  # Linux's floor is the glibc it needs
ARCHES = ("x86_64", "arm64")
FILE_FORMATS = ("preset_format", "state_format")
Entry = dict[str, Any]


def _fail(what: str, path: str) -> NoReturn:
    raise BadInput(what, path)


def _obj(value: object, path: str) -> Entry:
    return value if isinstance(value, dict) else _fail("must be an object", path)


def _text(value: object, path: str) -> str:
    return value if isinstance(value, str) and value.strip() else _fail("must be a non-empty string", path)


def _posint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def dotted(text: object, path: str = "version") -> tuple[int, ...]:
    """"12.1" -> (12, 1), trailing zeros dropped so 12 == 12.0; compared part by part."""
    parts = text.split(".") if isinstance(text, str) else [""]
    if not all(p.isascii() and p.isdigit() for p in parts):
        _fail(f"not a dotted version like 12.1: {text!r}", path)
    key = [int(p) for p in parts]
    while len(key) > 1 and key[-1] == 0:
        key.pop()
    return tuple(key)


def _names(value: object, path: str, allowed: Sequence[str], noun: str) -> list[str]:
    if not isinstance(value, list) or not value:
        _fail(f"must be a non-empty array of {noun}s", path)
    for i, name in enumerate(value):
        if name not in allowed:
            _fail(f"unknown {noun} {name!r} (expected one of {', '.join(allowed)})", f"{path}[{i}]")
        if name in value[:i]:
            _fail(f"duplicate {noun} {name!r}", f"{path}[{i}]")
    return value


def _file_format(value: object, path: str) -> None:
    fmt = _obj(value, path)
    reads = fmt.get("reads")
    if not isinstance(reads, list) or not reads:
        _fail("must be a non-empty array of format numbers", f"{path}.reads")
    for i, n in enumerate(reads):
        if not _posint(n):
            _fail(f"not a format number (a positive integer): {n!r}", f"{path}.reads[{i}]")
    if any(a >= b for a, b in zip(reads, reads[1:], strict=False)):
        _fail("must be ascending without duplicates", f"{path}.reads")
    writes = fmt.get("writes")
    if not _posint(writes):
        _fail(f"not a format number (a positive integer): {writes!r}", f"{path}.writes")
    if writes not in reads:
        _fail(f"writes format {writes} but reads only {_list(reads)}: a release must read what it writes",
              f"{path}.reads")


def _release(value: object, path: str) -> semver.Version:
    e = _obj(value, path)
    version = semver.parse(e.get("version"), f"{path}.version")  # type: ignore[arg-type]
    date = e.get("date")
    if not (isinstance(date, str) and len(date) == 10 and date[4] == date[7] == "-" and _is_date(date)):
        _fail(f"not a date like 2024-12-09: {date!r}", f"{path}.date")
    platforms = _obj(e.get("platforms"), f"{path}.platforms")
    if not platforms:
        _fail("must name at least one platform", f"{path}.platforms")
    for name, p in platforms.items():
        pp = f"{path}.platforms.{name}"
        if name not in PLATFORMS:
            _fail(f"unknown platform {name!r} (expected one of {', '.join(PLATFORMS)})", pp)
        for i, f in enumerate(_names(_obj(p, pp).get("formats"), f"{pp}.formats", FORMATS, "format")):
            if f not in PLATFORMS[name]:
                _fail(f"{f} does not exist on {name}", f"{pp}.formats[{i}]")
        dotted(p.get("min_os"), f"{pp}.min_os")
        _names(p.get("arch"), f"{pp}.arch", ARCHES, "architecture")
    hosts = e.get("hosts")
    if not isinstance(hosts, list):
        _fail("must be an array", f"{path}.hosts")
    seen: set[tuple[str, tuple[int, ...]]] = set()
    for i, h in enumerate(hosts):
        hp = f"{path}.hosts[{i}]"
        name = _text(_obj(h, hp).get("name"), f"{hp}.name")
        key = (name.casefold(), dotted(h.get("version"), f"{hp}.version"))
        if key in seen:
            _fail(f"duplicate host {name} {h['version']}", hp)
        seen.add(key)
        on = _names(h.get("platforms"), f"{hp}.platforms", tuple(PLATFORMS), "platform")
        for j, pl in enumerate(on):
            if pl not in platforms:
                _fail(f"{name} tested on {pl}, which this release does not ship for", f"{hp}.platforms[{j}]")
        for j, f in enumerate(_names(h.get("formats"), f"{hp}.formats", FORMATS, "format")):
            if not any(f in platforms[pl]["formats"] for pl in on):
                _fail(f"{name} tested as {f}, which this release ships on none of {', '.join(on)}",
                      f"{hp}.formats[{j}]")
    for kind in FILE_FORMATS:
        _file_format(e.get(kind), f"{path}.{kind}")
    notes = e.get("migration_notes")
    if not isinstance(notes, list) or not all(isinstance(n, str) and n.strip() for n in notes):
        _fail("must be an array of non-empty strings", f"{path}.migration_notes")
    return version


def _is_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def validate(doc: Entry) -> list[Entry]:
    """The releases of a stamped matrix after every check; BadInput(what, JSON path) on the first problem."""
    _text(doc.get("product"), "$.product")
    if "display_name" in doc:
        _text(doc["display_name"], "$.display_name")
    releases = doc.get("releases")
    if not isinstance(releases, list) or not releases:
        _fail("must be a non-empty array", "$.releases")
    seen: dict[semver.Version, int] = {}
    for i, entry in enumerate(releases):
        path = f"$.releases[{i}]"
        v = _release(entry, path)
        if v in seen:
            _fail(f"duplicate release {v} (same precedence as $.releases[{seen[v]}])", f"{path}.version")
        if i and v < _v(releases[i - 1]):
            _fail(f"releases not sorted: {v} comes after {releases[i - 1]['version']}", f"{path}.version")
        seen[v] = i
        for kind in FILE_FORMATS:
            old, new = (releases[i - 1][kind]["writes"], entry[kind]["writes"]) if i else (0, 0)
            if old != new and not entry["migration_notes"]:
                _fail(f"writes {kind} {new} instead of {old} but has no migration notes", f"{path}.migration_notes")
    return releases


def _v(entry: Entry) -> semver.Version:
    return semver.parse(entry["version"])


def _list(numbers: Sequence[object]) -> str:
    return ", ".join(str(n) for n in numbers)


def find(releases: Sequence[Entry], text: str, where: str) -> Entry:
    """The release whose version has the precedence of `text` (build metadata ignored)."""
    v = semver.parse(text, where)
    for e in releases:
        if _v(e) == v:
            return e
    raise BadInput(f"unknown release {text} (known: {_list([e['version'] for e in releases])})", where)


def reads(releases: Sequence[Entry], entry: Entry, kind: str, n: int) -> tuple[bool, str]:
    """Whether `entry` reads format `n` of `kind` ("preset_format"/"state_format"), and why."""
    fmt, label = entry[kind], kind.removesuffix("_format")
    listing = f"{label} format{'s' if len(fmt['reads']) > 1 else ''} {_list(fmt['reads'])}"
    if n in fmt["reads"]:
        return True, f"{entry['version']} reads {listing} and writes {fmt['writes']}"
    writers = [e for e in releases if e[kind]["writes"] == n]
    if not writers:
        why = f"no release writes {label} format {n}"
    elif _v(writers[0]) > _v(entry):
        why = f"format {n} is first written by {writers[0]['version']}"
    else:
        why = f"format {n} was last written by {writers[-1]['version']}"
    return False, f"{entry['version']} reads {listing} only; {why}"


def upgrade(releases: Sequence[Entry], a: Entry, b: Entry) -> Entry:
    """What changes for users going from `a` to `b`: formats written, raised requirements, migration notes."""
    va, vb = _v(a), _v(b)
    if vb < va:
        raise BadInput(f"{a['version']} is newer than {b['version']}: give the older release first", "upgrade")
    changes = [{"format": k.removesuffix("_format"), "from": a[k]["writes"], "to": b[k]["writes"],
                "converts_on_load": a[k]["writes"] in b[k]["reads"]}
               for k in FILE_FORMATS if a[k]["writes"] != b[k]["writes"]]
    requirements = []
    for name, pa in a["platforms"].items():
        pb = b["platforms"].get(name)
        if pb is None:
            requirements.append(f"{name}: no longer supported")
            continue
        if dotted(pb["min_os"]) > dotted(pa["min_os"]):
            requirements.append(f"{name}: needs {OS_NAMES[name]} {pb['min_os']} (was {pa['min_os']})")
        for key, noun in (("formats", "format"), ("arch", "architecture")):
            gone = [x for x in pa[key] if x not in pb[key]]
            if gone:
                requirements.append(f"{name}: {noun} {', '.join(gone)} dropped")
    notes: list[str] = []
    for e in releases:
        if va < _v(e) <= vb:
            notes.extend(n for n in e["migration_notes"] if n not in notes)
    return {"from": a["version"], "to": b["version"], "migration_needed": bool(changes), "changes": changes,
            "requirements": requirements, "notes": notes}


def supports_host(releases: Sequence[Entry], host: str, at_least: tuple[int, ...] | None) -> list[Entry]:
    """Releases tested in `host` (case-insensitive name), at version `at_least` or newer, newest first."""
    found = []
    for e in reversed(releases):
        tested = [{k: h[k] for k in ("version", "platforms", "formats")} for h in e["hosts"]
                  if h["name"].casefold() == host.casefold()
                  and (at_least is None or dotted(h["version"]) >= at_least)]
        if tested:
            found.append({"version": e["version"], "date": e["date"], "tested": tested})
    return found


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows), ""]


def render(doc: Entry, releases: Sequence[Entry], source: str) -> str:
    """The Markdown view of the matrix, newest release first."""
    newest = list(reversed(releases))
    names = {"windows": "Windows", "macos": "macOS", "linux": "Linux"}

    def system(e: Entry, p: str) -> str:
        s = e["platforms"].get(p)
        return f"{OS_NAMES[p]} {s['min_os']}+ ({', '.join(s['arch'])})" if s else "—"

    def formats(e: Entry, p: str) -> str:
        return ", ".join(e["platforms"][p]["formats"]) if p in e["platforms"] else "—"

    hosts: dict[str, Entry] = {}
    for e in newest:
        for h in e["hosts"]:
            hosts.setdefault(h["name"], h)
    order = sorted(hosts, key=str.casefold)
    lines = [f"<!-- Generated by `check-compat render` from {source}. Do not edit by hand: edit the JSON, "
             "then run `check-compat render`. -->",
             f"# {doc.get('display_name') or doc['product']}: compatibility matrix", "",
             "Newest release first. Checked by `check-compat validate`; ask it questions with `check-compat "
             "reads-preset`, `upgrade`, `supports-host` and `show`.", "", "## Plugin formats", ""]
    lines += _table(["Release", "Date", *names.values()],
                    [[e["version"], e["date"], *(formats(e, p) for p in names)] for e in newest])
    lines += ["## Minimum systems", "", "Linux builds need the glibc version shown or newer.", ""]
    lines += _table(["Release", *names.values()], [[e["version"], *(system(e, p) for p in names)] for e in newest])
    lines += ["## Preset and project state formats", "",
              "A release reads every format in its *reads* column and saves in its *writes* format.", ""]
    lines += _table(["Release", "Preset reads", "Preset writes", "State reads", "State writes"],
                    [[e["version"], *(x for k in FILE_FORMATS for x in (_list(e[k]["reads"]), e[k]["writes"]))]
                     for e in newest])
    lines += ["## Tested hosts", ""]
    lines += _table(["Release", *order], [[e["version"], *(_list(
        [h["version"] for h in e["hosts"] if h["name"] == n]) or "—" for n in order)] for e in newest])
    lines += _table(["Host", "Platforms (newest test)", "Plugin formats"],
                    [[n, ", ".join(names[p] for p in hosts[n]["platforms"]), ", ".join(hosts[n]["formats"])]
                     for n in order])
    lines += ["## Migration notes", ""]
    for e in newest:
        if e["migration_notes"]:
            lines += [f"### {e['version']}", "", *(f"- {n}" for n in e["migration_notes"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _matrix_path(args: argparse.Namespace) -> Path:
    if args.matrix:
        return Path(args.matrix)
    repo = Path(args.repo) if args.repo else None
    if repo is None:
        try:
            repo = git.toplevel(".")
        except (BadInput, OSError):
            repo = None
    if repo is not None or args.config:
        root = repo or Path.cwd()
        where = str(config.find(root, args.config))
        path = config.section(config.load(root, args.config), "compat", where).get("matrix")
        if path is not None:
            return root / (path if isinstance(path, str) and path else _fail("must be a path", f"{where} [compat] matrix"))
    return DEFAULT_MATRIX


def _run(args: argparse.Namespace) -> int:
    path = _matrix_path(args)
    doc = documents.read(path, "compatibility")
    try:
        releases = validate(doc)
    except BadInput as e:
        raise BadInput(e.what, f"{path} at {e.where}") from None
    where = str(path)
    out = sys.stdout.write
    if args.command == "validate":
        cli.info(args, f"ok: {len(releases)} releases, newest {releases[-1]['version']} ({path})")
        return 0
    if args.command == "show":
        e = find(releases, args.release, where)
        if args.json:
            out(documents.dumps("compatibility", {k: v for k, v in doc.items() if k != "releases"} | {"releases": [e]}))
        else:
            out(render({"product": e["version"]}, [e], str(path.name)).split("\n", 2)[2].lstrip("\n"))
        return 0
    if args.command == "reads-preset":
        if args.format < 1:
            raise BadInput(f"not a preset format number: {args.format}", "reads-preset")
        ok, reason = reads(releases, find(releases, args.release, where), "preset_format", args.format)
        out(json.dumps({"release": args.release, "preset_format": args.format, "reads": ok, "reason": reason},
                       indent=2) + "\n" if args.json else f"{'yes' if ok else 'no'}: {reason}\n")
        return 0 if ok else 1
    if args.command == "upgrade":
        plan = upgrade(releases, find(releases, args.a, where), find(releases, args.b, where))
        if args.json:
            out(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
        else:
            out(f"{'migration needed' if plan['migration_needed'] else 'no migration needed'} "
                f"from {plan['from']} to {plan['to']}\n")
            for c in plan["changes"]:
                how = "converted on load" if c["converts_on_load"] else f"{plan['to']} cannot read {c['from']}"
                out(f"  {c['format']} format {c['from']} -> {c['to']} ({how})\n")
            out("".join(f"  {r}\n" for r in plan["requirements"]) + "".join(f"  - {n}\n" for n in plan["notes"]))
        return 1 if plan["migration_needed"] else 0
    if args.command == "supports-host":
        at_least = dotted(args.version, "--version") if args.version else None
        found = supports_host(releases, args.host, at_least)
        if args.json:
            out(json.dumps({"host": args.host, "min_version": args.version, "releases": found}, indent=2) + "\n")
        for r in [] if args.json else found:
            out(f"{r['version']}\t" + "; ".join(f"{args.host} {t['version']} ({', '.join(t['platforms'])}: "
                                             f"{', '.join(t['formats'])})" for t in r["tested"]) + "\n")
        if not found:
            known = sorted({h["name"] for e in releases for h in e["hosts"]}, key=str.casefold)
            cli.info(args, f"no release was tested in {args.host}{' ' + args.version if args.version else ''} "
                     f"or newer (hosts: {', '.join(known)})")
        return 0 if found else 1
    # render
    text = render(doc, releases, path.name)
    target = Path(args.output) if args.output else path.with_suffix(".md")
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current != text:
            cli.info(args, f"{target} is {'missing' if current is None else 'out of date'}: run check-compat render")
            return 1
        return 0
    if args.output == "-":
        out(text)
    else:
        documents.write_text_atomic(target, text)
        cli.info(args, f"wrote {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="check-compat", common=False)
    base = argparse.ArgumentParser(add_help=False)
    base.add_argument("--matrix", metavar="FILE", help="the matrix (default: see above)")
    base.add_argument("--repo", metavar="PATH", help="repository whose config names the matrix")
    base.add_argument("--config", metavar="FILE", help="config file (default: releng.toml, pyproject)")
    js = argparse.ArgumentParser(add_help=False, parents=[base])
    js.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", parents=[base], help="check the matrix; exit 2 naming the first problem")
    p = sub.add_parser("reads-preset", parents=[js], help="can RELEASE read preset format N? (exit 0/1)")
    p.add_argument("release")
    p.add_argument("format", type=int, metavar="N")
    p = sub.add_parser("upgrade", parents=[js], help="is a migration needed from A to B? (exit 1 if so)")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p = sub.add_parser("supports-host", parents=[js], help="releases tested in HOST (exit 1 if none)")
    p.add_argument("host")
    p.add_argument("--version", metavar="V", help="only tests at host version V or newer")
    p = sub.add_parser("render", parents=[base], help="write the Markdown view of the matrix")
    p.add_argument("--output", metavar="FILE", help="where ('-' = stdout; default: the matrix's .md)")
    p.add_argument("--check", action="store_true", help="exit 1 if FILE differs from the rendering")
    p = sub.add_parser("show", parents=[js], help="one release's entry")
    p.add_argument("release")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
