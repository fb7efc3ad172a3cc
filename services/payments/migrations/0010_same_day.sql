-- Same Day ACH for binders (docs/design.md "Same Day ACH for binders"): a binder debit that
-- standard ACH would settle after its due date goes in a same-day file of the window it
-- was given (1, 2, 3: the Fed's windows); the day's standard file is window 0.
ALTER TABLE payments ADD COLUMN IF NOT EXISTS same_day_window smallint
    CHECK (same_day_window BETWEEN 1 AND 3);
ALTER TABLE ach_files ADD COLUMN IF NOT EXISTS same_day_window smallint NOT NULL DEFAULT 0
    CHECK (same_day_window BETWEEN 0 AND 3);
ALTER TABLE ach_files DROP CONSTRAINT IF EXISTS ach_files_business_date_key;
CREATE UNIQUE INDEX IF NOT EXISTS ach_files_date_window ON ach_files (business_date, same_day_window);
CREATE INDEX IF NOT EXISTS payments_same_day_pending ON payments (expected_withdrawal_date)
    WHERE status = 'pending' AND same_day_window IS NOT NULL;
