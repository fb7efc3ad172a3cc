-- Checks and money orders paid by mail (the lockbox bank's daily file) or at a counter
-- (phone or walk-in, entered by an operator): services/payments/service_layer/lockbox.py.
-- An item applied to a known account is a payment like any other, on a rail of its own
-- ('lockbox': no method on file, no NACHA entry), settled as of its deposit date.
ALTER TABLE payments ALTER COLUMN method_id DROP NOT NULL;
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_channel_check;
ALTER TABLE payments ADD CONSTRAINT payments_channel_check
    CHECK (channel IN ('guest', 'member', 'autopay', 'lockbox'));
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_rail_check;
ALTER TABLE payments ADD CONSTRAINT payments_rail_check CHECK (rail IN ('ach', 'card', 'lockbox'));
-- Every rail but the lockbox's draws from a method on file.
ALTER TABLE payments ADD CONSTRAINT payments_method_on_file
    CHECK (rail = 'lockbox' OR method_id IS NOT NULL);

-- Each lockbox file imported, by its SHA-256: the same file imported again (or by two
-- operators at once: the second waits on this key, then finds it) changes nothing.
CREATE TABLE IF NOT EXISTS lockbox_files (
    sha256 text PRIMARY KEY,
    file_name text NOT NULL,
    business_date date NOT NULL,
    items int NOT NULL CHECK (items > 0),
    total_cents bigint NOT NULL CHECK (total_cents > 0),
    applied int NOT NULL CHECK (applied >= 0),
    unapplied int NOT NULL CHECK (unapplied >= 0),
    already int NOT NULL CHECK (already >= 0),    -- items another file had recorded first
    imported_at timestamptz NOT NULL DEFAULT now()
);

-- Every check or money order received, once: a lockbox item by (deposit date, batch,
-- sequence in the batch), as the bank numbers them; a counter item by the account and the
-- check's (or money order's) own number. `unapplied` items (an account we do not know)
-- wait for an operator; nothing received is ever dropped.
CREATE TABLE IF NOT EXISTS lockbox_items (
    item_id uuid PRIMARY KEY,
    source text NOT NULL CHECK (source IN ('lockbox', 'counter')),
    file_sha256 text REFERENCES lockbox_files,
    line_number int,
    deposit_date date NOT NULL,
    batch_id text,
    item_sequence int,
    billing_account_number text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    kind text NOT NULL CHECK (kind IN ('check', 'money_order')),
    check_number text NOT NULL CHECK (check_number ~ '^[0-9]{1,15}$'),
    payer_name text NOT NULL,
    status text NOT NULL CHECK (status IN ('applied', 'unapplied')),
    reason text,                              -- why an item is unapplied
    payment_id uuid REFERENCES payments,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'applied') = (payment_id IS NOT NULL)),
    CHECK (source = 'counter' OR (batch_id IS NOT NULL AND item_sequence IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS lockbox_items_bank_key
    ON lockbox_items (deposit_date, batch_id, item_sequence) WHERE source = 'lockbox';
CREATE UNIQUE INDEX IF NOT EXISTS lockbox_items_counter_key
    ON lockbox_items (billing_account_number, kind, check_number) WHERE source = 'counter';
CREATE INDEX IF NOT EXISTS lockbox_items_unapplied ON lockbox_items (deposit_date)
    WHERE status = 'unapplied';
