-- What an operator reads before replaying: the dead letter's error (redacted like the
-- copy on dlq.<group>), its event type, and how many attempts it had.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS event_type text;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS attempts int;
CREATE INDEX IF NOT EXISTS dead_letters_waiting ON dead_letters (consumer_group, created_at)
    WHERE replayed_at IS NULL;
