-- The identity service's own tables.
SELECT 1;
