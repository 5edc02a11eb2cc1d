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
4. A report by interval, day, queue, hotline or channel reads the whole UTC days of its
   period from ``report_call_summary`` (migration 0009) where the day's summary is up
   to date, and the rest of the period from ``report_calls_between``; the two parts are
   added up in one query. Days that ended more than ``SUMMARY_AFTER`` ago and are stale
   are summarised first (idempotent; skipped without the right to write). The counts are
   the same either way; sums of seconds may differ in the last bits of a float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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
    # Answered calls per queue and wrap-up disposition over the whole period (None: not wrapped up).
    dispositions: list[dict[str, Any]] = field(default_factory=list)


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


# The per-call fields and survey answers, summed as the summary stores them, so that a
# part read from the calls and a part read from the summary add up (rule 4).
_RAW_PART = """
SELECT r.arrived_at AS at, r.queue, r.agent, r.hotline, r.channel_group,
       r.offered::int AS offered, r.answered::int AS answered,
       (r.abandoned AND NOT r.short_abandon)::int AS abandoned, r.short_abandon::int AS short_abandoned,
       r.cut_off::int AS cut_off, r.within_objective::int AS within_objective, r.sl_counted::int AS sl_counted,
       (r.answered AND r.wait_s IS NOT NULL)::int AS answered_waits,
       CASE WHEN r.answered THEN r.wait_s ELSE 0 END AS answered_wait_sum,
       (r.handle_s IS NOT NULL)::int AS handled, coalesce(r.handle_s, 0) AS handle_sum,
       r.wait_s AS longest_wait_s, coalesce(r.talk_s, 0) AS talk_s, r.transfers,
       (s.rating IS NOT NULL)::int AS rated, (s.rating >= 4)::int AS satisfied,
       (s.recommend IS NOT NULL)::int AS recommend_answers, (s.recommend >= 9)::int AS promoters,
       (s.recommend <= 6)::int AS detractors
  FROM report_calls_between(${a}, ${b}) r
  LEFT JOIN surveys s ON s.call_id = r.call_id
"""

_SUMMARY_PART = """
SELECT u.slot AS at, u.queue, NULL::text AS agent, u.hotline, u.channel_group,
       u.offered, u.answered, u.abandoned, u.short_abandoned, u.cut_off, u.within_objective,
       u.sl_counted, u.answered_waits, u.answered_wait_sum, u.handled, u.handle_sum,
       u.longest_wait_s, u.talk_s, u.transfers, u.rated, u.satisfied, u.recommend_answers,
       u.promoters, u.detractors
  FROM report_call_summary u
 WHERE u.slot >= ${a} AND u.slot < ${b}
"""

# A period with no summarised day: straight from the calls, in one pass.
_CALLS_ONLY = """
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

# Summarised days and the rest of the period added up (rule 4).
_CALLS = """
WITH parts AS ({parts})
SELECT {key} AS grp, GROUPING({key}) AS is_total,
       sum(r.offered) AS offered,
       sum(r.answered) AS answered,
       sum(r.abandoned) AS abandoned,
       sum(r.short_abandoned) AS short_abandoned,
       sum(r.cut_off) AS cut_off,
       sum(r.within_objective) AS within_objective,
       sum(r.sl_counted) AS sl_counted,
       sum(r.answered_wait_sum) / nullif(sum(r.answered_waits), 0) AS asa_s,
       sum(r.handle_sum) / nullif(sum(r.handled), 0) AS aht_s,
       coalesce(max(r.longest_wait_s), 0) AS longest_wait_s,
       coalesce(sum(r.talk_s), 0) AS talk_s,
       coalesce(sum(r.transfers), 0) AS transfers,
       sum(r.rated) AS rated,
       sum(r.satisfied) AS satisfied,
       sum(r.recommend_answers) AS recommend_answers,
       sum(r.promoters) AS promoters,
       sum(r.detractors) AS detractors
  FROM parts r
 WHERE r.at >= $1 AND r.at < $2  -- every part is inside the period already
 GROUP BY GROUPING SETS (({key}), ())
"""

# A UTC day is summarised once report_calls_between has stopped looking at what comes
# after it (its events and wrap-ups until a day later) and a margin for late records.
SUMMARY_AFTER = timedelta(days=2)
# Groupings the summary holds the key of (not the agent: agents want time in state too).
_SUMMARISED = frozenset({"interval", "day", "queue", "hotline", "channel"})


def _utc_day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def whole_utc_days(period: Period) -> list[date]:
    """The UTC days wholly inside the period (rule 4)."""
    start = period.start.astimezone(UTC)
    first = start.date() if start.time() == time(0) else start.date() + timedelta(days=1)
    last = period.end.astimezone(UTC).date()  # exclusive
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _quarter_hour_zone(period: Period) -> bool:
    """Whether the zone's offsets over the period are whole quarter hours (rule 4)."""
    for moment in (period.start, period.end):
        offset = moment.astimezone(period.zone).utcoffset() or timedelta(0)
        if offset.total_seconds() % 900:
            return False
    return True


async def summarise_stale_days(conn: asyncpg.Connection, days: Sequence[date], *, now: datetime) -> list[date]:
    """Summarise the stale days among ``days`` that ended ``SUMMARY_AFTER`` ago; each in its
    own transaction, so a concurrent writer waits at most one day's work. Returns them."""
    closed = [d for d in days if _utc_day_start(d) + timedelta(days=1) + SUMMARY_AFTER <= now]
    if not closed:
        return []
    stale = await conn.fetch("SELECT day FROM report_summary_days WHERE day = ANY($1::date[]) AND stale ORDER BY day", closed)
    done = []
    for row in stale:
        try:
            async with conn.transaction():
                await conn.execute("SELECT report_summarise_day($1)", row["day"])
        except asyncpg.InsufficientPrivilegeError:
            return done  # a read-only role: the report reads the calls instead
        done.append(row["day"])
    return done


async def summarise_closed_days(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[date]:
    """Summarise up to ``limit`` stale days that ended ``SUMMARY_AFTER`` ago, the newest
    first (a running ccqueue does this now and then, so that a month's first report finds
    its days ready)."""
    last_closed = (now - SUMMARY_AFTER - timedelta(days=1)).astimezone(UTC).date()
    rows = await conn.fetch(
        "SELECT day FROM report_summary_days WHERE stale AND day <= $1 ORDER BY day DESC LIMIT $2", last_closed, limit
    )
    return await summarise_stale_days(conn, [r["day"] for r in rows], now=now)


async def _summary_ranges(
    conn: asyncpg.Connection, period: Period, by: GroupBy, *, now: datetime
) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges, in order, that the summary answers for (rule 4)."""
    if by.value not in _SUMMARISED or not _quarter_hour_zone(period):
        return []
    days = whole_utc_days(period)
    if not days:
        return []
    await summarise_stale_days(conn, days, now=now)
    rows = await conn.fetch("SELECT day FROM report_summary_days WHERE day = ANY($1::date[]) AND NOT stale ORDER BY day", days)
    ranges: list[tuple[datetime, datetime]] = []
    for row in rows:
        start, end = _utc_day_start(row["day"]), _utc_day_start(row["day"]) + timedelta(days=1)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def _parts(period: Period, summarised: list[tuple[datetime, datetime]], first_param: int) -> tuple[str, list[datetime]]:
    """The SQL of the period's parts: summarised ranges and the rest from the calls."""
    sql, args = [], []
    moment = period.start
    pieces: list[tuple[str, datetime, datetime]] = []
    for start, end in summarised:
        if moment < start:
            pieces.append((_RAW_PART, moment, start))
        pieces.append((_SUMMARY_PART, start, end))
        moment = end
    if moment < period.end:
        pieces.append((_RAW_PART, moment, period.end))
    for template, start, end in pieces:
        a = first_param + len(args)
        sql.append(template.replace("${a}", f"${a}").replace("${b}", f"${a + 1}"))
        args += [start, end]
    return " UNION ALL ".join(sql), args


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


async def build_report(
    conn: asyncpg.Connection,
    period: Period,
    by: GroupBy,
    *,
    interval_min: int = 30,
    use_summary: bool = True,
    now: datetime | None = None,
) -> Report:
    """Every group's figures and the total over ``period`` (rules 1-4); ``use_summary``
    False reads every call (the figures are the same)."""
    # Only the parameters a grouping uses: PostgreSQL cannot type one it never sees.
    args: tuple[Any, ...] = (period.start, period.end)
    if by.in_time:
        args += (period.tz_name,) + ((interval_min,) if by is GroupBy.INTERVAL else ())
    calls_key = _key_sql(by, time_col="r.at", queue="r.queue", agent="r.agent", hotline="r.hotline", channel="r.channel_group")
    cb_key = _key_sql(
        by,
        time_col="cb.requested_at",
        queue="cb.queue",
        agent="cb.agent",
        hotline="c.hotline",
        channel="regexp_replace(c.channel, '-[^-/]*$', '')",
    )
    summarised = await _summary_ranges(conn, period, by, now=now or datetime.now(UTC)) if use_summary else []
    if summarised:
        parts, part_args = _parts(period, summarised, len(args) + 1)
        call_rows = await conn.fetch(_CALLS.format(key=calls_key, parts=parts), *args, *part_args)
    else:
        call_rows = await conn.fetch(_CALLS_ONLY.format(key=calls_key.replace("r.at", "r.arrived_at")), *args)
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
    dispositions = [
        dict(r)
        for r in await conn.fetch(
            "SELECT queue, disposition, calls FROM report_dispositions_between($1, $2) ORDER BY queue, disposition NULLS LAST",
            period.start,
            period.end,
        )
    ]
    return Report(period=period, by=by, interval_min=interval_min, rows=rows, total=total, dispositions=dispositions)


async def fetch_objectives(conn: asyncpg.Connection) -> dict[str, Objective]:
    rows = await conn.fetch("SELECT queue, answer_within_s, target, short_abandon_s FROM report_objectives")
    return {
        r["queue"]: Objective(answer_within_s=r["answer_within_s"], target=r["target"], short_abandon_s=r["short_abandon_s"])
        for r in rows
    }


async def store_objectives(conn: asyncpg.Connection, objectives: Mapping[str, Objective]) -> None:
    """Make ``report_objectives`` say what the configuration says (one transaction).
    Rows that already say it are left alone: a change marks every summarised day stale
    (migration 0009), and running a report with the same configuration must not."""
    async with conn.transaction():
        await conn.execute("DELETE FROM report_objectives WHERE queue <> '*' AND NOT (queue = ANY($1::text[]))", list(objectives))
        await conn.executemany(
            """INSERT INTO report_objectives (queue, answer_within_s, target, short_abandon_s)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (queue) DO UPDATE SET answer_within_s = EXCLUDED.answer_within_s,
                   target = EXCLUDED.target, short_abandon_s = EXCLUDED.short_abandon_s, updated_at = now()
               WHERE (report_objectives.answer_within_s, report_objectives.target, report_objectives.short_abandon_s)
                     IS DISTINCT FROM (EXCLUDED.answer_within_s, EXCLUDED.target, EXCLUDED.short_abandon_s)""",
            [(name, o.answer_within_s, o.target, o.short_abandon_s) for name, o in objectives.items()],
        )
