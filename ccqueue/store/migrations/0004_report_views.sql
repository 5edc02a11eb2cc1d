-- 0004_report_views: the report's definitions (docs/reports.md, "Definitions") as SQL,
-- so that `ccqueue report` and any BI tool read the same numbers from the same rows.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.
--
-- What is here:
--   report_objectives                 each queue's service-level objective and short-abandon
--                                     threshold ('*': every queue not listed)
--   report_calls_between(from, to)    one row per call that arrived in [from, to), with
--                                     its derived fields (wait, talk, wrap-up, outcome flags)
--   report_calls                      the same over every call (for ad-hoc queries)
--   report_agent_time_between(from, to)  seconds per agent, state and reason, clipped
--                                     to [from, to)
-- `calls` keeps one row per call, the newest version (the writer's upsert only lets a
-- higher version in), so the latest version of a call is simply its row.

CREATE TABLE report_objectives (
    queue            text PRIMARY KEY,  -- a queue's name, or '*' for every other queue
    answer_within_s  double precision NOT NULL CHECK (answer_within_s >= 0),
    target           double precision NOT NULL CHECK (target > 0 AND target <= 1),
    short_abandon_s  double precision NOT NULL CHECK (short_abandon_s >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The industry's customary 80/20 and a 5-second short abandon; `ccqueue report -c`
-- replaces the rows with the configuration's queues.
INSERT INTO report_objectives (queue, answer_within_s, target, short_abandon_s)
VALUES ('*', 20, 0.8, 5);

-- The few timeline events the report reads, by time: a report reads those of its
-- period (and the day after it, see below); the other events are many and not needed.
CREATE INDEX call_events_report_at_idx ON call_events (at)
    WHERE kind IN ('call_queued', 'call_unfollowed', 'call_overflowed');

-- Agent time clipped to a period: intervals that end inside or after it.
CREATE INDEX agent_state_intervals_ended_idx ON agent_state_intervals (ended_at);

-- Callbacks asked in a period.
CREATE INDEX callbacks_requested_at_idx ON callbacks (requested_at);

-- One row per call that arrived in [from_at, to_at). A SQL function rather than a
-- view alone so that the period reaches the timeline's sub-query too (PostgreSQL
-- inlines it: the planner sees the constants). Rules:
-- * offered: the call joined a queue (it has a `call_queued` event);
-- * wait_s: from joining the first queue (time in the IVR excluded; time in a queue
--   the call overflowed from included) until answered, else until the call ended;
--   total_s counts from arrival instead;
-- * answered / abandoned: the outcome of an offered call; short_abandon: abandoned
--   within the queue's short_abandon_s;
-- * cut_off: ccqueue stopped or failed, not the caller: outcome `failed`, or a
--   connected call whose end ccqueue did not see (`call_unfollowed`; it still counts
--   as answered, with no talk time);
-- * talk_s: answered until ended; wrapup_s: the agent's `wrap_up` interval that began
--   when the call ended; handle_s = talk_s + wrapup_s;
-- * within_objective: answered within the queue's answer_within_s; sl_counted: in the
--   service level's denominator (answered, or abandoned but not a short abandon);
-- * transfers: moves to another queue (`call_overflowed` to a queue) plus an IVR
--   transfer out (outcome `transferred`).
-- A call's events and its wrap-up are looked for from its period's start until one day
-- after the period's end: a call that arrived in the period and whose queueing, end or
-- wrap-up came more than a day later is read as if that event had not happened.
-- date_part, not extract: extract gives numeric, several times slower over a month.
CREATE FUNCTION report_calls_between(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (
    call_id text, caller text, hotline text, queue text, agent text, channel text,
    channel_group text, arrived_at timestamptz, queued_at timestamptz,
    answered_at timestamptz, ended_at timestamptz, outcome text, offered boolean,
    answered boolean, abandoned boolean, short_abandon boolean, cut_off boolean,
    unfollowed boolean, wait_s double precision, total_s double precision,
    talk_s double precision, wrapup_s double precision, handle_s double precision,
    answer_within_s double precision, sl_target double precision,
    within_objective boolean, sl_counted boolean, transfers integer
)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
WITH marks AS (
    SELECT e.call_id,
           min(e.at) FILTER (WHERE e.kind = 'call_queued') AS queued_at,
           bool_or(e.kind = 'call_unfollowed') AS unfollowed,
           count(*) FILTER (WHERE e.kind = 'call_overflowed'
                              AND e.data ->> 'destination' = 'queue')::integer AS moves
      FROM call_events e
     WHERE e.kind IN ('call_queued', 'call_unfollowed', 'call_overflowed')
       AND e.at >= from_at AND e.at < to_at + interval '1 day'
     GROUP BY e.call_id
), fallback AS (
    SELECT coalesce(max(answer_within_s), 20) AS answer_within_s,
           coalesce(max(target), 0.8) AS target,
           coalesce(max(short_abandon_s), 5) AS short_abandon_s
      FROM report_objectives WHERE queue = '*'
), base AS (
    SELECT c.call_id, c.caller, c.hotline, c.queue, c.agent, c.channel, c.arrived_at,
           c.answered_at, c.ended_at, c.outcome, c.wait_s AS total_s, m.queued_at,
           coalesce(m.unfollowed, false) AS unfollowed,
           coalesce(m.moves, 0) AS moves,
           coalesce(o.answer_within_s, f.answer_within_s) AS answer_within_s,
           coalesce(o.target, f.target) AS sl_target,
           coalesce(o.short_abandon_s, f.short_abandon_s) AS short_abandon_s,
           date_part('epoch', w.ended_at - w.started_at) AS wrapup_s,
           date_part('epoch', coalesce(c.answered_at, c.ended_at) - m.queued_at) AS queue_wait_s
      FROM calls c
      LEFT JOIN marks m ON m.call_id = c.call_id
      LEFT JOIN report_objectives o ON o.queue = c.queue
      CROSS JOIN fallback f
      LEFT JOIN agent_state_intervals w
             ON w.agent_id = c.agent AND w.state = 'wrap_up' AND w.started_at = c.ended_at
            AND w.ended_at >= from_at AND w.ended_at < to_at + interval '1 day'
     WHERE c.arrived_at >= from_at AND c.arrived_at < to_at
), flags AS (
    SELECT b.*,
           b.queued_at IS NOT NULL AS is_offered,
           b.queued_at IS NOT NULL AND b.outcome = 'answered' AS is_answered,
           b.queued_at IS NOT NULL AND b.outcome = 'abandoned' AS is_abandoned,
           CASE WHEN b.outcome = 'answered' AND NOT b.unfollowed AND b.ended_at IS NOT NULL
                THEN date_part('epoch', b.ended_at - b.answered_at) END AS talk
      FROM base b
)
SELECT x.call_id, x.caller, x.hotline, x.queue, x.agent, x.channel,
       -- 'PJSIP/trunk-00000012' -> 'PJSIP/trunk': the line, not the one channel
       regexp_replace(x.channel, '-[^-/]*$', '') AS channel_group,
       x.arrived_at, x.queued_at, x.answered_at, x.ended_at, x.outcome,
       x.is_offered, x.is_answered, x.is_abandoned,
       x.is_abandoned AND x.queue_wait_s < x.short_abandon_s AS short_abandon,
       x.outcome = 'failed' OR x.unfollowed AS cut_off,
       x.unfollowed,
       CASE WHEN x.is_offered THEN x.queue_wait_s END AS wait_s,
       x.total_s,
       x.talk,
       CASE WHEN x.talk IS NOT NULL THEN coalesce(x.wrapup_s, 0) END AS wrapup_s,
       x.talk + coalesce(x.wrapup_s, 0) AS handle_s,
       x.answer_within_s, x.sl_target,
       x.is_answered AND x.queue_wait_s <= x.answer_within_s AS within_objective,
       x.is_answered OR (x.is_abandoned AND x.queue_wait_s >= x.short_abandon_s) AS sl_counted,
       x.moves + (x.outcome = 'transferred')::integer AS transfers
  FROM flags x
$$;

CREATE VIEW report_calls AS
    SELECT * FROM report_calls_between('-infinity', 'infinity');

-- Seconds each agent spent in each state (and pause reason) inside [from_at, to_at):
-- intervals that straddle a bound count only their part inside.
CREATE FUNCTION report_agent_time_between(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (agent_id text, state text, reason text, seconds double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT a.agent_id, a.state, a.reason,
       sum(date_part('epoch', least(a.ended_at, to_at) - greatest(a.started_at, from_at)))
  FROM agent_state_intervals a
 WHERE a.ended_at > from_at AND a.started_at < to_at
 GROUP BY a.agent_id, a.state, a.reason
$$;
