-- Billing: accounts, coverage-year lines, invoices, the append-only ledger, payments as
-- billing sees them, delinquency, payment plans, job runs.

CREATE SEQUENCE IF NOT EXISTS ban_seq START 1;

CREATE TABLE accounts (
    billing_account_number text PRIMARY KEY,
    household_id   text    NOT NULL,
    plan_type      text    NOT NULL CHECK (plan_type IN ('health', 'dental')),
    aptc           boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (household_id, plan_type)
);

-- One balance line per coverage year.
CREATE TABLE lines (
    billing_account_number text NOT NULL REFERENCES accounts,
    coverage_year   int    NOT NULL,
    enrollment_id   text   NOT NULL,
    plan_name       text   NOT NULL,
    carrier         text   NOT NULL,
    premium_cents   bigint NOT NULL CHECK (premium_cents >= 0),
    -- an enrollment.updated premium waits here until the next invoice cycle
    next_premium_cents bigint CHECK (next_premium_cents >= 0),
    coverage_start  date   NOT NULL,
    status          text   NOT NULL DEFAULT 'pending_binder'
        CHECK (status IN ('pending_binder', 'active', 'terminated', 'cancelled')),
    terminated_on   date,
    PRIMARY KEY (billing_account_number, coverage_year)
);
CREATE UNIQUE INDEX lines_enrollment ON lines (enrollment_id);

CREATE TABLE invoices (
    invoice_id      uuid PRIMARY KEY,
    billing_account_number text NOT NULL REFERENCES accounts,
    coverage_year   int    NOT NULL,
    coverage_month  date   NOT NULL,
    kind            text   NOT NULL CHECK (kind IN ('binder', 'monthly')),
    amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
    paid_cents      bigint NOT NULL DEFAULT 0,
    due_date        date   NOT NULL,
    issued_on       date   NOT NULL,
    UNIQUE (billing_account_number, coverage_year, coverage_month),
    CHECK (paid_cents BETWEEN 0 AND amount_cents)
);
CREATE INDEX invoices_open ON invoices (billing_account_number, coverage_month)
    WHERE paid_cents < amount_cents;

-- Append-only: positive amounts are owed by the member, negative ones are paid.
-- kinds: invoice (+), payment (-, on an invoice), credit (-, overpayment kept as credit,
-- no coverage year), reversal (mirror of a returned payment's entries), credit_applied
-- (a pair: + on the credit, - on an invoice), adjustment (either sign).
CREATE TABLE ledger (
    entry_id        bigserial PRIMARY KEY,
    billing_account_number text NOT NULL REFERENCES accounts,
    coverage_year   int,
    coverage_month  date,
    invoice_id      uuid,
    payment_id      text,
    kind            text   NOT NULL
        CHECK (kind IN ('invoice', 'payment', 'credit', 'reversal', 'credit_applied', 'adjustment')),
    amount_cents    bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_account ON ledger (billing_account_number, entry_id);
CREATE INDEX ledger_payment ON ledger (payment_id) WHERE payment_id IS NOT NULL;
CREATE RULE ledger_no_update AS ON UPDATE TO ledger DO INSTEAD NOTHING;
CREATE RULE ledger_no_delete AS ON DELETE TO ledger DO INSTEAD NOTHING;

-- Payments as billing sees them. Flags rather than one status, so events can arrive in
-- any order and each transition happens once.
CREATE TABLE payments (
    payment_id      text PRIMARY KEY,
    billing_account_number text NOT NULL,
    amount_cents    bigint NOT NULL,
    allocations     jsonb  NOT NULL DEFAULT '[]',
    submitted       boolean NOT NULL DEFAULT false,
    settled         boolean NOT NULL DEFAULT false,
    returned        boolean NOT NULL DEFAULT false,
    failed          boolean NOT NULL DEFAULT false,
    credited        boolean NOT NULL DEFAULT false,
    return_code     text,
    settled_on      date,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_account ON payments (billing_account_number);

CREATE TABLE delinquencies (
    billing_account_number text PRIMARY KEY REFERENCES accounts,
    grace_start     date   NOT NULL,
    grace_end       date   NOT NULL,
    grace_months    int    NOT NULL,
    terminated_on   date,           -- the retroactive end of coverage, once terminated
    status          text   NOT NULL CHECK (status IN ('in_grace', 'terminated', 'resolved', 'reinstated')),
    started_on      date   NOT NULL,
    resolved_on     date
);
CREATE TABLE delinquency_notices (
    billing_account_number text NOT NULL,
    grace_start     date NOT NULL,
    stage           text NOT NULL,
    month_of_grace  int  NOT NULL,
    sent_on         date NOT NULL,
    PRIMARY KEY (billing_account_number, grace_start, stage, month_of_grace)
);

CREATE TABLE payment_plans (
    plan_id         uuid PRIMARY KEY,
    billing_account_number text NOT NULL REFERENCES accounts,
    total_cents     bigint NOT NULL CHECK (total_cents > 0),
    months          int    NOT NULL CHECK (months BETWEEN 2 AND 12),
    created_on      date   NOT NULL,
    status          text   NOT NULL CHECK (status IN ('active', 'completed', 'broken', 'cancelled')),
    schedule        jsonb  NOT NULL
);
CREATE UNIQUE INDEX payment_plans_one_active ON payment_plans (billing_account_number)
    WHERE status = 'active';

CREATE TABLE job_runs (
    job            text NOT NULL,
    business_date  date NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    summary        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (job, business_date)
);
