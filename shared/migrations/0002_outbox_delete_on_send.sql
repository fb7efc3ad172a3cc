-- The relay now deletes a row once Kafka has confirmed it, in the transaction that claimed
-- it, instead of marking it sent: a row in the outbox is an event not yet published.
-- Rows already marked sent were published; the index of unsent rows and the mark go.
DELETE FROM outbox WHERE sent_at IS NOT NULL;
DROP INDEX IF EXISTS outbox_unsent;
ALTER TABLE outbox DROP COLUMN IF EXISTS sent_at;
