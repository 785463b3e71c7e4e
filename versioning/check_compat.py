"""Answer questions from the compatibility matrix: plugin formats and minimum systems per
platform, tested hosts, and the preset and project-state formats each release reads and writes.

  check-compat validate                 exit 0, or 2 naming the problem and its JSON path
  check-compat reads-preset 1.0.0 1     can 1.0.0 read preset format 1? exit 0 yes, 1 no
  check-compat upgrade 0.2.0 1.0.0      exit 0 if no migration is needed, 1 if one is
  check-compat supports-host Reaper --version 7.18
                                        releases tested in the host (at V or newer); 1 if none
  check-compat render [--check]         write the matrix's .md (--check: exit 1 if stale)
  check-compat show 1.0.0 [--json]      one release's entry
  check-compat add 1.1.0                a new entry for 1.1.0 (today), platforms and formats of the newest
                                        one, no tested host yet: fill them in before the release

--matrix FILE defaults to the project's own: [validation] compatibility_matrix in the releng config of the
repository around the working directory, else its versioning/compatibility_matrix.json; no other project's matrix
is ever a default (issue 13). Its shape is documented in shared/releng/schemas/compatibility.schema.json; the
sample plugin's is examples/plugin/versioning/compatibility_matrix.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from releng import cli, documents
from releng.errors import BadInput
from releng.versioning import compatibility
from releng.versioning.compatibility import FILE_FORMATS, OS_NAMES, Entry, dotted, find, listing, version

TITLES = {"windows": "Windows", "macos": "macOS", "linux": "Linux"}


def reads(releases: Sequence[Entry], entry: Entry, kind: str, n: int) -> tuple[bool, str]:
    """Whether `entry` reads format `n` of `kind` (preset_format, state_format), and why."""
    fmt, label = entry[kind], kind.removesuffix("_format")
    known = f"{label} format{'s' if len(fmt['reads']) > 1 else ''} {listing(fmt['reads'])}"
    if n in fmt["reads"]:
        return True, f"{entry['version']} reads {known} and writes {fmt['writes']}"
    writers = [e["version"] for e in releases if e[kind]["writes"] == n]
    why = f"format {n} is written by {listing(writers)}" if writers else "no release writes it"
    return False, f"{entry['version']} reads {known} only; {why}"


def upgrade(releases: Sequence[Entry], a: Entry, b: Entry) -> Entry:
    """What changes going from `a` to `b`: formats written, raised requirements, notes."""
    va, vb = version(a), version(b)
    if vb < va:
        raise BadInput(f"{a['version']} is newer than {b['version']}: give the older first",
                       "command line")
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
            requirements.append(f"{name}: needs {OS_NAMES[name]} {pb['min_os']} "
                                f"(was {pa['min_os']})")
        gone = [x for k in ("formats", "arch") for x in pa[k] if x not in pb[k]]
        requirements += [f"{name}: {listing(gone)} dropped"] if gone else []
    notes: list[str] = []
    for e in releases:
        notes += [n for n in e["migration_notes"] if va < version(e) <= vb and n not in notes]
    return {"from": a["version"], "to": b["version"], "migration_needed": bool(changes),
            "changes": changes, "requirements": requirements, "notes": notes}


def supports_host(releases: Sequence[Entry], host: str, at_least: tuple[int, ...] | None
                  ) -> list[Entry]:
    """Releases tested in `host` (any case) at version `at_least` or newer, newest first."""
    found = []
    for e in reversed(releases):
        tested = [{k: h[k] for k in ("name", "version", "platforms", "formats")} for h in e["hosts"]
                  if h["name"].casefold() == host.casefold()
                  and (at_least is None or dotted(h["version"]) >= at_least)]
        if tested:
            found.append({"version": e["version"], "date": e["date"], "tested": tested})
    return found


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    def row(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows), ""]


def _cell(e: Entry, platform: str, system: bool = False) -> str:
    p = e["platforms"].get(platform)
    if p is None:
        return "—"
    return f"{OS_NAMES[platform]} {p['min_os']}+ ({listing(p['arch'])})" if system else listing(
        p["formats"])


def render(doc: Entry, releases: Sequence[Entry], source: str) -> str:
    """The Markdown view of the matrix, newest release first."""
    new = list(reversed(releases))
    hosts: dict[str, Entry] = {}
    for h in (h for e in new for h in e["hosts"]):
        hosts.setdefault(h["name"], h)
    order = sorted(hosts, key=str.casefold)
    lines = [f"<!-- Generated by `check-compat render` from {source}. Do not edit by hand: "
             "edit the JSON, then run `check-compat render`. -->",
             f"# {doc.get('display_name') or doc['product']}: compatibility matrix", "",
             "Newest release first. Ask questions of it with `check-compat reads-preset`, "
             "`upgrade`, `supports-host` and `show`.", "", "## Plugin formats", ""]
    lines += _table(["Release", "Date", *TITLES.values()],
                    [[e["version"], e["date"], *(_cell(e, p) for p in TITLES)] for e in new])
    lines += ["## Minimum systems", "", "Linux builds need the glibc shown or newer.", ""]
    lines += _table(["Release", *TITLES.values()],
                    [[e["version"], *(_cell(e, p, system=True) for p in TITLES)] for e in new])
    lines += ["## Preset and project state formats", "", "A release reads every format in its "
              "*reads* columns and saves in its *writes* one.", ""]
    lines += _table(["Release", "Preset reads", "Preset writes", "State reads", "State writes"],
                    [[e["version"], *(x for k in FILE_FORMATS
                                      for x in (listing(e[k]["reads"]), e[k]["writes"]))]
                     for e in new])
    lines += ["## Tested hosts", "", "The host versions each release was tested in.", ""]
    lines += _table(["Release", *order], [
        [e["version"], *(listing([h["version"] for h in e["hosts"] if h["name"] == n]) or "—"
                         for n in order)] for e in new])
    lines += _table(["Host", "Platforms (latest test)", "Plugin formats (latest test)"],
                    [[n, listing([TITLES[p] for p in hosts[n]["platforms"]]),
                      listing(hosts[n]["formats"])] for n in order])
    lines += ["## Migration notes", ""]
    for e in (e for e in new if e["migration_notes"]):
        lines += [f"### {e['version']}", "", *(f"- {n}" for n in e["migration_notes"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def describe(e: Entry) -> str:
    """One release for people: `check-compat show`."""
    lines = [f"{e['version']} ({e['date']})"]
    lines += [f"  {p}: {_cell(e, p)}; {_cell(e, p, system=True)}" for p in e["platforms"]]
    lines += [f"  {k.replace('_', ' ')}: reads {listing(e[k]['reads'])}, writes {e[k]['writes']}"
              for k in FILE_FORMATS]
    lines += ["  tested in:", *(f"    {h['name']} {h['version']} ({listing(h['platforms'])}: "
                                f"{listing(h['formats'])})" for h in e["hosts"])]
    lines += ["  migration notes:", *(f"    - {n}" for n in e["migration_notes"])]
    return "\n".join(lines if e["migration_notes"] else lines[:-1]) + "\n"


def _dump(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _answer(args: argparse.Namespace, doc: Entry, releases: list[Entry]) -> tuple[int, str]:
    """Exit code and stdout text of the query commands."""
    cmd, where = args.command, args.matrix
    if cmd == "show":
        e = find(releases, args.release, where)
        body = {k: v for k, v in doc.items() if k != "releases"} | {"releases": [e]}
        return 0, documents.dumps("compatibility", body) if args.json else describe(e)
    if cmd == "reads-preset":
        if args.n < 1:
            raise BadInput(f"not a preset format number: {args.n}", "command line")
        e = find(releases, args.release, where)
        ok, why = reads(releases, e, "preset_format", args.n)
        answer = {"release": e["version"], "preset_format": args.n, "reads": ok, "reason": why}
        return int(not ok), _dump(answer) if args.json else f"{'yes' if ok else 'no'}: {why}\n"
    if cmd == "upgrade":
        plan = upgrade(releases, find(releases, args.a, where), find(releases, args.b, where))
        text = (f"{'' if plan['migration_needed'] else 'no '}migration needed from "
                f"{plan['from']} to {plan['to']}\n")
        for c in plan["changes"]:
            how = "converted on load" if c["converts_on_load"] else "not readable: convert first"
            text += f"  {c['format']} format {c['from']} -> {c['to']} ({how})\n"
        text += "".join(f"  {r}\n" for r in plan["requirements"])
        text += "".join(f"  - {n}\n" for n in plan["notes"])
        return int(plan["migration_needed"]), _dump(plan) if args.json else text
    at_least = dotted(args.version, "--version") if args.version else None
    found = supports_host(releases, args.host, at_least)
    if not found:
        known = sorted({h["name"] for e in releases for h in e["hosts"]}, key=str.casefold)
        cli.info(args, f"no release was tested in {args.host} {args.version or ''}".rstrip()
                 + f" (hosts in the matrix: {listing(known)})")
    text = "".join(f"{r['version']}\t" + "; ".join(
        f"{t['name']} {t['version']} ({listing(t['platforms'])}: {listing(t['formats'])})"
        for t in r["tested"]) + "\n" for r in found)
    body = {"host": args.host, "min_version": args.version, "releases": found}
    return int(not found), _dump(body) if args.json else text


def add(doc: Entry, releases: Sequence[Entry], new: str, date: str) -> Entry:
    """The matrix with an entry for `new` after the newest one, copied from it but claiming no tested host."""
    import copy

    from releng import semver

    target = semver.parse(new, "command line")
    if any(version(e) == target for e in releases):
        raise BadInput(f"the matrix already lists {new}", "command line")
    if target <= version(releases[-1]):
        raise BadInput(f"{new} is not newer than the newest entry, {releases[-1]['version']}", "command line")
    entry = copy.deepcopy(releases[-1])
    entry.update(version=str(target), date=date, hosts=[], migration_notes=[])
    return {**doc, "releases": [*doc["releases"], entry]}


def _run(args: argparse.Namespace) -> int:
    if args.matrix is None:
        args.matrix = str(compatibility.project_matrix(Path.cwd()))
    path = Path(args.matrix)
    doc, releases = compatibility.load(path)
    if args.command == "add":
        from releng import times

        updated = add(doc, releases, args.release, args.date or times.now_text()[:10])
        compatibility.validate(updated)
        documents.write_text_atomic(path, json.dumps(updated, indent=2, ensure_ascii=False) + "\n")
        cli.info(args, f"added {args.release} to {path}: fill in its hosts and formats")
        return 0
    if args.command == "validate":
        cli.info(args, f"ok: {len(releases)} releases, newest {releases[-1]['version']} ({path})")
        return 0
    if args.command != "render":
        code, text = _answer(args, doc, releases)
        sys.stdout.write(text)
        return code
    text = render(doc, releases, path.name)
    if not args.output and args.matrix == "-":
        raise BadInput("give --output when the matrix comes from stdin", "render")
    target = Path(args.output) if args.output else path.with_suffix(".md")
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current != text:
            state = "missing" if current is None else "out of date"
            cli.info(args, f"{target} is {state}: run check-compat render", level=-1)
        return int(current != text)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        documents.write_text_atomic(target, text)
        cli.info(args, f"wrote {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="check-compat")
    base = argparse.ArgumentParser(add_help=False)
    base.add_argument("--matrix", metavar="FILE",
                      help="the matrix (default: [validation] compatibility_matrix of this repository's config)")
    js = argparse.ArgumentParser(add_help=False, parents=[base])
    cli.add_output(js, "the result as JSON", out=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", parents=[base], help="check the matrix (exit 2 on a problem)",
                   description="Exit 0, or 2 with the first problem and its JSON path.")
    p = sub.add_parser("reads-preset", parents=[js], help="can RELEASE read preset format N?",
                       description="Print yes or no with the reason; exit 0 yes, 1 no.")
    p.add_argument("release")
    p.add_argument("n", type=int, metavar="N")
    p = sub.add_parser("upgrade", parents=[js], help="is a migration needed from A to B?",
                       description="Exit 0 if going from A to B (A not newer) changes no preset "
                       "or state format written, else 1; print the changes, raised requirements "
                       "and the migration notes of the releases after A up to B.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p = sub.add_parser("supports-host", parents=[js], help="the releases tested in HOST",
                       description="List the releases tested in HOST (any case), newest first; "
                       "exit 1 if none.")
    p.add_argument("host")
    p.add_argument("--version", metavar="V", help="only tests at host version V or newer")
    p = sub.add_parser("render", parents=[base], help="write the Markdown view of the matrix",
                       description="Write the Markdown view atomically; --check only compares.")
    p.add_argument("--output", metavar="FILE", help="'-' = stdout (default: the matrix's .md)")
    p.add_argument("--check", action="store_true", help="exit 1 if FILE differs from the rendering")
    p = sub.add_parser("show", parents=[js], help="one release's entry")
    p.add_argument("release")
    p = sub.add_parser("add", parents=[base], help="a new release's entry, copied from the newest",
                       description="Append RELEASE (newer than every entry) with the newest entry's platforms "
                       "and formats, no tested host and no migration note; written atomically.")
    p.add_argument("release")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="its date (default: today, UTC)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
