-- Who paid (45 CFR 156.1250): the member (the default), an authorised representative or a
-- third party (services/payments/domain/payers.py). A third party's name is required; the
-- email is where the payer's own receipt goes.
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payer_kind text NOT NULL DEFAULT 'member';
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payer_name text;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payer_email text;
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_payer_check;
ALTER TABLE payments ADD CONSTRAINT payments_payer_check CHECK (
    payer_kind IN ('member', 'representative', 'ryan_white', 'tribe', 'tribal_organization',
                   'urban_indian_organization', 'government_program')
    AND (payer_kind = 'member' OR (payer_name IS NOT NULL AND length(payer_name) BETWEEN 1 AND 100)));
