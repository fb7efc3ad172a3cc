-- A saved method the member removed: kept for the payments that used it, never offered or
-- listed again (saving the same details again brings it back).
ALTER TABLE methods ADD COLUMN IF NOT EXISTS removed_at timestamptz;
