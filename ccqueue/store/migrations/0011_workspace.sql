-- 0011_workspace: the agent's wrap-up (a disposition code and a note per call), and the
-- indexes the screen-pop's customer history reads by number.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- One row per call the agent wrapped up. Rewritten when the agent corrects it (the last
-- word counts; every save is in audit_log through the HTTP API). The note is free text
-- about a customer: it is personal data, and erasure covers this table.
CREATE TABLE call_notes (
    call_id      text PRIMARY KEY,
    agent        text NOT NULL,
    disposition  text NOT NULL CHECK (disposition ~ '^[a-z0-9_-]{1,64}$'),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    saved_at     timestamptz NOT NULL,
    saved_by     text NOT NULL  -- the signed-in user (the agent, or a supervisor for it)
);

CREATE INDEX call_notes_saved_at_idx ON call_notes (saved_at);

-- The customer's history: every channel, newest first, by number. With these (and 0002's
-- callbacks_number_idx, read backwards), a number with thousands of earlier calls is one
-- short index range scan per table.
CREATE INDEX calls_caller_arrived_at_idx ON calls (caller, arrived_at DESC);
CREATE INDEX attempts_number_started_at_idx ON attempts (number, started_at DESC);

-- Calls by disposition, per queue, over calls that arrived in [from_at, to_at): for the
-- reports (a call without a wrap-up saved counts under NULL).
CREATE FUNCTION report_dispositions_between(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (queue text, disposition text, calls bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT c.queue, n.disposition, count(*) AS calls
  FROM calls c
  LEFT JOIN call_notes n ON n.call_id = c.call_id
 WHERE c.arrived_at >= from_at AND c.arrived_at < to_at
   AND c.outcome = 'answered'
 GROUP BY c.queue, n.disposition
$$;
