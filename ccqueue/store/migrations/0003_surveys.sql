-- 0003_surveys: the caller's answers to the post-call survey, one row per call.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- A survey is answered once per call; a second write of the same call (a retry, a
-- spool replay) is skipped by ON CONFLICT DO NOTHING (see ccqueue.store.tables). No
-- foreign key to calls: the survey may reach the database before the call's summary.
CREATE TABLE surveys (
    call_id      text PRIMARY KEY,
    rating       smallint CHECK (rating BETWEEN 1 AND 5),      -- NULL: not answered
    recommend    smallint CHECK (recommend BETWEEN 0 AND 10),  -- NULL: not answered
    answered_at  timestamptz NOT NULL
);

CREATE INDEX surveys_answered_at_idx ON surveys (answered_at);
