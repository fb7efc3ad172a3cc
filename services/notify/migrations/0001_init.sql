-- The notify service's own tables: its projections of other services' data, the
-- notification log (one row per source event and channel) and job runs.

-- A household's contact as the exchange's enrollment gave it (never the SSN).
CREATE TABLE household_contacts (
    household_id text PRIMARY KEY,
    first_name   text,
    email        text,
    phone        text,
    language     text NOT NULL DEFAULT 'en',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Billing accounts (from account.opened): which household, which plan.
CREATE TABLE accounts (
    billing_account_number text PRIMARY KEY,
    household_id           text NOT NULL,
    plan_type              text,
    aptc                   boolean NOT NULL DEFAULT false
);
CREATE INDEX accounts_household ON accounts (household_id);

-- Portal members: their own contact and channel preferences (identity events).
CREATE TABLE members (
    member_id     text PRIMARY KEY,
    first_name    text,
    email         text,
    phone         text,
    language      text NOT NULL DEFAULT 'en',
    email_enabled boolean NOT NULL DEFAULT true,
    sms_enabled   boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE member_accounts (
    member_id              text NOT NULL REFERENCES members (member_id),
    billing_account_number text NOT NULL,
    PRIMARY KEY (billing_account_number, member_id)
);

-- What is owed (balance.changed) and whether autopay covers it: the reminder job's view.
CREATE TABLE balances (
    billing_account_number text PRIMARY KEY,
    total_balance_cents    bigint NOT NULL,
    lines                  jsonb  NOT NULL DEFAULT '[]',
    as_of                  timestamptz NOT NULL
);
CREATE TABLE autopay (
    billing_account_number text PRIMARY KEY,
    mandate_id             text NOT NULL,
    active                 boolean NOT NULL,
    as_of                  timestamptz NOT NULL
);

-- One row per (source event, channel): the unique key makes a redelivered event harmless.
CREATE TABLE notifications (
    notification_id        uuid PRIMARY KEY,
    source_event_id        uuid NOT NULL,
    source_event_type      text NOT NULL,
    channel                text NOT NULL CHECK (channel IN ('email', 'sms')),
    template               text NOT NULL,
    language               text NOT NULL,
    event_key              text NOT NULL,
    billing_account_number text,
    member_id              text,
    correlation_id         text,
    recipient              text NOT NULL,
    recipient_masked       text NOT NULL,
    subject                text NOT NULL,
    body_text              text NOT NULL,
    body_html              text,
    status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'sent', 'failed')),
    attempts               int  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at        timestamptz NOT NULL DEFAULT now(),
    last_error             text,
    provider_id            text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    sent_at                timestamptz,
    UNIQUE (source_event_id, channel)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_account ON notifications (billing_account_number, created_at DESC);
CREATE INDEX notifications_member ON notifications (member_id, created_at DESC);

-- Daily jobs already run for a business date (the scheduler runs each date once).
CREATE TABLE job_runs (
    job           text NOT NULL,
    business_date date NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    detail        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (job, business_date)
);
