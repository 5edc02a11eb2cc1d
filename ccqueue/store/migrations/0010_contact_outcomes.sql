-- 0010_contact_outcomes: how often each outcome ended a contact's attempts, so that a
-- campaign's retry rule (`retry: {busy: {max_tries: 3}}`) counts busy lines, not all tries.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- {"busy": 2, "no_answer": 1}: outcome value -> attempts that ended so. Written whole by
-- the dialer with each contact mark (a replay rewrites the same counts).
ALTER TABLE contacts ADD COLUMN outcome_counts jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(outcome_counts) = 'object');

-- Contacts dialled before this migration: their counts from the attempts recorded.
UPDATE contacts c SET outcome_counts = s.counts
  FROM (SELECT contact_id, jsonb_object_agg(outcome, n) AS counts
          FROM (SELECT contact_id, outcome, count(*) AS n FROM attempts
                 WHERE contact_id IS NOT NULL AND outcome IS NOT NULL
                 GROUP BY contact_id, outcome) per_outcome
         GROUP BY contact_id) s
 WHERE c.contact_id = s.contact_id;
