-- The backbone's tables, present in every service's database.

-- Transactional outbox: rows are written in the same transaction as the state change;
-- the relay publishes them (since 0002 it deletes them once Kafka has confirmed them).
CREATE TABLE IF NOT EXISTS outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    key           text        NOT NULL,
    event_type    text        NOT NULL,
    event_version int         NOT NULL,
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Idempotent consumers: an event id recorded in the same transaction as its effect.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer_group text        NOT NULL,
    event_id       uuid        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    dead_lettered  boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (consumer_group, event_id)
);
