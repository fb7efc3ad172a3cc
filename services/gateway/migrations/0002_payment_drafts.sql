-- A quick-pay payment between Step 4 and its submission: the bank or card details the guest
-- typed, AES-GCM encrypted, never in the review page. Deleted once submitted; short-lived.
CREATE TABLE IF NOT EXISTS payment_drafts (
    draft_id text PRIMARY KEY,
    ciphertext bytea NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_drafts_expires_at ON payment_drafts (expires_at);
