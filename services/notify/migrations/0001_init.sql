-- The notify service's own tables.
SELECT 1;
