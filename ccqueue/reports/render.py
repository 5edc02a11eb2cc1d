"""A report as text: an aligned table, CSV, JSON, or one self-contained HTML page.

Rules kept here:

1. Every format shows the same figures from the same ``Report``; only the spelling
   differs. Machine formats (CSV, JSON) carry raw numbers: seconds, and ratios as
   fractions 0..1 (NPS as -100..100); the table and the page round for people.
2. A figure over nothing (``None``) is empty in CSV, ``null`` in JSON and a dash for
   people — never 0 % (see ``ccqueue.reports.query``, rule 2).
3. The HTML page needs nothing but itself: inline CSS, an inline SVG chart, no script,
   no font, no image, no link to fetch; every label is escaped.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ccqueue.reports.period import GroupBy
from ccqueue.reports.query import Report

DASH = "–"

# (key, heading, kind); kind says how people read it.
CALL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("offered", "Offered", "int"),
    ("answered", "Answered", "int"),
    ("abandoned", "Abandoned", "int"),
    ("short_abandoned", "Short ab.", "int"),
    ("cut_off", "Cut off", "int"),
    ("service_level", "SL", "pct"),
    ("asa_s", "ASA", "dur"),
    ("aht_s", "AHT", "dur"),
    ("longest_wait_s", "Longest wait", "dur"),
    ("transfers", "Transfers", "int"),
    ("callbacks_asked", "CB asked", "int"),
    ("callbacks_completed", "CB done", "int"),
    ("csat", "CSAT", "pct"),
    ("nps", "NPS", "nps"),
)
AGENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("answered", "Handled", "int"),
    ("talk_s", "Talk", "dur"),
    ("logged_in_s", "Logged in", "dur"),
    ("occupancy", "Occupancy", "pct"),
    ("utilisation", "Utilisation", "pct"),
    ("pause_s", "Paused", "dur"),
    ("pause_by_reason", "Pause by reason", "pauses"),
)


def columns(report: Report) -> tuple[tuple[str, str, str], ...]:
    if report.by is GroupBy.AGENT:
        return AGENT_COLUMNS + tuple(c for c in CALL_COLUMNS if c[0] != "answered")
    return CALL_COLUMNS


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def for_people(value: Any, kind: str) -> str:
    if kind == "pauses":
        return ", ".join(f"{reason} {duration(s)}" for reason, s in value.items()) or DASH
    if value is None:
        return DASH
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "nps":
        return f"{value:+.0f}"
    if kind == "dur":
        return duration(value)
    return str(value)


def group_label(group: object) -> str:
    """``2026-03-02T08:30`` as people write it: ``2026-03-02 08:30``."""
    text = str(group)
    return text.replace("T", " ", 1) if len(text) == 16 and text[10] == "T" else text


def period_line(report: Report) -> str:
    zone = report.period.zone
    start = report.period.start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    end = report.period.end.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    by = f"{report.by.value} ({report.interval_min} min)" if report.by is GroupBy.INTERVAL else report.by.value
    return f"{start} – {end} ({report.period.tz_name}), by {by}"


def render_table(report: Report) -> str:
    cols = columns(report)
    head = [report.by.value, *(h for _, h, _ in cols)]
    body = [
        [group_label(row["group"]), *(for_people(row.get(k), kind) for k, _, kind in cols)]
        for row in [*report.rows, report.total]
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    out = [f"ccqueue report: {period_line(report)}", "", line(head), rule]
    out += [line(cells) for cells in body[:-1]]
    out += [rule, line(body[-1])]
    return "\n".join(out) + "\n"


def _machine(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def render_csv(report: Report) -> str:
    cols = [k for k, _, kind in columns(report) if kind != "pauses"]
    reasons = sorted({r for row in [*report.rows, report.total] for r in row.get("pause_by_reason", {})})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([report.by.value, *cols, *(f"pause_{r}_s" for r in reasons)])
    for row in [*report.rows, report.total]:
        pauses = row.get("pause_by_reason", {})
        writer.writerow(
            [
                row["group"],
                *("" if row.get(k) is None else _machine(row[k]) for k in cols),
                *(_machine(pauses.get(r, 0.0)) for r in reasons),
            ]
        )
    return buf.getvalue()


def as_dict(report: Report) -> dict[str, Any]:
    def clean(row: dict[str, Any]) -> dict[str, Any]:
        return {k: ({r: _machine(s) for r, s in v.items()} if isinstance(v, dict) else _machine(v)) for k, v in row.items()}

    return {
        "period": {"from": report.period.start.isoformat(), "to": report.period.end.isoformat(), "tz": report.period.tz_name},
        "by": report.by.value,
        "interval_min": report.interval_min if report.by is GroupBy.INTERVAL else None,
        "objectives": {
            q: {"answer_within_s": o.answer_within_s, "target": o.target, "short_abandon_s": o.short_abandon_s}
            for q, o in sorted(report.objectives.items())
        },
        "rows": [clean(row) for row in report.rows],
        "total": clean(report.total),
        "dispositions": report.dispositions,
    }


def render_json(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
