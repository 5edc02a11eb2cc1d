-- 0013_standby: the fencing epoch of an active/standby pair (docs/standby.md).
--
-- Applied by ccqueue.store.migrate inside one transaction; never edit this file once
-- released: add a higher-numbered file instead.

-- One row. The process that takes the pair's advisory lock adds one to `epoch` in the
-- transaction that confirms it holds the lock; every record batch it writes later
-- reads the row (FOR SHARE) and is refused if the epoch has moved on, so an active
-- that lost the lock cannot write behind its successor's back.
CREATE TABLE ccqueue_lease (
    id        smallint PRIMARY KEY CHECK (id = 1),
    epoch     bigint NOT NULL CHECK (epoch >= 0),
    holder    text NOT NULL,
    taken_at  timestamptz NOT NULL
);
INSERT INTO ccqueue_lease (id, epoch, holder, taken_at) VALUES (1, 0, '', now());
