"""Inline SVG charts for the release dashboard: bars against a target, the channel/rollout matrix, a state strip.

Hand-written SVG, no library: the page must open offline and from a mail attachment. Every chart is an `<svg
role="img">` with a `<title>` and `<desc>` (screen readers read them; browsers show them as tooltips), every bar
and cell has its own `<title>`, and every text is escaped: versions, tags and reasons come from git and logs.
Colour is never the only signal: bars over target also get a hatch and cells carry a word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import count

PASS, FAIL, MUTED, INK, GRID = "#1a7f37", "#cf222e", "#6e7781", "#1f2328", "#d8dee4"
# state -> (fill, text colour, label); every pair has a contrast ratio of at least 4.5:1
STATE_STYLE = {
    "live": ("#1a7f37", "#ffffff", "live"),
    "rolling-out": ("#0969da", "#ffffff", "rolling out"),
    "halted": ("#9a6700", "#ffffff", "halted"),
    "rolled-back": ("#cf222e", "#ffffff", "rolled back"),
    "superseded": ("#f6f8fa", "#57606a", "superseded"),
    "testing": ("#8250df", "#ffffff", "in testing"),
    "published": ("#ddf4ff", "#0a3069", "published"),
    "unpublished": ("#f6f8fa", "#57606a", "unpublished"),
}
_ids = count(1)


def _uid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def _open(width: int, height: int, title: str, desc: str, cls: str) -> tuple[str, str]:
    tid, did = _uid("t"), _uid("d")
    head = (f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-labelledby="{tid} {did}" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{tid}">{_t(title)}</title><desc id="{did}">{_t(desc)}</desc>')
    return head, "</svg>"


def ticks(top: float) -> int:
    """4 or 5 intervals, whichever gives the shorter tick labels (5 for 0..5 bugs, 4 for 0..100%)."""
    return 5 if len(f"{top / 5:g}") < len(f"{top / 4:g}") else 4


def short(value: float) -> str:
    """A bar's label: whole numbers from 10 up, one decimal below."""
    return f"{value:.0f}" if value >= 10 else f"{round(value, 1):g}"


def nice_max(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


@dataclass(frozen=True)
class Series:
    title: str
    desc: str
    labels: Sequence[str]
    values: Sequence[float | None]  # in the chart's unit; None: not measured
    target: float
    unit: str  # shown on the axis and in tooltips: "days", "hours", "min", "bugs"
    ok: Callable[[float], bool]
    hint: Sequence[str] = ()  # per bar, appended to its tooltip


def bar_chart(s: Series, width: int = 560, height: int = 250) -> str:
    """Vertical bars per release with a dashed target line; bars over target are red and hatched."""
    head, tail = _open(width, height, s.title, s.desc, "chart")
    left, right, top, bottom = 46, 12, 18, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for v in s.values if v is not None]
    top_value = nice_max(max([*known, s.target]) * 1.1)

    def y(v: float) -> float:
        return top + plot_h - plot_h * min(v, top_value) / top_value
    hatch = _uid("h")
    parts = [head, f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
                   f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{FAIL}"/>'
                   f'<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2" opacity="0.45"/>'
                   f'</pattern></defs>']
    steps = ticks(top_value)
    for i in range(steps + 1):
        v = top_value * i / steps
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:g}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" class="axis" transform="rotate(-90 12 '
                 f'{top + plot_h / 2:.0f})" text-anchor="middle">{_t(s.unit)}</text>')
    n = max(len(s.labels), 1)
    slot = plot_w / n
    bar_w = min(44.0, slot * 0.62)
    rotate = n > 8
    for i, (label, value) in enumerate(zip(s.labels, s.values, strict=True)):
        cx = left + slot * (i + 0.5)
        hint = f" ({s.hint[i]})" if i < len(s.hint) and s.hint[i] else ""
        if value is None:
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h - 6}" text-anchor="middle" class="na">'
                         f'<title>{_t(label)}: not measured{_t(hint)}</title>n/a</text>')
        else:
            ok = s.ok(value)
            fill = PASS if ok else f"url(#{hatch})"
            h = max(top + plot_h - y(value), 1.5)
            verdict = "within target" if ok else "over target"
            parts.append(f'<rect x="{cx - bar_w / 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}" rx="3" fill="{fill}" class="{"ok" if ok else "bad"}">'
                         f'<title>{_t(label)}: {short(value)} {_t(s.unit)}, {verdict}{_t(hint)}</title></rect>')
            small = ' style="font-size:9px"' if rotate else ""  # printed always: a screenshot has no hover
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle" '
                         f'class="val"{small}>{short(value)}</text>')
        lx, ly = cx, top + plot_h + 16
        anchor = "end" if rotate else "middle"
        turn = f' transform="rotate(-40 {lx:.1f} {ly})"' if rotate else ""
        parts.append(f'<text x="{lx:.1f}" y="{ly}" text-anchor="{anchor}" class="label"{turn}>{_t(label)}</text>')
    ty = y(s.target)
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" class="target"/>'
                 f'<text x="{width - right - 4}" y="{ty - 5:.1f}" text-anchor="end" class="target-label">'
                 f'target {s.target:g} {_t(s.unit)}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{INK}"/>')
    return "".join(parts) + tail


def empty_chart(title: str, message: str, width: int = 560, height: int = 250) -> str:
    head, tail = _open(width, height, title, message, "chart empty")
    return (f'{head}<rect x="1" y="1" width="{width - 2}" height="{height - 2}" rx="8" fill="#f6f8fa" '
            f'stroke="{GRID}"/><text x="{width / 2}" y="{height / 2 + 5}" text-anchor="middle" class="na">'
            f'{_t(message)}</text>{tail}')


@dataclass(frozen=True)
class Cell:
    text: str
    state: str  # a STATE_STYLE key, or "" for an empty cell
    tip: str


def matrix(title: str, desc: str, rows: Sequence[tuple[str, str, Sequence[Cell], str]],
           columns: Sequence[str], width: int = 1120) -> str:
    """Rows of (label, badge, one cell per column, overall state): releases by channel and rollout state."""
    label_w, state_w, row_h, head_h = 190, 150, 30, 30
    cell_w = max(90, (width - label_w - state_w - 10) // max(len(columns), 1))
    width = label_w + cell_w * len(columns) + state_w + 10
    height = head_h + row_h * max(len(rows), 1) + 8
    head, tail = _open(width, height, title, desc, "matrix")
    parts = [head]
    for j, name in enumerate([*columns, "release state"]):
        x = label_w + cell_w * j + (cell_w if j < len(columns) else state_w) / 2
        parts.append(f'<text x="{x:.0f}" y="20" text-anchor="middle" class="colhead">{_t(name)}</text>')
    for i, (label, badge, cells, state) in enumerate(rows):
        y0 = head_h + row_h * i
        parts.append(f'<text x="8" y="{y0 + 19}" class="rowhead">{_t(label)}</text>')
        if badge:
            parts.append(f'<text x="{label_w - 8}" y="{y0 + 19}" text-anchor="end" class="badge">{_t(badge)}</text>')
        for j, c in enumerate(cells):
            x = label_w + cell_w * j
            fill, ink, _ = STATE_STYLE.get(c.state, ("#ffffff", "#8c959f", ""))
            stroke = fill if c.state and c.state != "superseded" else GRID
            parts.append(f'<g><title>{_t(c.tip)}</title><rect x="{x + 3}" y="{y0 + 3}" width="{cell_w - 6}" '
                         f'height="{row_h - 6}" rx="5" fill="{fill}" stroke="{stroke}"/><text x="{x + cell_w / 2}" '
                         f'y="{y0 + 19}" text-anchor="middle" style="fill:{ink}" class="cell">{_t(c.text)}</text></g>')
        x = label_w + cell_w * len(columns)
        fill, ink, word = STATE_STYLE.get(state, ("#ffffff", INK, state or "no server records"))
        parts.append(f'<g><title>{_t(label)}: {_t(word)}</title><rect x="{x + 6}" y="{y0 + 5}" width="{state_w - 12}" '
                     f'height="{row_h - 10}" rx="10" fill="{fill}"/><text x="{x + state_w / 2}" y="{y0 + 19}" '
                     f'text-anchor="middle" style="fill:{ink}" class="pill">{_t(word)}</text></g>')
    return "".join(parts) + tail


def state_strip(title: str, counts: Sequence[tuple[str, int]], width: int = 1120) -> str:
    """One horizontal bar split by release state, with a legend: how many releases are in which state."""
    desc = ", ".join(f"{STATE_STYLE[s][2]}: {n}" for s, n in counts if n) or "no releases"
    head, tail = _open(width, 70, title, desc, "strip")
    parts, x = [head], 0.0
    shown = [(state, n) for state, n in counts if n]
    for (state, n), w in zip(shown, segment_widths([n for _, n in shown], width - 2), strict=True):
        fill, ink, word = STATE_STYLE[state]
        parts.append(f'<g><title>{_t(word)}: {n}</title><rect x="{x + 1:.1f}" y="4" width="{w:.1f}" height="26" '
                     f'fill="{fill}" stroke="{GRID if state == "superseded" else "#ffffff"}"/>'
                     f'<text x="{x + 1 + w / 2:.1f}" y="22" text-anchor="middle" style="fill:{ink}" '
                     f'class="cell">{n}</text></g>')  # every segment says its count (issue 13)
        x += w
    lx = 0
    for state, n in counts:
        if n:
            fill, _, word = STATE_STYLE[state]
            parts.append(f'<rect x="{lx}" y="46" width="12" height="12" rx="2" fill="{fill}" stroke="{MUTED}" '
                         f'stroke-width="0.5"/><text x="{lx + 17}" y="56" class="legend">{_t(word)} ({n})</text>')
            lx += 30 + 7 * len(f"{word} ({n})")
    return "".join(parts) + tail


def segment_widths(counts: Sequence[int], width: float, least: float = 36.0) -> list[float]:
    """Widths proportional to the counts, none narrower than `least` (room for its label), summing to `width`."""
    if not counts:
        return []
    least = min(least, width / len(counts))
    spare = width - least * len(counts)
    total = sum(counts) or 1
    return [least + spare * n / total for n in counts]


def sparkline(values: Sequence[float | None], ok: Callable[[float], bool], target: float,
              width: int = 132, height: int = 34) -> str:
    """A card's last values as tiny bars against the target line; decorative (the card says it in words)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max([*known, target]) * 1.1 or 1.0
    slot = min(width / max(len(values), 1), 14.0)
    left = width - slot * len(values)  # few values: narrow bars on the right, not two slabs
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg">']
    for i, v in enumerate(values):
        if v is None:
            continue
        h = max(height * v / top, 1.5)
        parts.append(f'<rect x="{left + i * slot + slot * 0.15:.1f}" y="{height - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" rx="1" fill="{PASS if ok(v) else FAIL}"/>')
    ty = height - height * target / top
    parts.append(f'<line x1="0" x2="{width}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{INK}" stroke-dasharray="3 2"/>')
    return "".join(parts) + "</svg>"


def gauge(value: float | None, ok: bool, target: float, width: int = 132, height: int = 34) -> str:
    """A percentage as a filled bar out of 100 with the target marked; decorative like the sparkline."""
    if value is None:
        return ""
    fill_w = width * min(max(value, 0), 100) / 100
    tx = width * target / 100
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg">'
            f'<rect x="0" y="12" width="{width}" height="12" rx="6" fill="#eaeef2"/>'
            f'<rect x="0" y="12" width="{max(fill_w, 3):.1f}" height="12" rx="6" fill="{PASS if ok else FAIL}"/>'
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="6" y2="30" stroke="{INK}" stroke-width="2"/></svg>')
