-- The W3C trace context of the action that wrote the event (NULL while tracing is off);
-- the relay sends it as the Kafka record's `traceparent` header.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
