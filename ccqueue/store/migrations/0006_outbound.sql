-- 0006_outbound: campaigns' run states, contact lists, dial attempts with their
-- timelines, and the do-not-call list.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- Whether each campaign dials: set through the API, read back at start-up. A campaign
-- with no row is stopped.
CREATE TABLE campaign_runs (
    campaign    text PRIMARY KEY,
    state       text NOT NULL CHECK (state IN ('stopped', 'running', 'paused')),
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per number of a campaign's list (ccqueue.store.outbound). A number is in a
-- campaign once: a second import of it is reported, never a second row.
CREATE TABLE contacts (
    contact_id    bigserial PRIMARY KEY,
    campaign      text NOT NULL,
    number        text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),  -- E.164
    name          text NOT NULL DEFAULT '',
    tz            text,  -- IANA zone from the list; NULL: the number's, else the campaign's
    fields        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- the list's other columns
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at       timestamptz NOT NULL DEFAULT now(),  -- not dialled before
    locked_until  timestamptz,  -- abandon lock: not dialled again before, unless progressive
    done          boolean NOT NULL DEFAULT false,
    outcome       text,  -- the last attempt's
    imported_at   timestamptz NOT NULL DEFAULT now(),
    source_line   integer,  -- its line in the imported file
    CONSTRAINT contacts_campaign_number_key UNIQUE (campaign, number)
);

-- The dialer reads the contacts due next; finished ones pile up and are left out.
CREATE INDEX contacts_due_idx ON contacts (campaign, next_at) WHERE NOT done;

-- One row per dial, rewritten as it progresses: a rewrite lands only when its version
-- is newer, as for calls, so a spool replay never undoes a newer state.
-- attempt_id is also the Originate ChannelId.
CREATE TABLE attempts (
    attempt_id    text PRIMARY KEY,
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    campaign      text NOT NULL,
    contact_id    bigint,
    number        text NOT NULL,
    started_at    timestamptz NOT NULL,
    answered_at   timestamptz,
    connected_at  timestamptz,  -- an agent joined
    ended_at      timestamptz,
    amd           text CHECK (amd IN ('HUMAN', 'MACHINE', 'NOTSURE', 'HANGUP')),
    agent_id      text,
    outcome       text CHECK (outcome IN ('connected', 'abandoned', 'machine', 'busy', 'no_answer',
                                          'failed', 'opted_out', 'broadcast_heard', 'skipped')),
    abandoned     boolean NOT NULL DEFAULT false,
    safe_harbour  boolean NOT NULL DEFAULT false,
    message_left  boolean NOT NULL DEFAULT false,
    hangup_cause  text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The pacer's windows are restored from the last 30 days of one campaign's attempts.
CREATE INDEX attempts_campaign_started_idx ON attempts (campaign, started_at);
CREATE INDEX attempts_contact_idx ON attempts (contact_id);

-- The timeline of one attempt, as call_events is for inbound calls: append-only.
CREATE TABLE attempt_events (
    event_id    text PRIMARY KEY,
    attempt_id  text NOT NULL,
    seq         integer NOT NULL CHECK (seq >= 0),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT attempt_events_attempt_id_seq_key UNIQUE (attempt_id, seq)
);

CREATE FUNCTION attempt_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attempt_events is append-only: % rejected', TG_OP
        USING ERRCODE = 'raise_exception',
              HINT = 'write a new event instead of changing an old one';
END
$$;

CREATE TRIGGER attempt_events_append_only
    BEFORE UPDATE OR DELETE ON attempt_events
    FOR EACH ROW EXECUTE FUNCTION attempt_events_append_only();

-- Numbers never dialled, by any campaign.
CREATE TABLE do_not_call (
    number    text PRIMARY KEY CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),  -- E.164
    added_at  timestamptz NOT NULL DEFAULT now(),
    source    text NOT NULL CHECK (source IN ('import', 'api', 'opt_out'))
);
