"""The report's figures, aggregated in PostgreSQL from the ``report_*`` functions.

Rules kept here:

1. Every figure comes from ``report_calls_between`` / ``report_agent_time_between``
   (migration 0004), the same definitions a BI tool reads; nothing is recomputed per
   call in Python. Each query is one pass with ``GROUPING SETS`` giving the groups and
   the total together.
2. Counts and durations of an empty group are 0; a ratio or an average over nothing
   (SL with no call in its denominator, ASA with no answered call, CSAT with no rating)
   is ``None``: no calls is not a service level of 0 %.
3. Time groups are labelled in the report's zone (local interval or day start); every
   one of them is listed, calls or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ccqueue.core.errors import ExternalError
from ccqueue.reports.period import GroupBy, Period

NONE_LABEL = "(none)"


class DatabaseUnavailable(ExternalError):
    error_id = "report-database-unavailable"


class SchemaOutdated(ExternalError):
    """The database lacks migration 0004's functions: ``ccqueue migrate`` adds them."""

    error_id = "report-schema-outdated"


@dataclass(frozen=True, slots=True, kw_only=True)
class Objective:
    answer_within_s: float = 20.0
    target: float = 0.8
    short_abandon_s: float = 5.0


@dataclass(slots=True, kw_only=True)
class Report:
    period: Period
    by: GroupBy
    interval_min: int
    rows: list[dict[str, Any]]
    total: dict[str, Any]
    objectives: dict[str, Objective] = field(default_factory=dict)


def _key_sql(by: GroupBy, *, time_col: str, queue: str, agent: str, hotline: str, channel: str) -> str:
    match by:
        case GroupBy.INTERVAL:
            return f"date_bin(make_interval(mins => $4::int), {time_col} AT TIME ZONE $3::text, timestamp '2000-01-01')"
        case GroupBy.DAY:
            return f"date_trunc('day', {time_col} AT TIME ZONE $3::text)"
        case GroupBy.QUEUE:
            return queue
        case GroupBy.AGENT:
            return agent
        case GroupBy.HOTLINE:
            return hotline
        case GroupBy.CHANNEL:
            return channel


_CALLS = """
SELECT {key} AS grp, GROUPING({key}) AS is_total,
       count(*) FILTER (WHERE r.offered) AS offered,
       count(*) FILTER (WHERE r.answered) AS answered,
       count(*) FILTER (WHERE r.abandoned AND NOT r.short_abandon) AS abandoned,
       count(*) FILTER (WHERE r.short_abandon) AS short_abandoned,
       count(*) FILTER (WHERE r.cut_off) AS cut_off,
       count(*) FILTER (WHERE r.within_objective) AS within_objective,
       count(*) FILTER (WHERE r.sl_counted) AS sl_counted,
       avg(r.wait_s) FILTER (WHERE r.answered) AS asa_s,
       avg(r.handle_s) AS aht_s,
       coalesce(max(r.wait_s), 0) AS longest_wait_s,
       coalesce(sum(r.talk_s), 0) AS talk_s,
       coalesce(sum(r.transfers), 0) AS transfers,
       count(s.rating) AS rated,
       count(*) FILTER (WHERE s.rating >= 4) AS satisfied,
       count(s.recommend) AS recommend_answers,
       count(*) FILTER (WHERE s.recommend >= 9) AS promoters,
       count(*) FILTER (WHERE s.recommend <= 6) AS detractors
  FROM report_calls_between($1, $2) r
  LEFT JOIN surveys s ON s.call_id = r.call_id
 GROUP BY GROUPING SETS (({key}), ())
"""

_CALLBACKS = """
SELECT {key} AS grp, GROUPING({key}) AS is_total,
       count(*) AS callbacks_asked,
       count(*) FILTER (WHERE cb.status = 'completed') AS callbacks_completed
  FROM callbacks cb
  LEFT JOIN calls c ON c.call_id = cb.call_id
 WHERE cb.requested_at >= $1 AND cb.requested_at < $2
 GROUP BY GROUPING SETS (({key}), ())
"""

_AGENT_TIME = "SELECT agent_id, state, reason, seconds FROM report_agent_time_between($1, $2)"

_CALL_FIGURES = ("offered", "answered", "abandoned", "short_abandoned", "cut_off", "transfers")
_AGENT_STATES_WORKING = ("available", "reserved", "ringing", "on_call", "wrap_up")
_AGENT_STATES_HANDLING = ("on_call", "wrap_up")


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _label(value: Any) -> Any:
    return NONE_LABEL if value is None or value == "" else value


def _call_figures(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """Rule 2: a missing group is all zeros; ratios over nothing are None."""
    r: Mapping[str, Any] = row or {}
    n = {
        k: int(r.get(k) or 0)
        for k in (
            *_CALL_FIGURES,
            "within_objective",
            "sl_counted",
            "rated",
            "satisfied",
            "recommend_answers",
            "promoters",
            "detractors",
        )
    }
    nps = _ratio(n["promoters"] - n["detractors"], n["recommend_answers"])
    return {
        "offered": n["offered"],
        "answered": n["answered"],
        "abandoned": n["abandoned"],
        "short_abandoned": n["short_abandoned"],
        "cut_off": n["cut_off"],
        "service_level": _ratio(n["within_objective"], n["sl_counted"]),
        "asa_s": r.get("asa_s"),
        "aht_s": r.get("aht_s"),
        "longest_wait_s": float(r.get("longest_wait_s") or 0.0),
        "transfers": n["transfers"],
        "callbacks_asked": 0,
        "callbacks_completed": 0,
        "csat": _ratio(n["satisfied"], n["rated"]),
        "nps": None if nps is None else 100.0 * nps,
        "surveys": max(n["rated"], n["recommend_answers"]),
        "talk_s": float(r.get("talk_s") or 0.0),
    }


def _agent_figures(times: list[asyncpg.Record]) -> dict[str, Any]:
    by_state: dict[str, float] = {}
    pauses: dict[str, float] = {}
    for t in times:
        by_state[t["state"]] = by_state.get(t["state"], 0.0) + t["seconds"]
        if t["state"] == "paused":
            reason = t["reason"] or "(no reason)"
            pauses[reason] = pauses.get(reason, 0.0) + t["seconds"]
    working = sum(by_state.get(s, 0.0) for s in _AGENT_STATES_WORKING)
    handling = sum(by_state.get(s, 0.0) for s in _AGENT_STATES_HANDLING)
    logged_in = working + by_state.get("paused", 0.0)
    return {
        "logged_in_s": logged_in,
        "handling_s": handling,
        "occupancy": _ratio(handling, working),
        "utilisation": _ratio(handling, logged_in),
        "pause_s": by_state.get("paused", 0.0),
        "pause_by_reason": dict(sorted(pauses.items())),
    }


async def build_report(conn: asyncpg.Connection, period: Period, by: GroupBy, *, interval_min: int = 30) -> Report:
    """Every group's figures and the total over ``period`` (rules 1-3)."""
    # Only the parameters a grouping uses: PostgreSQL cannot type one it never sees.
    args: tuple[Any, ...] = (period.start, period.end)
    if by.in_time:
        args += (period.tz_name,) + ((interval_min,) if by is GroupBy.INTERVAL else ())
    calls_key = _key_sql(
        by, time_col="r.arrived_at", queue="r.queue", agent="r.agent", hotline="r.hotline", channel="r.channel_group"
    )
    cb_key = _key_sql(
        by,
        time_col="cb.requested_at",
        queue="cb.queue",
        agent="cb.agent",
        hotline="c.hotline",
        channel="regexp_replace(c.channel, '-[^-/]*$', '')",
    )
    call_rows = await conn.fetch(_CALLS.format(key=calls_key), *args)
    callback_rows = await conn.fetch(_CALLBACKS.format(key=cb_key), *args)
    agent_times = await conn.fetch(_AGENT_TIME, period.start, period.end) if by is GroupBy.AGENT else []

    groups: dict[Any, dict[str, Any]] = {}
    total = _call_figures(None)
    for row in call_rows:
        if row["is_total"]:
            total = _call_figures(row)
        else:
            groups[row["grp"]] = _call_figures(row)
    for row in callback_rows:
        target = total if row["is_total"] else groups.setdefault(row["grp"], _call_figures(None))
        target["callbacks_asked"] = int(row["callbacks_asked"])
        target["callbacks_completed"] = int(row["callbacks_completed"])
    if by is GroupBy.AGENT:
        per_agent: dict[str, list[asyncpg.Record]] = {}
        for t in agent_times:
            per_agent.setdefault(t["agent_id"], []).append(t)
            groups.setdefault(t["agent_id"], _call_figures(None))
        for agent_id, figures in groups.items():
            figures.update(_agent_figures(per_agent.get(agent_id, [])))
        total.update(_agent_figures(list(agent_times)))

    keys: list[Any]
    if by.in_time:
        keys = period.buckets(by, interval_min)
        keys += sorted(k for k in groups if k not in set(keys))  # a DST fold's extra hour
    else:
        keys = sorted(groups, key=lambda k: (k is None, str(k)))
    rows = []
    for key in keys:
        figures = groups.get(key)
        if figures is None:
            figures = _call_figures(None)
            if by is GroupBy.AGENT:
                figures.update(_agent_figures([]))
        label = key.date().isoformat() if by is GroupBy.DAY and isinstance(key, datetime) else key
        rows.append({"group": _label(label.isoformat(timespec="minutes") if isinstance(label, datetime) else label), **figures})
    total = {"group": "total", **total}
    return Report(period=period, by=by, interval_min=interval_min, rows=rows, total=total)


async def fetch_objectives(conn: asyncpg.Connection) -> dict[str, Objective]:
    rows = await conn.fetch("SELECT queue, answer_within_s, target, short_abandon_s FROM report_objectives")
    return {
        r["queue"]: Objective(answer_within_s=r["answer_within_s"], target=r["target"], short_abandon_s=r["short_abandon_s"])
        for r in rows
    }


async def store_objectives(conn: asyncpg.Connection, objectives: Mapping[str, Objective]) -> None:
    """Make ``report_objectives`` say what the configuration says (one transaction)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM report_objectives WHERE queue <> '*'")
        await conn.executemany(
            """INSERT INTO report_objectives (queue, answer_within_s, target, short_abandon_s)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (queue) DO UPDATE SET answer_within_s = EXCLUDED.answer_within_s,
                   target = EXCLUDED.target, short_abandon_s = EXCLUDED.short_abandon_s, updated_at = now()""",
            [(name, o.answer_within_s, o.target, o.short_abandon_s) for name, o in objectives.items()],
        )
