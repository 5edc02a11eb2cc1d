-- 0001_init: calls, their append-only event timeline, agent state intervals.
--
-- Times are timestamptz (the engine's epoch seconds, converted by ccqueue.store).
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add 0002_*.sql instead.

-- One row per call, rewritten as the call progresses. A rewrite only lands when its
-- version is newer (see ccqueue.store.tables.write_records).
CREATE TABLE calls (
    call_id      text PRIMARY KEY,
    version      integer NOT NULL CHECK (version >= 1),
    caller       text NOT NULL,
    hotline      text NOT NULL,
    queue        text,
    agent        text,
    channel      text NOT NULL DEFAULT '',
    arrived_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    ended_at     timestamptz,
    outcome      text NOT NULL
        CHECK (outcome IN ('waiting', 'answered', 'abandoned', 'refused', 'failed')),
    -- Seconds the caller waited: until answered, else until the call ended; NULL
    -- while the caller is still waiting.
    wait_s       double precision GENERATED ALWAYS AS (
        extract(epoch FROM coalesce(answered_at, ended_at) - arrived_at)::double precision
    ) STORED
);

CREATE INDEX calls_arrived_at_idx ON calls (arrived_at);
CREATE INDEX calls_queue_arrived_at_idx ON calls (queue, arrived_at);

-- A call's timeline. No foreign key to calls: an event may reach the database in an
-- earlier batch than the first summary of its call.
CREATE TABLE call_events (
    event_id  text PRIMARY KEY,
    call_id   text NOT NULL,
    seq       integer NOT NULL CHECK (seq >= 0),
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    data      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Its index also serves look-ups by call_id alone (the leading column).
    CONSTRAINT call_events_call_id_seq_key UNIQUE (call_id, seq)
);

-- Append-only: what happened is never rewritten. Retention is a job for the table
-- owner (TRUNCATE, or ALTER TABLE ... DISABLE TRIGGER for a dated DELETE).
CREATE FUNCTION call_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'call_events is append-only: % rejected', TG_OP
        USING ERRCODE = 'raise_exception',
              HINT = 'write a new event instead of changing an old one';
END
$$;

CREATE TRIGGER call_events_append_only
    BEFORE UPDATE OR DELETE ON call_events
    FOR EACH ROW EXECUTE FUNCTION call_events_append_only();

-- Closed intervals an agent spent in one state, for time-in-state reports.
CREATE TABLE agent_state_intervals (
    interval_id  text PRIMARY KEY,
    agent_id     text NOT NULL,
    state        text NOT NULL,
    reason       text,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL
);

CREATE INDEX agent_state_intervals_agent_started_idx
    ON agent_state_intervals (agent_id, started_at);
