-- The payments service's own tables.
SELECT 1;
