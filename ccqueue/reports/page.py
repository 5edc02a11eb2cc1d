"""The report as one HTML page a manager can mail around (``render``, rule 3).

The page holds the headline figures of the whole period, a chart of calls (answered,
abandoned, short abandons) and service level per group, and the full table. The chart
is SVG drawn here, inline; CSS is inline; nothing is fetched.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ccqueue.reports.period import GroupBy
from ccqueue.reports.query import Report
from ccqueue.reports.render import DASH, columns, for_people, group_label, period_line

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2733;margin:0;background:#f4f6f9}
main{max-width:1320px;margin:0 auto;padding:24px 28px}
h1{font-size:22px;margin:0 0 4px}
.sub{color:#5b6878;margin:0 0 20px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:12px;margin-bottom:20px}
.tile{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.tile b{display:block;font-size:24px;font-weight:600}
.tile span{color:#5b6878;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile.good b{color:#1a7f4b}.tile.bad b{color:#b3261e}
section{background:#fff;border-radius:8px;padding:16px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:20px}
h2{font-size:15px;margin:0 0 10px}
svg{width:100%;height:auto;display:block}
.legend{display:flex;gap:18px;font-size:12px;color:#5b6878;margin-top:6px;flex-wrap:wrap}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-2px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;text-align:right;white-space:nowrap;border-bottom:1px solid #e6e9ee}
th:first-child,td:first-child{text-align:left}
thead th{background:#eef1f5;color:#394656;font-weight:600;position:sticky;top:0}
tbody tr:nth-child(even){background:#fafbfc}
tr.total td{font-weight:600;border-top:2px solid #394656;background:#eef1f5}
td.empty{color:#a0a9b5}
td.list{white-space:normal;text-align:left;min-width:170px}
footer{color:#8a94a3;font-size:12px}
"""

_ANSWERED, _ABANDONED, _SHORT, _SL, _TARGET = "#3a6ea5", "#e07b39", "#f2c09b", "#1a7f4b", "#8a94a3"


def _target(report: Report) -> float:
    fallback = report.objectives.get("*")
    return fallback.target if fallback else 0.8


def _axis_label(group: object, *, one_day: bool) -> str:
    # "2026-03-02 08:30" reads as "08:30" when the chart covers one day.
    label = group_label(group)
    return label[11:] if one_day and len(label) == 16 and label[10] == " " else label


def _nice_tick(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least ``raw``: round axis labels."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= raw:
                return factor * magnitude
        magnitude *= 10


def chart(report: Report) -> str:
    rows = report.rows
    width, height = 1240, 300
    left, right, top, bottom = 54, 54, 16, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(rows), 1)
    peak = max([row["answered"] + row["abandoned"] + row["short_abandoned"] for row in rows] + [1])
    tick = _nice_tick(peak / 4)
    scale_max = tick * 4
    slot = plot_w / n
    bar = max(min(slot * 0.7, 48), 1.5)
    one_day = report.by is GroupBy.INTERVAL and len({str(r["group"])[:10] for r in rows}) == 1
    parts = [
        (
            f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Calls and service level per group" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui,Arial,sans-serif" font-size="11">'
        )
    ]
    for i in range(5):  # grid and both axes' ticks
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ee"/>')
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6878">{tick * i}</text>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{y + 4:.1f}" fill="{_SL}">{25 * i} %</text>')
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.0f}" transform="rotate(-90 14 {top + plot_h / 2:.0f})" '
        f'text-anchor="middle" fill="#5b6878">calls</text>'
    )
    label_every = max(1, -(-n // 24))
    sl_points = []
    for i, row in enumerate(rows):
        x = left + slot * i + (slot - bar) / 2
        base = top + plot_h
        for value, colour, what in (
            (row["answered"], _ANSWERED, "answered"),
            (row["abandoned"], _ABANDONED, "abandoned"),
            (row["short_abandoned"], _SHORT, "short abandons"),
        ):
            if value:
                h = plot_h * value / scale_max
                base -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(str(row['group']))}: {value} {what}</title></rect>"
                )
        centre = left + slot * i + slot / 2
        if row["service_level"] is not None:
            sl_points.append((centre, top + plot_h * (1 - row["service_level"])))
        if i % label_every == 0:
            label = escape(_axis_label(row["group"], one_day=one_day))
            parts.append(
                f'<text x="{centre:.1f}" y="{top + plot_h + 16}" text-anchor="end" fill="#394656" '
                f'transform="rotate(-35 {centre:.1f} {top + plot_h + 16})">{label}</text>'
            )
    target_y = top + plot_h * (1 - _target(report))
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{target_y:.1f}" y2="{target_y:.1f}" '
        f'stroke="{_TARGET}" stroke-dasharray="6 4"/>'
    )
    if len(sl_points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in sl_points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{_SL}" stroke-width="2.2"/>')
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_SL}"/>' for x, y in sl_points]
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#394656"/>')
    parts.append("</svg>")
    return "".join(parts)


def _tile(label: str, value: str, tone: str = "") -> str:
    return f'<div class="tile {tone}"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _tiles(report: Report) -> str:
    t = report.total
    sl = t["service_level"]
    tone = "" if sl is None else ("good" if sl >= _target(report) else "bad")
    tiles = [
        _tile("Offered", str(t["offered"])),
        _tile("Answered", str(t["answered"])),
        _tile(f"Service level (target {100 * _target(report):.0f} %)", for_people(sl, "pct"), tone),
        _tile(f"Abandoned (+{t['short_abandoned']} short)", str(t["abandoned"])),
        _tile("ASA", for_people(t["asa_s"], "dur")),
        _tile("AHT", for_people(t["aht_s"], "dur")),
        _tile("Longest wait", for_people(t["longest_wait_s"], "dur")),
        _tile("CSAT", for_people(t["csat"], "pct")),
        _tile("NPS", for_people(t["nps"], "nps")),
    ]
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def _table(report: Report) -> str:
    cols = columns(report)
    head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in cols)
    lines = [f"<thead><tr><th>{escape(report.by.value)}</th>{head}</tr></thead><tbody>"]

    def cells(row: dict[str, Any]) -> str:
        out = []
        for key, _, kind in cols:
            text = for_people(row.get(key), kind)
            css = "empty" if text in (DASH, "0", "0:00") else "list" if kind == "pauses" else ""
            out.append(f'<td class="{css}">{escape(text)}</td>' if css else f"<td>{escape(text)}</td>")
        return "".join(out)

    lines += [f"<tr><td>{escape(group_label(row['group']))}</td>{cells(row)}</tr>" for row in report.rows]
    lines.append(f'</tbody><tfoot><tr class="total"><td>Total</td>{cells(report.total)}</tr></tfoot>')
    return "<table>" + "".join(lines) + "</table>"


def render_html(report: Report) -> str:
    title = f"Contact centre report — {period_line(report)}"
    legend = (
        f'<div class="legend"><span><i style="background:{_ANSWERED}"></i>answered</span>'
        f'<span><i style="background:{_ABANDONED}"></i>abandoned</span>'
        f'<span><i style="background:{_SHORT}"></i>short abandons</span>'
        f'<span><i style="background:{_SL}"></i>service level (right axis)</span>'
        f'<span><i style="background:{_TARGET}"></i>target</span></div>'
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f'<body><main><h1>Contact centre report</h1><p class="sub">{escape(period_line(report))}</p>'
        f"{_tiles(report)}"
        f"<section><h2>Calls and service level by {escape(report.by.value)}</h2>{chart(report)}{legend}</section>"
        f'<section><h2>Figures</h2><div class="scroll">{_table(report)}</div></section>'
        "<footer>Definitions: docs/reports.md. SL = answered within the queue's objective / "
        "(answered + abandoned, short abandons excluded).</footer>"
        "</main></body></html>\n"
    )
