"""Release KPIs against their targets, from release tags, the update server's records and the rollback log.

Time to release (< 4 weeks), hotfix time (< 4 h), rollback time (< 1 h), post-release bugs (fix commits within
--bug-window days after a release, < 3), rollback rate (< 5%) and 7-day adoption (> 50%, only with --adoption).
Releases are the final `v<SemVer>` tags (prereleases are not releases); --since-days N keeps those tagged in the
last N days. Channel history (channels/history.jsonl), releases/, quarantine/ and rollback_log.jsonl come from the
update server: --server-root DIR (a local folder) or --servers F (update_server_config.json, its first enabled
server). Without either, the KPIs that need the server say "no data". --adoption FILE is a snapshot of active
installs per version, watch-health's feed shape {"versions": {"1.2.0": {"sessions": N}}} (or "update_checks").

Prints a table; --json prints the releng/metrics document, --out FILE writes it, --html FILE writes a
self-contained dashboard page (inline SVG charts, no network). Exit 0 when at least one release was measured
(whatever the KPIs say: this is a report, not a gate), 1 when there is no release to measure, 2 when an input is
missing or corrupt (the message names it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from releng import cli, config, git
from releng.errors import BadInput
from releng.server.local import LocalTransport
from releng.server.transport import Transport
from releng.validation import metric_sources, metrics

DEFAULTS: dict[str, Any] = {"bug_window_days": 14, "bug_types": ["fix"], "since_days": None}


def _positive(value: object, what: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadInput(f"{what} must be a whole number of days >= 1, found {value!r}", where)
    return value


def _product(t: Transport | None, server: metric_sources.ServerRecords | None) -> str | None:
    """The product name of the newest release on the server (its artifacts.json `name`, what the manifests offer):
    the dashboard's title when the config names no project. None when there is none to read."""
    if t is None or server is None or not server.published:
        return None
    from releng import semver
    from releng.errors import RelengError
    from releng.server import layout

    newest = max(server.published, key=lambda v: semver.parse(v).precedence_key())
    try:
        name = layout.release_document(t, newest).get("name")
    except (RelengError, OSError, ValueError):
        return None
    return name if isinstance(name, str) and name.strip() else None


def open_records(args: argparse.Namespace) -> tuple[metric_sources.ServerRecords | None, Transport | None]:
    """The update server's records from --server-root or the first enabled server of --servers (None: neither)."""
    if args.server_root and args.servers:
        raise BadInput("--server-root and --servers name the server twice: give one")
    channels: tuple[str, ...] = ()
    if args.server_root:
        root = Path(args.server_root)
        if not root.is_dir():
            raise BadInput("no such update server root", args.server_root)
        t: Transport = LocalTransport(str(root), root)
    elif args.servers:
        from releng.server import connect, layout

        cfg = layout.load_config(args.servers)
        specs = [s for s in cfg["servers"] if s.get("enabled", True)]
        if not specs:
            raise BadInput("no enabled server", args.servers)
        spec, channels = specs[0], tuple(cfg["channels"])
        if spec["transport"] == "local":
            root = Path(spec["root"]).expanduser()
            if not root.is_dir():
                raise BadInput(f"the update server root {spec['root']} does not exist", args.servers)
            t = LocalTransport(f"{spec['name']} ({root})", root)
        else:
            t = connect.open_server(spec)
    else:
        return None, None
    return metric_sources.read_server(t, channels), t


def _run(args: argparse.Namespace) -> int:
    repo = git.toplevel(args.repo or ".")
    cfg = config.load(repo, args.config)
    settings = config.merged(DEFAULTS, config.section(cfg, "metrics"))
    prefix = config.section(cfg, "versioning").get("tag_prefix", "v")
    window = _positive(args.bug_window if args.bug_window is not None else settings["bug_window_days"],
                       "the bug window", "--bug-window")
    since = args.since_days if args.since_days is not None else settings["since_days"]
    if since is not None:
        since = _positive(since, "--since-days", "--since-days")
    types = settings["bug_types"]
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
        raise BadInput("[metrics] bug_types must be a list of commit types, like [\"fix\"]", "releng.toml")
    bug_types = tuple(t.lower() for t in types)
    now = metric_sources.parse_time(args.as_of, "--as-of") if args.as_of else int(time.time())
    adoption = metric_sources.read_adoption(args.adoption) if args.adoption else None
    server, t = open_records(args)
    project = config.section(cfg, "project").get("name")
    try:
        if not isinstance(project, str) or not project.strip():
            project = _product(t, server)
        releases, fixes, warnings = metric_sources.read_releases(repo, prefix, bug_types, window * metrics.DAY)
    finally:
        if t is not None:
            t.close()
    for warning in warnings:
        cli.warn(warning)
    body = metrics.measure(releases, fixes, server, adoption, now=now, since_days=since, bug_window_days=window,
                           repository=repo.name, tag_prefix=prefix, project=project)
    text = cli.emit(args, "metrics", body)
    if args.html:
        import json

        from releng import documents
        from releng.validation import dashboard

        doc = json.loads(text if text is not None else documents.dumps("metrics", body))
        documents.write_text_atomic(args.html, dashboard.render(doc))
        cli.info(args, f"dashboard written to {args.html}")
    if args.quiet <= 0:
        to_stdout = not args.json and args.out != "-"
        stream = sys.stdout if to_stdout else sys.stderr
        stream.write(table(body, color=cli.color(stream)))
    return cli.OK if body["releases"] else cli.NEGATIVE


def table(body: dict[str, Any], *, color: bool = False) -> str:
    """The terminal report: one line per release, then one per KPI against its target."""
    lines: list[str] = []
    rows = body["releases"]
    if body["summary"]["message"]:
        lines.append(body["summary"]["message"])
    if rows:
        lines.append(_cols(["release", "tagged", "kind", "to release", "bugs", "state", "adoption"]))
        for r in rows:
            kind = "hotfix" if r["hotfix"] else "release"
            ttr = metrics.value_text("s", r["hotfix_time_s"] if r["hotfix"] else r["time_to_release_s"])
            bugs = f"{r['post_release_bugs']}{'+' if r['bug_window_open'] else ''}"
            lines.append(_cols([r["version"], (r["tagged_at"] or "")[:10], kind, ttr, bugs, r["state"] or "–",
                                metrics.value_text("percent", r["adoption_percent"])]))
        lines.append("")
    paint = {"pass": "\x1b[32m", "fail": "\x1b[31m", "no-data": "\x1b[2m"}
    lines.append(_cols(["KPI", "target", "value", "", "status", "met"], widths=(18, 16, 10, 7, 8, 6)))
    for k in body["kpis"]:
        status = k["status"].upper()
        if color:
            status = f"{paint[k['status']]}{status}\x1b[0m" + " " * (8 - len(status))
        met = f"{k['met']}/{k['measured']}" if k["met"] is not None else ""
        lines.append(_cols([k["title"], k["target"]["text"], metrics.value_text(k["unit"], k["value"]),
                            k["aggregate"] if k["value"] is not None else "", status, met],
                           widths=(18, 16, 10, 7, 8, 6)))
    return "\n".join(lines) + "\n"


def _cols(cells: Sequence[str], widths: Sequence[int] = (12, 11, 8, 11, 5, 12, 8)) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__, prog="release-metrics")
    out = cli.add_output(parser, "the releng/metrics document")
    out.add_argument("--html", metavar="FILE", help="write the self-contained HTML dashboard to FILE")
    cli.add_repository(parser)
    server = cli.add_servers(parser, required=False)  # its first enabled server; or --server-root, or neither
    server.add_argument("--server-root", metavar="DIR", help="a local update server root folder (instead of --servers)")
    parser.add_argument("--since-days", type=int, metavar="N", help="only releases tagged in the last N days")
    parser.add_argument("--bug-window", type=int, metavar="DAYS", help="post-release bug window (default 14)")
    parser.add_argument("--adoption", metavar="FILE", help="active installs per version (JSON snapshot)")
    parser.add_argument("--as-of", metavar="TIME",
                        help="the moment bug windows and --since-days count from (RFC 3339; default: now)")
    return cli.run(_run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
