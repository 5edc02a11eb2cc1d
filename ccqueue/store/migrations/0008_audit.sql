-- 0008_audit: every state-changing request to the HTTP API, accepted or refused.
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- Append-only: a row is written once (ON CONFLICT DO NOTHING on audit_id, so a spool
-- replay of a row already written changes nothing) and never updated. Who asked
-- (actor, role, via: session, token or none), what (method, path, the route matched),
-- when, from where (remote: the peer's address), and how it ended (status, outcome:
-- accepted, refused or failed, and the error id). A request's body is not kept: it may
-- hold a password (sign-in) or a customer's number.
CREATE TABLE audit_log (
    audit_id  text PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text,
    role      text CHECK (role IN ('agent', 'supervisor', 'admin')),
    via       text NOT NULL CHECK (via IN ('session', 'token', 'none')),
    method    text NOT NULL,
    path      text NOT NULL,
    route     text,
    remote    text,
    status    smallint NOT NULL CHECK (status BETWEEN 100 AND 599),
    outcome   text NOT NULL CHECK (outcome IN ('accepted', 'refused', 'failed')),
    error     text
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_at_idx ON audit_log (actor, at);
