-- A notification's message (recipient, rendered subject and bodies: about 2 KB) is written
-- once and never changes; its delivery state (the claim's lease, attempts, the outcome)
-- changes two or three times on the way out. Kept in one row, each change wrote the whole
-- message again, with a new entry in each of its five indexes. The state now has a narrow
-- table of its own (two indexes); the message table is only ever inserted into.
-- `notifications` stays the name of the whole record, as a view of the two.
CREATE TABLE notification_state (
    notification_id uuid PRIMARY KEY,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        int  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    provider_id     text,
    sent_at         timestamptz
);

INSERT INTO notification_state
    (notification_id, status, attempts, next_attempt_at, last_error, provider_id, sent_at)
SELECT notification_id, status, attempts, next_attempt_at, last_error, provider_id, sent_at
FROM notifications;

CREATE INDEX notification_state_due ON notification_state (next_attempt_at)
    WHERE status = 'pending';

ALTER TABLE notifications RENAME TO notification_messages;
ALTER TABLE notification_messages
    DROP COLUMN status, DROP COLUMN attempts, DROP COLUMN next_attempt_at,
    DROP COLUMN last_error, DROP COLUMN provider_id, DROP COLUMN sent_at;
ALTER TABLE notification_state ADD FOREIGN KEY (notification_id)
    REFERENCES notification_messages (notification_id);

CREATE VIEW notifications AS
SELECT m.*, s.status, s.attempts, s.next_attempt_at, s.last_error, s.provider_id, s.sent_at
FROM notification_messages m JOIN notification_state s USING (notification_id);
