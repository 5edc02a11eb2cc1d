-- 0009_report_summary: the call figures of whole UTC days, summarised once, so that a
-- month's report adds up some forty thousand summary rows instead of re-deriving a
-- million and a half calls.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.
--
-- What is here:
--   report_call_summary        per 15-minute UTC slot of arrival, queue, hotline and
--                              channel group: the sums and counts `ccqueue report`
--                              derives from report_calls_between (and the surveys)
--   report_summary_days        one row per UTC day that has records: whether its
--                              summary is up to date (stale = false) or not
--   report_summarise_day(day)  (re)builds one day's summary; idempotent
--   triggers                   any write that can change a day's figures marks it stale
--
-- Rules kept here:
-- 1. A summarised day holds exactly what report_calls_between(day, day + 1) says,
--    surveys joined as the report joins them. The report uses a day's summary only
--    while it is not stale and computes every other part of its period from the calls.
-- 2. Every write that can change a day's figures marks that day stale, in the same
--    transaction: a call (the day it arrived), a timeline event or a wrap-up interval
--    (its day and the day before: report_calls_between looks for them until a day after
--    the period), a survey (the day its call arrived), and any change to
--    report_objectives (every day). The writer's statement-level trigger upserts the
--    day's row, so it holds that row's lock until it commits, and a summary being built
--    for that day waits for it (or it waits for the summary and marks it stale after).
-- 3. Slots are 15 minutes of UTC: every time zone in use today is a whole number of
--    quarter hours from UTC, so a local interval or day is a union of slots.

CREATE TABLE report_summary_days (
    day            date PRIMARY KEY,  -- a UTC day
    stale          boolean NOT NULL DEFAULT true,
    summarised_at  timestamptz
);

CREATE TABLE report_call_summary (
    slot               timestamptz NOT NULL,  -- start of the 15-minute UTC slot the calls arrived in
    queue              text,
    hotline            text,
    channel_group      text,
    offered            bigint NOT NULL,
    answered           bigint NOT NULL,
    abandoned          bigint NOT NULL,  -- short abandons excluded
    short_abandoned    bigint NOT NULL,
    cut_off            bigint NOT NULL,
    within_objective   bigint NOT NULL,
    sl_counted         bigint NOT NULL,
    answered_waits     bigint NOT NULL,            -- answered calls with a wait
    answered_wait_sum  double precision NOT NULL,  -- ASA = sum / answered_waits
    handled            bigint NOT NULL,            -- answered calls whose handle time is known
    handle_sum         double precision NOT NULL,  -- AHT = sum / handled
    longest_wait_s     double precision,           -- NULL: nobody waited
    talk_s             double precision NOT NULL,
    transfers          bigint NOT NULL,
    rated              bigint NOT NULL,
    satisfied          bigint NOT NULL,
    recommend_answers  bigint NOT NULL,
    promoters          bigint NOT NULL,
    detractors         bigint NOT NULL
);

CREATE INDEX report_call_summary_slot_idx ON report_call_summary (slot);

CREATE FUNCTION report_summarise_day(d date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    from_at timestamptz := d::timestamp AT TIME ZONE 'UTC';
    to_at   timestamptz := (d + 1)::timestamp AT TIME ZONE 'UTC';
    n bigint;
BEGIN
    -- One builder at a time; the day's row locked first (rule 2).
    PERFORM pg_advisory_xact_lock(hashtext('ccqueue report_call_summary'));
    INSERT INTO report_summary_days (day, stale, summarised_at) VALUES (d, false, now())
    ON CONFLICT (day) DO UPDATE SET stale = false, summarised_at = now();
    DELETE FROM report_call_summary WHERE slot >= from_at AND slot < to_at;
    INSERT INTO report_call_summary
    SELECT date_bin(interval '15 minutes', r.arrived_at, timestamptz '2000-01-01 00:00+00'),
           r.queue, r.hotline, r.channel_group,
           count(*) FILTER (WHERE r.offered),
           count(*) FILTER (WHERE r.answered),
           count(*) FILTER (WHERE r.abandoned AND NOT r.short_abandon),
           count(*) FILTER (WHERE r.short_abandon),
           count(*) FILTER (WHERE r.cut_off),
           count(*) FILTER (WHERE r.within_objective),
           count(*) FILTER (WHERE r.sl_counted),
           count(r.wait_s) FILTER (WHERE r.answered),
           coalesce(sum(r.wait_s) FILTER (WHERE r.answered), 0),
           count(r.handle_s),
           coalesce(sum(r.handle_s), 0),
           max(r.wait_s),
           coalesce(sum(r.talk_s), 0),
           coalesce(sum(r.transfers), 0),
           count(s.rating),
           count(*) FILTER (WHERE s.rating >= 4),
           count(s.recommend),
           count(*) FILTER (WHERE s.recommend >= 9),
           count(*) FILTER (WHERE s.recommend <= 6)
      FROM report_calls_between(from_at, to_at) r
      LEFT JOIN surveys s ON s.call_id = r.call_id
     GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Rule 2: mark days stale. The days come from the statement's transition table.
CREATE FUNCTION report_mark_days_stale(days date[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO report_summary_days (day, stale)
    SELECT DISTINCT d, true FROM unnest(days) AS u(d) WHERE d IS NOT NULL
    ORDER BY 1  -- the same lock order in every writer
    ON CONFLICT (day) DO UPDATE SET stale = true;
$$;

CREATE FUNCTION report_stale_calls() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_mark_days_stale(ARRAY(SELECT DISTINCT (arrived_at AT TIME ZONE 'UTC')::date FROM changed));
    RETURN NULL;
END
$$;

-- An event or a wrap-up counts for calls that arrived its day or the day before.
CREATE FUNCTION report_stale_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_mark_days_stale(ARRAY(
        SELECT DISTINCT (e.at AT TIME ZONE 'UTC')::date - o.k FROM changed e, (VALUES (0), (1)) AS o(k)));
    RETURN NULL;
END
$$;

CREATE FUNCTION report_stale_wrapups() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_mark_days_stale(ARRAY(
        SELECT DISTINCT (w.ended_at AT TIME ZONE 'UTC')::date - o.k
          FROM changed w, (VALUES (0), (1)) AS o(k) WHERE w.state = 'wrap_up'));
    RETURN NULL;
END
$$;

CREATE FUNCTION report_stale_surveys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_mark_days_stale(ARRAY(
        SELECT DISTINCT (c.arrived_at AT TIME ZONE 'UTC')::date FROM changed s JOIN calls c ON c.call_id = s.call_id));
    RETURN NULL;
END
$$;

CREATE FUNCTION report_stale_objectives() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE report_summary_days SET stale = true WHERE NOT stale;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION report_stale_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE report_summary_days SET stale = true WHERE NOT stale;
    RETURN NULL;
END
$$;

-- A trigger with transition tables takes one event, hence one per event; TRUNCATE has
-- no transition table and marks every day.
CREATE TRIGGER report_stale_calls_ins AFTER INSERT ON calls
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_calls();
CREATE TRIGGER report_stale_calls_upd AFTER UPDATE ON calls
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_calls();
CREATE TRIGGER report_stale_calls_del AFTER DELETE ON calls
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_calls();

CREATE TRIGGER report_stale_events_ins AFTER INSERT ON call_events
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_events();
CREATE TRIGGER report_stale_events_upd AFTER UPDATE ON call_events
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_events();
CREATE TRIGGER report_stale_events_del AFTER DELETE ON call_events
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_events();

CREATE TRIGGER report_stale_intervals_ins AFTER INSERT ON agent_state_intervals
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_wrapups();
CREATE TRIGGER report_stale_intervals_upd AFTER UPDATE ON agent_state_intervals
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_wrapups();
CREATE TRIGGER report_stale_intervals_del AFTER DELETE ON agent_state_intervals
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_wrapups();

CREATE TRIGGER report_stale_surveys_ins AFTER INSERT ON surveys
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_surveys();
CREATE TRIGGER report_stale_surveys_upd AFTER UPDATE ON surveys
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_surveys();
CREATE TRIGGER report_stale_surveys_del AFTER DELETE ON surveys
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_surveys();

CREATE TRIGGER report_stale_objectives_ins AFTER INSERT ON report_objectives
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_objectives();
CREATE TRIGGER report_stale_objectives_upd AFTER UPDATE ON report_objectives
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_objectives();
CREATE TRIGGER report_stale_objectives_del AFTER DELETE ON report_objectives
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION report_stale_objectives();

CREATE TRIGGER report_stale_truncate_calls AFTER TRUNCATE ON calls FOR EACH STATEMENT EXECUTE FUNCTION report_stale_all();
CREATE TRIGGER report_stale_truncate_events AFTER TRUNCATE ON call_events FOR EACH STATEMENT EXECUTE FUNCTION report_stale_all();
CREATE TRIGGER report_stale_truncate_intervals AFTER TRUNCATE ON agent_state_intervals
    FOR EACH STATEMENT EXECUTE FUNCTION report_stale_all();
CREATE TRIGGER report_stale_truncate_surveys AFTER TRUNCATE ON surveys FOR EACH STATEMENT EXECUTE FUNCTION report_stale_all();
CREATE TRIGGER report_stale_truncate_objectives AFTER TRUNCATE ON report_objectives
    FOR EACH STATEMENT EXECUTE FUNCTION report_stale_all();

-- The days already recorded: none summarised yet.
INSERT INTO report_summary_days (day)
SELECT DISTINCT (arrived_at AT TIME ZONE 'UTC')::date FROM calls
ON CONFLICT DO NOTHING;
