-- The trace of the event a notification was made for (NULL while tracing is off): the
-- sender's span for its delivery continues it, so the email is part of the member's trace.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS traceparent text;
