-- Ledger entries carry the business date (America/New_York) they were booked on, so
-- statements and payment-plan checks follow business time (and a test walking through a
-- year sees the dates it walked), not the server clock. Rows booked before this column
-- existed get the date the migration ran.
ALTER TABLE ledger ADD COLUMN business_date date NOT NULL
    DEFAULT (now() AT TIME ZONE 'America/New_York')::date;
CREATE INDEX ledger_account_date ON ledger (billing_account_number, business_date);
-- Credit held or used (entries with no coverage year): the invoice cycle looks these up
-- for every chunk of accounts, so they get their own small index.
CREATE INDEX ledger_credit ON ledger (billing_account_number) WHERE coverage_year IS NULL;
-- An invoice whose coverage never started (binder unpaid) is voided by an adjustment entry.
ALTER TABLE invoices ADD COLUMN voided boolean NOT NULL DEFAULT false;
