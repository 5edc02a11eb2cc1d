-- 0002_callbacks: durable callbacks, and the call outcomes that came with them.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- One row per callback, rewritten as it progresses. As for calls, a rewrite only lands
-- when its version is newer (see ccqueue.store.tables.write_records), so a spool replay
-- or a late, older record never undoes a newer state.
CREATE TABLE callbacks (
    callback_id      text PRIMARY KEY,
    version          integer NOT NULL CHECK (version >= 1),
    queue            text NOT NULL,
    number           text NOT NULL,  -- E.164
    status           text NOT NULL
        CHECK (status IN ('pending', 'dialing', 'completed', 'failed', 'expired', 'cancelled')),
    requested_at     timestamptz NOT NULL,
    place_at         timestamptz NOT NULL,  -- its place in line
    not_before       timestamptz,
    expires_at       timestamptz NOT NULL,
    attempts         integer NOT NULL CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    call_id          text,  -- the call it came from (none when asked for through the API)
    agent            text,  -- the agent of the last attempt
    result           text,  -- the last attempt's dial status: ANSWER, BUSY, NOANSWER, ...
    updated_at       timestamptz NOT NULL DEFAULT now()  -- when this row was last written
);

-- Start-up reads every open callback (ccqueue.store.restore); open ones are few, closed
-- ones pile up, so the index holds the open ones only.
CREATE INDEX callbacks_open_idx ON callbacks (queue, place_at)
    WHERE status IN ('pending', 'dialing');
CREATE INDEX callbacks_number_idx ON callbacks (number, requested_at);

-- Every CallOutcome of ccqueue.core.records. The constraint is the one 0001 declared
-- on the column, under PostgreSQL's default name.
ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
ALTER TABLE calls ADD CONSTRAINT calls_outcome_check
    CHECK (outcome IN ('waiting', 'answered', 'abandoned', 'refused', 'failed', 'overflowed',
                       'callback', 'voicemail', 'self_service', 'transferred'));
