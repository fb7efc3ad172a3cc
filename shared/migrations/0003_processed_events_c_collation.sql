-- Consumer groups are ASCII names; comparing them byte by byte ("C") instead of by the
-- database's locale makes each dedupe lookup in the primary key cheaper.
ALTER TABLE processed_events ALTER COLUMN consumer_group TYPE text COLLATE "C";
