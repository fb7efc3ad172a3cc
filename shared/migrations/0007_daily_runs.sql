-- The business dates each daily scheduler (`Service.daily`) has finished, so any replica,
-- and the same one after a restart, knows a day's run is done without remembering it.
CREATE TABLE IF NOT EXISTS daily_runs (
    name          text        NOT NULL,
    business_date date        NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, business_date)
);
