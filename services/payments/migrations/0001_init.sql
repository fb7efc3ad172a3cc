-- The payments service's own tables. No column holds a full account or card number in
-- clear: bank account numbers are AES-GCM ciphertext (account_ciphertext, key_id), cards
-- are the processor's token; elsewhere only last4.

-- Projection of billing's balances (billing.v1: account.opened, balance.changed).
CREATE TABLE owed_accounts (
    billing_account_number text PRIMARY KEY,
    plan_type text NOT NULL,
    household_id text,
    total_balance_cents bigint NOT NULL DEFAULT 0,
    lines jsonb NOT NULL DEFAULT '[]',       -- [{coverage_year, balance_cents, current_premium_cents, due_date}]
    balance_as_of timestamptz,               -- occurred_at of the balance.changed applied
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE methods (
    method_id uuid PRIMARY KEY,
    billing_account_number text NOT NULL,
    type text NOT NULL CHECK (type IN ('checking', 'savings', 'card')),
    holder_name text NOT NULL,
    routing_number text,                      -- public bank identifier (ABA)
    account_ciphertext bytea,                 -- AES-GCM(nonce || ciphertext), aad = method_id
    key_id text,
    card_token text,
    brand text,
    expiry_month int,
    expiry_year int,
    last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    fingerprint text NOT NULL,                -- keyed HMAC, to find the same method again
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    status_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (billing_account_number, fingerprint)
);

CREATE TABLE mandates (
    mandate_id uuid PRIMARY KEY,
    billing_account_number text NOT NULL,
    plan_type text NOT NULL,
    method_id uuid NOT NULL REFERENCES methods,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    contact jsonb NOT NULL,
    member_id text,
    authorization_text text NOT NULL,         -- NACHA WEB authorization as shown and accepted
    authorized_at timestamptz NOT NULL,
    authorized_ip text,
    authorized_method_last4 text NOT NULL,
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    cancel_reason text
);
-- One active mandate per billing account.
CREATE UNIQUE INDEX mandates_one_active ON mandates (billing_account_number) WHERE status = 'active';
CREATE INDEX mandates_active_id ON mandates (mandate_id) WHERE status = 'active';

CREATE TABLE payments (
    payment_id uuid PRIMARY KEY,
    confirmation_number text NOT NULL UNIQUE,
    billing_account_number text NOT NULL,
    plan_type text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('one_time', 'recurring')),
    channel text NOT NULL CHECK (channel IN ('guest', 'member', 'autopay')),
    rail text NOT NULL CHECK (rail IN ('ach', 'card')),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    allocations jsonb NOT NULL,
    method_id uuid NOT NULL REFERENCES methods,
    method_type text NOT NULL,
    method_last4 text NOT NULL,
    method_brand text,
    status text NOT NULL CHECK (status IN ('pending', 'originated', 'settled', 'returned', 'failed')),
    submitted_on date NOT NULL,
    expected_withdrawal_date date NOT NULL,
    mandate_id uuid REFERENCES mandates,
    cycle text,                               -- autopay cycle 'YYYY-MM'
    attempt int NOT NULL DEFAULT 1,
    retry_of uuid REFERENCES payments,        -- the first presentment, for R01/R09 retries
    contact jsonb NOT NULL,
    member_id text,
    ach_file_id bigint,
    trace_number text,
    effective_date date,
    settled_on date,
    returned_on date,
    return_code text,
    failure_code text,
    processor_charge_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Each mandate is drafted at most once per cycle (retries of a return carry retry_of).
CREATE UNIQUE INDEX payments_one_draft_per_cycle ON payments (mandate_id, cycle)
    WHERE mandate_id IS NOT NULL AND cycle IS NOT NULL AND retry_of IS NULL;
CREATE INDEX payments_account ON payments (billing_account_number, created_at DESC);
CREATE INDEX payments_pending_ach ON payments (submitted_on) WHERE status = 'pending' AND rail = 'ach';
CREATE INDEX payments_originated ON payments (effective_date) WHERE status = 'originated';
CREATE UNIQUE INDEX payments_one_retry ON payments (retry_of, attempt) WHERE retry_of IS NOT NULL;

CREATE TABLE idempotency_keys (
    idempotency_key text PRIMARY KEY,
    scope text NOT NULL,                      -- 'payment' | 'autopay'
    request_hash text NOT NULL,               -- HMAC of the canonical request body
    status_code int,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ach_files (
    file_id bigserial PRIMARY KEY,
    business_date date NOT NULL UNIQUE,       -- one cutoff file per business date
    file_name text NOT NULL,
    sha256 text NOT NULL,
    entries int NOT NULL,
    batches int NOT NULL,
    debit_cents bigint NOT NULL,
    entry_hash bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE ach_trace_seq MAXVALUE 9999999 CYCLE;

CREATE TABLE ach_return_files (
    sha256 text PRIMARY KEY,                  -- re-reading the same file is a no-op
    file_name text NOT NULL,
    business_date date NOT NULL,
    returns int NOT NULL,
    nocs int NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ach_rejected_files (
    sha256 text PRIMARY KEY,
    file_name text NOT NULL,
    error text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE job_runs (
    job text NOT NULL,
    business_date date NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    summary jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (job, business_date)
);
CREATE INDEX payments_trace ON payments (trace_number) WHERE trace_number IS NOT NULL;
CREATE INDEX payments_file ON payments (ach_file_id, effective_date, trace_number) WHERE ach_file_id IS NOT NULL;
