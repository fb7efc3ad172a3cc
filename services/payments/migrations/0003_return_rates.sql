-- The level each ACH return rate last stood at (services/payments/domain/return_rates.py),
-- so an operator alert goes out once when a rate reaches its warning line or crosses its
-- limit, however often the return intake runs.
CREATE TABLE IF NOT EXISTS return_rate_levels (
    category text PRIMARY KEY CHECK (category IN ('unauthorized', 'administrative', 'overall')),
    level text NOT NULL CHECK (level IN ('ok', 'warning', 'over')),
    business_date date NOT NULL,              -- the last day of the 60-day window measured
    returns int NOT NULL CHECK (returns >= 0),
    entries int NOT NULL CHECK (entries >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Returns received in a window, by code.
CREATE INDEX IF NOT EXISTS payments_returned_on ON payments (returned_on) WHERE returned_on IS NOT NULL;
