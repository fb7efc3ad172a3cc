-- The gateway keeps nothing durable but sessions and one-use CAPTCHA challenges.
CREATE TABLE IF NOT EXISTS sessions (
    session_id_hash bytea PRIMARY KEY,          -- sha256 of the cookie value
    member_id text NOT NULL,
    username text NOT NULL,
    csrf_token text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS captcha_challenges (
    captcha_id text PRIMARY KEY,
    answer text NOT NULL,                       -- short-lived, used once
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX IF NOT EXISTS captcha_challenges_expires_at ON captcha_challenges (expires_at);
