-- The identity service's own tables. No column holds a full SSN in clear text: only its
-- keyed hash (HMAC-SHA256) and its AES-GCM ciphertext with the id of the key used.

-- One member per household: the subscriber named on the household's enrollments.
CREATE TABLE members (
    member_id        uuid PRIMARY KEY,
    household_id     text NOT NULL UNIQUE,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    first_name_norm  text NOT NULL,          -- case-folded, trimmed: what lookups compare
    last_name_norm   text NOT NULL,
    date_of_birth    date NOT NULL,
    ssn_hash         bytea,                  -- HMAC-SHA256(key, ssn)
    ssn_encrypted    bytea,                  -- nonce || AES-GCM(ssn)
    ssn_key_id       text,
    email            text,
    phone            text,
    language         text NOT NULL DEFAULT 'en',
    email_enabled    boolean NOT NULL DEFAULT true,
    sms_enabled      boolean NOT NULL DEFAULT false,
    contact_source   text NOT NULL DEFAULT 'enrollment' CHECK (contact_source IN ('enrollment', 'member')),
    last_event_at    timestamptz NOT NULL,   -- newest enrollment event applied (older ones do not overwrite)
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_ssn_hash ON members (ssn_hash) WHERE ssn_hash IS NOT NULL;

CREATE TABLE enrollments (
    enrollment_id      text PRIMARY KEY,
    household_id       text NOT NULL,
    plan_type          text NOT NULL CHECK (plan_type IN ('health', 'dental')),
    coverage_year      int  NOT NULL,
    coverage_start     date NOT NULL,
    plan_name          text NOT NULL,
    carrier            text NOT NULL,
    shopped_at         timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'terminated')),
    termination_reason text,
    terminated_on      date,
    last_event_at      timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrollments_household ON enrollments (household_id, plan_type);

-- Every enrollment event applied, in order: terminations and updates keep their history.
-- `detail` holds the non-identifying fields only (never the subscriber's SSN).
CREATE TABLE enrollment_history (
    event_id      uuid PRIMARY KEY,
    enrollment_id text NOT NULL,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    detail        jsonb NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrollment_history_enrollment ON enrollment_history (enrollment_id, occurred_at);

-- Billing account numbers announced by billing (`account.opened`).
CREATE TABLE billing_accounts (
    billing_account_number text PRIMARY KEY,
    household_id           text NOT NULL,
    plan_type              text NOT NULL,
    opened_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (household_id, plan_type)
);

-- Portal accounts (one per member).
CREATE TABLE accounts (
    member_id       uuid PRIMARY KEY REFERENCES members (member_id),
    username        text NOT NULL,
    username_norm   text NOT NULL UNIQUE,
    email           text NOT NULL,
    password_hash   text NOT NULL,           -- argon2id
    failed_logins   int  NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_email ON accounts (lower(email));

-- Password reset tokens: only the SHA-256 of the token is stored; single use, expiring.
CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,
    member_id   uuid NOT NULL REFERENCES members (member_id),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_member ON password_resets (member_id) WHERE used_at IS NULL;

-- Throttle counters, fixed windows, shared by every replica. Subjects are keyed hashes
-- (a target ID may be an SSN). Unlogged: a crash may forget a few counts, never a member.
CREATE UNLOGGED TABLE throttle_counters (
    scope        text NOT NULL,
    subject      bytea NOT NULL,
    window_start timestamptz NOT NULL,
    hits         int NOT NULL,
    PRIMARY KEY (scope, subject, window_start)
);
CREATE INDEX throttle_counters_window ON throttle_counters (window_start);
