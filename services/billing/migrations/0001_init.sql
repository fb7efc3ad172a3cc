-- The billing service's own tables.
SELECT 1;
