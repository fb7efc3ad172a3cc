-- Account validation of bank accounts new to the system (docs/design.md "Account
-- validation"): a prenote or micro-entries in the next ACH file; debits of the account
-- wait for it unless they go with it (with_validation) to meet a due date.
CREATE TABLE account_validations (
    validation_id uuid PRIMARY KEY,
    method_id uuid NOT NULL REFERENCES methods,
    billing_account_number text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('prenote', 'micro_entries')),
    status text NOT NULL CHECK (status IN ('pending', 'sent', 'validated', 'failed')),
    requested_on date NOT NULL,
    contact jsonb NOT NULL DEFAULT '{}',
    ach_file_id bigint,
    effective_date date,                      -- settlement date of the validation entries
    live_from date,                           -- prenote: first cutoff day debits may follow
    trace_numbers text[] NOT NULL DEFAULT '{}',
    micro_cents int[],                        -- the two credits (never in an event or a log)
    tries int NOT NULL DEFAULT 0,
    failure_reason text,
    return_code text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX account_validations_one_open ON account_validations (method_id)
    WHERE status IN ('pending', 'sent');
CREATE INDEX account_validations_pending ON account_validations (requested_on) WHERE status = 'pending';
CREATE INDEX account_validations_traces ON account_validations USING gin (trace_numbers);
ALTER TABLE payments ADD COLUMN IF NOT EXISTS with_validation boolean NOT NULL DEFAULT false;
