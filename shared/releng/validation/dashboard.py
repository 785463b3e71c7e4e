"""The release dashboard: one self-contained HTML page rendered from a `releng/metrics` document.

No script, no font, no image or stylesheet to fetch: a Content-Security-Policy of `default-src 'none'` makes sure
of it, so the page opens the same from CI artifacts, a mail attachment or a laptop on a train. Every text that
comes from git or a log (tag messages, commit subjects, rollback reasons, who) is HTML-escaped: they are untrusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from releng.validation import metrics
from releng.validation.dashboard_charts import (
    STATE_STYLE,
    Cell,
    Series,
    bar_chart,
    empty_chart,
    gauge,
    matrix,
    sparkline,
    state_strip,
)

TREND = 24
SPARK = 12
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_ICON = {"pass": "✓", "fail": "✗", "no-data": "–"}
_WORD = {"pass": "on target", "fail": "off target", "no-data": "no data"}


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def render(doc: Mapping[str, Any]) -> str:
    """The whole page as text."""
    s = doc["summary"]
    name = title(doc)
    window = f"since {doc['since'][:10]}" if doc.get("since") else "all time"
    verdict = (f"{s['passed']} of {len(doc['kpis'])} KPIs on target, {s['failed']} off target, "
               f"{len(doc['kpis']) - s['passed'] - s['failed']} without data")
    body = [
        f'<header><div><p class="eyebrow">{_t(doc.get("project") or "release engineering")}</p>'
        f"<h1>{_t(name)}</h1>"
        f'<p class="sub">{s["releases"]} releases ({_t(window)}), {s["hotfixes"]} hotfixes, {s["rollbacks"]} '
        f"rollbacks · bug window {doc['bug_window_days']} days · generated {_t(doc['generated_at'])}</p></div>"
        f'<p class="verdict">{_t(verdict)}</p></header>',
    ]
    spark = _card_values(doc)
    if s.get("message"):
        body.append(f'<p class="notice" role="status">{_t(s["message"])}</p>')
    body.append('<section aria-labelledby="h-kpi"><h2 id="h-kpi">KPIs against their targets</h2>'
                f'<div class="cards">{"".join(_card(k, spark.get(k["id"])) for k in doc["kpis"])}</div></section>')
    body.append('<section aria-labelledby="h-trend"><h2 id="h-trend">KPI trends per release</h2>'
                f'<div class="charts">{"".join(_figure(svg, t, d) for t, d, svg in _trends(doc))}</div></section>')
    body.append(_channels_section(doc))
    body.append(_release_table(doc))
    body.append(_rollback_table(doc))
    body.append('<footer>How each number is computed: README.md, section <code>release-metrics</code>. Median '
                "for times, mean for bugs; a <b>+</b> after a bug count means its window is still open.</footer>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(name)}</title><style>{_CSS}</style></head>"
            f'<body><main>{"".join(body)}</main></body></html>\n')


def title(doc: Mapping[str, Any]) -> str:
    """`Release metrics · <project>`: the project's own name (config `project.name`, else the product name of its
    releases on the server), never a borrowed one nor the folder's (issue 13); without either, no name at all."""
    return f"Release metrics · {doc['project']}" if doc.get("project") else "Release metrics"


def _figure(svg: str, caption: str = "", note: str = "") -> str:
    cap = f'<figcaption><b>{_t(caption)}</b>{f" <span>{_t(note)}</span>" if note else ""}</figcaption>'
    return f'<figure class="panel">{cap if caption else ""}{svg}</figure>'


def _card_values(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The values behind each per-release KPI, oldest first: what the card's sparkline shows."""
    rows = doc["releases"]
    return {
        "time_to_release": [r["time_to_release_s"] for r in rows if not r["hotfix"] and r["time_to_release_s"]
                            is not None],
        "hotfix_time": [r["hotfix_time_s"] for r in rows if r["hotfix_time_s"] is not None],
        "rollback_time": [e["rollback_time_s"] for e in doc["rollbacks"] if e["rollback_time_s"] is not None],
        "post_release_bugs": [r["post_release_bugs"] for r in rows],
    }


def _card(k: Mapping[str, Any], values: list[Any] | None) -> str:
    value = metrics.value_text(k["unit"], k["value"])
    ok = _ok(k, 1)
    if values is None:
        mini = gauge(k["value"], k["status"] == "pass", k["target"]["value"])
    else:
        mini = sparkline(values[-SPARK:], ok, k["target"]["value"])
    how = ""
    if k["value"] is not None and k["aggregate"] in ("median", "mean"):
        how = f'{k["aggregate"]} of {k["measured"]}, {k["met"]} on target'
    elif k["value"] is not None:
        how = "all releases" if k["aggregate"] == "rate" else "newest release"
    return (f'<article class="card {k["status"]}" aria-label="{_t(k["title"])}: {_t(_WORD[k["status"]])}">'
            f'<div class="card-top"><h3>{_t(k["title"])}</h3><span class="pill {k["status"]}">'
            f'{_ICON[k["status"]]} {_t(_WORD[k["status"]])}</span></div>'
            f'<div class="big-row"><p class="big">{_t(value)}</p>{mini}</div>'
            f'<p class="target">target {_t(k["target"]["text"])}'
            f'{" · " + _t(how) if how else ""}</p><p class="detail">{_t(k["detail"])}</p></article>')


def _ok(kpi: Mapping[str, Any], scale: float) -> Any:
    target = kpi["target"]["value"] / scale
    return (lambda v: v < target) if kpi["target"]["op"] == "<" else (lambda v: v > target)


def _trends(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    kpi = {k["id"]: k for k in doc["kpis"]}
    # the last TREND bars of each chart: a chart of 200 bars is a texture, not a trend (the table has them all)
    rows, events = doc["releases"][-TREND:], doc["rollbacks"][-TREND:]
    out = []
    regular = [r for r in doc["releases"] if not r["hotfix"]][-TREND:]
    out.append(_series(kpi["time_to_release"], "Time to release per release (days)",
                       "Days from the first commit after the previous release to the release tag.",
                       [r["version"] for r in regular], [r["time_to_release_s"] for r in regular], metrics.DAY,
                       "days", "no regular release after the first one yet"))
    out.append(_series(kpi["post_release_bugs"], "Post-release bugs per release",
                       f"Fix commits within {doc['bug_window_days']} days after each release.",
                       [r["version"] for r in rows], [r["post_release_bugs"] for r in rows], 1, "bugs",
                       "no release yet", ["window still open" if r["bug_window_open"] else "" for r in rows]))
    hot = [r for r in doc["releases"] if r["hotfix"]][-TREND:]
    out.append(_series(kpi["hotfix_time"], "Hotfix time per hotfix (hours)",
                       "Hours from the rollback (else the first fix commit after the bad release) to the hotfix "
                       "on stable (else its tag).",
                       [r["version"] for r in hot], [r["hotfix_time_s"] for r in hot], metrics.HOUR, "hours",
                       "no hotfix release", [f"from the {r['hotfix_from']}" for r in hot]))
    out.append(_series(kpi["rollback_time"], "Rollback time per rollback (minutes)",
                       "Minutes each bad release was out: from its first manifest on the furthest channel rolled "
                       "back to the rollback there.",
                       [f"{e['from']}" for e in events], [e["rollback_time_s"] for e in events], 60, "min",
                       "no rollback", [f"on {e['measured_on']}" if e.get("measured_on") else "" for e in events]))
    return out


def _series(kpi: Mapping[str, Any], title: str, desc: str, labels: list[str], values: list[Any], scale: float,
            unit: str, empty: str, hint: list[str] | None = None) -> tuple[str, str, str]:
    if not labels:
        return title, desc, empty_chart(title, empty.capitalize(), height=150)
    scaled = [None if v is None else v / scale for v in values]
    target = kpi["target"]["value"] / scale
    return title, desc, bar_chart(Series(title, desc, labels, scaled, target, unit, _ok(kpi, scale), hint or []))


def _cell(channel: str, entry: Mapping[str, Any] | None, stable: bool) -> Cell:
    if entry is None:
        return Cell("—", "", f"{channel}: never offered")
    first = f", first offered {entry['first_at']}"
    since = f" · {str(entry['first_at'])[:10]}"  # printed in the cell: a screenshot or a PDF has no hover
    if entry["state"] == "current":
        pct = f"{entry['percent']:g}%" if entry["percent"] is not None else "offered"
        if entry["halted"]:
            return Cell(f"halted at {pct}{since}", "halted", f"{channel}: rollout halted at {pct}{first}")
        full = entry["percent"] is None or entry["percent"] >= 100
        state = ("live" if full else "rolling-out") if stable else ("testing" if full else "rolling-out")
        return Cell(f"{pct}{since}", state, f"{channel}: offered to {pct} of clients{first}")
    word = STATE_STYLE[entry["state"]][2]
    return Cell(f"{word}{since}", entry["state"], f"{channel}: {word}{first}")


def _channels_section(doc: Mapping[str, Any]) -> str:
    rows, channels = doc["releases"], doc["channels"]
    title = "Releases by channel and rollout state"
    if not rows or not channels:
        why = "no releases yet" if not rows else "no update server records (--server-root or --servers)"
        chart = _figure(empty_chart(title, why.capitalize(), height=120))
    else:
        shown = list(reversed(rows))[:40]
        lines = []
        for r in shown:
            badge = " · ".join(b for b, on in (("latest", r["latest"]), ("hotfix", r["hotfix"])) if on)
            cells = [_cell(c, r["channels"].get(c), i == len(channels) - 1) for i, c in enumerate(channels)]
            lines.append((r["version"], badge, cells, r["state"] or ""))
        counts = [(st, sum(1 for r in rows if r["state"] == st)) for st in STATE_STYLE]
        desc = (f"Each release (newest first) on each channel: {', '.join(channels)}; each cell's date is when "
                "that channel first offered it.")
        chart = (_figure(matrix(title, desc, lines, channels), "Channels", desc)
                 + _figure(state_strip("Releases by rollout state", counts), "Releases by rollout state",
                           "where each release stands now"))
    return f'<section aria-labelledby="h-ch"><h2 id="h-ch">{title}</h2><div class="stack">{chart}</div></section>'


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def _release_table(doc: Mapping[str, Any]) -> str:
    rows = doc["releases"]
    if not rows:
        return ""
    head = ("<tr><th>Release</th><th>Tagged</th><th>Tag message</th><th>Kind</th><th>Time taken</th>"
            "<th>Bugs</th><th>State</th><th>Adoption</th></tr>")
    lines = []
    for r in reversed(rows):
        kind = "hotfix" if r["hotfix"] else "release"
        took = r["hotfix_time_s"] if r["hotfix"] else r["time_to_release_s"]
        why = "; ".join(r["hotfix_signals"])
        bugs = "".join(f"<li><code>{_t(f['sha'][:10])}</code> {_t(f['subject'])}</li>" for f in r["fixes"])
        lines.append(
            f'<tr><td><b>{_t(r["version"])}</b></td><td class="num">{_t(_when(r["tagged_at"]))}</td>'
            f'<td class="msg">{_t(r["title"])}</td><td title="{_t(why)}">{kind}</td>'
            f'<td class="num">{_t(metrics.value_text("s", took))}</td>'
            f'<td class="num">{r["post_release_bugs"]}{"+" if r["bug_window_open"] else ""}'
            f'{f"<ul>{bugs}</ul>" if bugs else ""}</td><td>{_t(STATE_STYLE.get(r["state"] or "", ("", "", "–"))[2])}'
            f'</td><td class="num">{_t(metrics.value_text("percent", r["adoption_percent"]))}</td></tr>')
    return (f'<section aria-labelledby="h-rel"><h2 id="h-rel">Releases</h2><div class="scroll"><table>'
            f'<thead>{head}</thead><tbody>{"".join(lines)}</tbody></table></div></section>')


def _rollback_table(doc: Mapping[str, Any]) -> str:
    events = doc["rollbacks"]
    if not events:
        return ""
    lines = []
    for e in reversed(events):
        exposure = metrics.value_text("s", e["exposure_s"]) if e["exposure_s"] is not None else "–"
        lines.append(f'<tr><td class="num">{_t(_when(e["at"]))}</td><td><b>{_t(e["from"])}</b> → '
                     f'{_t(e["to"] or "–")}</td><td class="msg">{_t(e["reason"])}</td><td>{_t(e["who"])}</td>'
                     f'<td class="num">{_t(metrics.value_text("s", e["rollback_time_s"]))}</td>'
                     f'<td class="num">{_t(exposure)}</td></tr>')
    return ('<section aria-labelledby="h-rb"><h2 id="h-rb">Rollbacks</h2><div class="scroll"><table><thead><tr>'
            "<th>When</th><th>From → to</th><th>Reason</th><th>Who</th><th>Rollback time</th>"
            f'<th>Out for</th></tr></thead><tbody>{"".join(lines)}</tbody></table></div></section>')


_CSS = """
:root{--ink:#1f2328;--muted:#57606a;--line:#d8dee4;--bg:#f6f8fa;--pass:#1a7f37;--fail:#cf222e}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 24px 40px}
header{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;flex-wrap:wrap;
 border-bottom:1px solid var(--line);padding-bottom:16px;margin-bottom:8px}
.eyebrow{margin:0;color:var(--muted);font-size:12px;letter-spacing:.08em;text-transform:uppercase;font-weight:600}
h1{margin:2px 0 4px;font-size:26px}
.sub{margin:0;color:var(--muted)}
.verdict{margin:0;font-weight:600;background:#fff;border:1px solid var(--line);border-radius:999px;padding:6px 14px}
h2{font-size:18px;margin:28px 0 12px}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:10px 14px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:14px}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid #8c959f;border-radius:10px;padding:14px 16px}
.card.pass{border-left-color:var(--pass)}.card.fail{border-left-color:var(--fail)}
.card-top{display:flex;justify-content:space-between;align-items:center;gap:8px}
.card h3{margin:0;font-size:14px;color:var(--muted);font-weight:600}
.pill{font-size:12px;font-weight:700;border-radius:999px;padding:2px 9px;white-space:nowrap}
.pill.pass{background:#dafbe1;color:#116329}.pill.fail{background:#ffebe9;color:#a40e26}
.pill.no-data{background:#eaeef2;color:#424a53}
.big-row{display:flex;justify-content:space-between;align-items:flex-end;gap:10px;margin:6px 0 2px}
.big{font-size:34px;font-weight:700;margin:0;line-height:1.1;font-variant-numeric:tabular-nums}
svg.spark{flex:none}
.card.no-data .big{color:#8c959f}
.target{margin:0;font-size:13px;color:var(--muted)}
.detail{margin:6px 0 0;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
.stack{display:grid;gap:14px}
figure.panel{margin:0;background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px;overflow-x:auto}
figure.panel svg{display:block;width:100%;height:auto;max-width:100%}
figure.panel svg.matrix{min-width:640px}
figcaption{margin:0 0 6px;font-size:14px}figcaption span{color:var(--muted);font-size:13px}
svg text{font-family:inherit;fill:var(--ink);font-size:12px}
svg .tick,svg .label{fill:#57606a;font-size:11px}svg .axis{fill:#57606a;font-size:11px}
svg .val{font-size:11px;font-weight:600}svg .na{fill:#57606a;font-size:13px}
svg .target{stroke:#1f2328;stroke-width:1.5;stroke-dasharray:6 4}
svg .target-label{font-size:11px;font-weight:600}
svg .colhead{font-weight:700;font-size:12px;text-transform:uppercase;letter-spacing:.05em;fill:#57606a}
svg .rowhead{font-weight:700;font-size:13px}svg .badge{font-size:11px;fill:#8250df;font-weight:600}
svg text.cell,svg text.pill{font-size:12px;font-weight:600}svg .legend{font-size:12px;fill:#57606a}
.scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:8px 12px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f6f8fa;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.msg{max-width:360px;overflow-wrap:anywhere}
td ul{margin:4px 0 0;padding-left:16px;font-size:12px;color:var(--muted);white-space:normal}
footer{margin-top:28px;color:var(--muted);font-size:13px}
"""
