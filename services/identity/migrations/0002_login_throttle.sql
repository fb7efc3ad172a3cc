-- Log-in throttling replaces the account lockout: wrong passwords are counted per username
-- and client address ('pair') and per username ('user'), whether or not the username has
-- an account, and pause log-ins for a growing delay instead of locking the account.
-- Subjects are keyed hashes (the username and address are not kept); `user_subject` lets a
-- password reset forget every count of its username.
CREATE TABLE login_failures (
    scope           text        NOT NULL CHECK (scope IN ('pair', 'user')),
    subject         bytea       NOT NULL,
    user_subject    bytea       NOT NULL,
    failures        int         NOT NULL,
    blocked_until   timestamptz,
    last_failure_at timestamptz NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_failures_user ON login_failures (user_subject);
CREATE INDEX login_failures_last ON login_failures (last_failure_at);

ALTER TABLE accounts DROP COLUMN failed_logins, DROP COLUMN locked_until;
