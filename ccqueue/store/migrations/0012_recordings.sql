-- 0012_recordings: call recordings, and the bookkeeping of personal-data erasure.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a later migration instead.

-- One row per recording (one per answered agent leg), rewritten when its call ends: a
-- rewrite only lands when its version is newer. ``file`` is relative to the recordings
-- folder (recordings.directory) and made by ccqueue (ccqueue.core.recording): a day and
-- the recording's id, never anything a caller or a request sent.
CREATE TABLE recordings (
    recording_id  text PRIMARY KEY CHECK (recording_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[0-9]{1,6})?$'),
    version       integer NOT NULL CHECK (version >= 1),
    call_id       text NOT NULL,
    queue         text,
    agent_id      text NOT NULL,
    file          text NOT NULL
        CHECK (file ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[0-9]{1,6})?\.wav$'),
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

CREATE INDEX recordings_call_id_idx ON recordings (call_id);
CREATE INDEX recordings_queue_started_idx ON recordings (queue, started_at);

-- Recordings deleted by the purge or an erasure: a late write of one (a replayed spool)
-- must not bring its row back.
CREATE TABLE recordings_gone (
    recording_id  text PRIMARY KEY,
    gone_at       timestamptz NOT NULL DEFAULT now()
);

-- The key of the keyed hash that stands in for an erased number (ccqueue_number_hash):
-- made here, once, at random, so that repeat erasures of a number give the same hash and
-- the do-not-call entry of an erased number still matches it, while the hash alone does
-- not give the number back. Whoever can read this table and a hash can test guesses:
-- grant it to ccqueue's own role only.
CREATE TABLE privacy_key (
    only_one  boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    key       text NOT NULL
);
INSERT INTO privacy_key (key)
VALUES (replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''));

CREATE FUNCTION ccqueue_number_hash(number text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(k.key || ':' || number, 'UTF8')), 'hex') FROM privacy_key k
$$;

-- An erased number that must still not be called: the do-not-call list keeps its hash
-- (the dialer's due-contacts query and is_do_not_call check it), never the number.
CREATE TABLE do_not_call_erased (
    number_hash  text PRIMARY KEY,
    added_at     timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL
);

-- One row per erasure carried out: who asked, when, the number's hash (never the number)
-- and how many rows and files went, by table.
CREATE TABLE erasures (
    erasure_id     text PRIMARY KEY,
    at             timestamptz NOT NULL,
    number_hash    text NOT NULL,
    actor          text,
    via            text NOT NULL,
    rows           jsonb NOT NULL DEFAULT '{}'::jsonb,
    files_deleted  integer NOT NULL DEFAULT 0,
    files_failed   jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX erasures_number_hash_idx ON erasures (number_hash);

-- The timelines stay append-only, except inside a transaction that says it erases or
-- purges (SET LOCAL ccqueue.rewrite = 'erasure' or 'retention'): the law's right to
-- erasure and a retention limit outrank "never rewritten".
CREATE OR REPLACE FUNCTION call_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('ccqueue.rewrite', true), '') IN ('erasure', 'retention') THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'call_events is append-only: % rejected', TG_OP
        USING ERRCODE = 'raise_exception',
              HINT = 'write a new event instead of changing an old one';
END
$$;

CREATE OR REPLACE FUNCTION attempt_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('ccqueue.rewrite', true), '') IN ('erasure', 'retention') THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'attempt_events is append-only: % rejected', TG_OP
        USING ERRCODE = 'raise_exception',
              HINT = 'write a new event instead of changing an old one';
END
$$;
