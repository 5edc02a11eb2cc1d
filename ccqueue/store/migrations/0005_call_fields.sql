-- 0005_call_fields: the figures reports and metrics share, carried by the records.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.
--
-- * calls.queued_at: when the call first joined a queue (NULL: never did). The wait
--   of docs/reports.md ("Definitions") runs from it; rows written before this
--   migration have it NULL and the report falls back to their first `call_queued`
--   event, as 0004 did.
-- * agent_state_intervals.call_id: the call an agent's ringing, on_call or wrap_up
--   interval served (NULL for other states, callbacks and older rows). A call's
--   wrap-up is the `wrap_up` interval carrying its id; for older rows, the agent's
--   `wrap_up` interval that began when the call ended, as 0004 read it.

ALTER TABLE calls ADD COLUMN queued_at timestamptz;

ALTER TABLE agent_state_intervals ADD COLUMN call_id text;

CREATE INDEX agent_state_intervals_call_id_idx
    ON agent_state_intervals (call_id) WHERE call_id IS NOT NULL;

-- report_calls_between as in 0004, with queued_at and the wrap-up read from the new
-- columns when a row has them. Same signature and columns: report_calls (a view over
-- it) stays as it is.
CREATE OR REPLACE FUNCTION report_calls_between(from_at timestamptz, to_at timestamptz)
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
           c.answered_at, c.ended_at, c.outcome, c.wait_s AS total_s,
           coalesce(c.queued_at, m.queued_at) AS queued_at,
           coalesce(m.unfollowed, false) AS unfollowed,
           coalesce(m.moves, 0) AS moves,
           coalesce(o.answer_within_s, f.answer_within_s) AS answer_within_s,
           coalesce(o.target, f.target) AS sl_target,
           coalesce(o.short_abandon_s, f.short_abandon_s) AS short_abandon_s,
           date_part('epoch', coalesce(w.ended_at - w.started_at, v.ended_at - v.started_at)) AS wrapup_s,
           date_part('epoch', coalesce(c.answered_at, c.ended_at) - coalesce(c.queued_at, m.queued_at)) AS queue_wait_s
      FROM calls c
      LEFT JOIN marks m ON m.call_id = c.call_id
      LEFT JOIN report_objectives o ON o.queue = c.queue
      CROSS JOIN fallback f
      LEFT JOIN agent_state_intervals w
             ON w.call_id = c.call_id AND w.state = 'wrap_up'
            AND w.ended_at >= from_at AND w.ended_at < to_at + interval '1 day'
      LEFT JOIN agent_state_intervals v
             ON v.call_id IS NULL AND v.agent_id = c.agent AND v.state = 'wrap_up' AND v.started_at = c.ended_at
            AND v.ended_at >= from_at AND v.ended_at < to_at + interval '1 day'
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
