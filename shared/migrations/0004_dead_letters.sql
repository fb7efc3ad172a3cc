-- Dead letters' originals, for replay: the record exactly as consumed (value, key and
-- headers), sealed with AES-GCM under one of the service's dead-letter keys. The copy on
-- `dlq.<group>` is redacted and names its row here by `dead_letter_id`.
CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id uuid PRIMARY KEY,
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      int         NOT NULL,
    "offset"       bigint      NOT NULL,
    event_id       uuid,                    -- the envelope's, when the value had one
    key_id         text        NOT NULL,
    sealed         bytea       NOT NULL,    -- nonce || AES-GCM(record)
    created_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at    timestamptz
);
