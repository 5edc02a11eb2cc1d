-- 0007_restart_state: what a restarted ccqueue reads back to carry on.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.
--
-- * agent_presence: one row per agent, its login and pause as they stand (written on
--   every change; a write only lands when it is not older than the stored one). At
--   start-up ccqueue gives every agent its presence back.
-- * calls.ended_at of a call that ended while ccqueue was away comes from what the
--   dialplan left in Asterisk's database (family ccqueue-away), keyed by the caller's
--   uniqueid: away_uniqueid is that key, unique, so a second reading of the same entry
--   never adds a second row.

CREATE TABLE agent_presence (
    agent_id    text PRIMARY KEY,
    presence    text NOT NULL CHECK (presence IN ('logged_out', 'available', 'paused')),
    reason      text,
    since       timestamptz NOT NULL,
    at          timestamptz NOT NULL
);

ALTER TABLE calls ADD COLUMN away_uniqueid text;

CREATE UNIQUE INDEX calls_away_uniqueid_key ON calls (away_uniqueid) WHERE away_uniqueid IS NOT NULL;
