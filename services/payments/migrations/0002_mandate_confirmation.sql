-- A recurring payment set-up has its own confirmation number (a set-up that withdraws
-- nothing today has no payment, and so no payment's number, to show). The service sets it;
-- the default numbers rows written without one (existing mandates, bulk loads).
ALTER TABLE mandates ADD COLUMN IF NOT EXISTS confirmation_number text NOT NULL
    DEFAULT ('AUT-' || upper(substr(md5(random()::text || clock_timestamp()::text), 1, 12)));
CREATE UNIQUE INDEX IF NOT EXISTS mandates_confirmation ON mandates (confirmation_number);
