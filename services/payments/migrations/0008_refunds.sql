-- Refunds of an account's credit (an overpayment billing holds): back to the bank account
-- that paid as an ACH credit entry (codes 22/32) in the day's refund file, or to the card
-- through the processor. No full account number here: the method row holds it encrypted.
CREATE TABLE refunds (
    refund_id uuid PRIMARY KEY,
    confirmation_number text NOT NULL UNIQUE,
    billing_account_number text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    payment_id uuid NOT NULL REFERENCES payments,   -- the payment whose method is refunded
    method_id uuid NOT NULL REFERENCES methods,
    method_type text NOT NULL,
    method_last4 text NOT NULL,
    method_brand text,
    rail text NOT NULL CHECK (rail IN ('ach', 'card')),
    status text NOT NULL CHECK (status IN ('pending_approval', 'approved', 'issued', 'returned',
                                           'failed')),
    idempotency_key text NOT NULL UNIQUE,
    contact jsonb NOT NULL,
    member_id text,
    requested_on date NOT NULL,
    approved_by text,
    approved_at timestamptz,
    refund_file_id bigint,
    trace_number text UNIQUE,
    effective_date date,
    issued_on date,
    issued_at timestamptz,                          -- wall time, against the projection's balance_as_of
    processor_refund_id text,
    returned_on date,
    return_code text,
    failure_code text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_account ON refunds (billing_account_number, created_at DESC);
CREATE INDEX refunds_approved_ach ON refunds (requested_on) WHERE status = 'approved' AND rail = 'ach';

CREATE TABLE refund_files (
    file_id bigserial PRIMARY KEY,
    business_date date NOT NULL UNIQUE,             -- one refund file per business date
    file_name text NOT NULL,
    sha256 text NOT NULL,
    entries int NOT NULL,
    credit_cents bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
