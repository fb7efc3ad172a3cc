-- An email-address change is told to the old address and the new one: one event may now
-- give two notifications on a channel. Each has its own deterministic notification_id
-- (the primary key keeps a redelivered event from sending twice); the event's
-- notifications are still found by source_event_id.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_source_event_id_channel_key;
CREATE INDEX IF NOT EXISTS notifications_source_event ON notifications (source_event_id, channel);
