-- Regulation E for the autopay draft (services/payments/domain/regulation_e.py).
-- The member's optional range: notices only when a draft falls outside low..high.
ALTER TABLE mandates ADD COLUMN IF NOT EXISTS notice_low_cents bigint;
ALTER TABLE mandates ADD COLUMN IF NOT EXISTS notice_high_cents bigint;
ALTER TABLE mandates ADD CONSTRAINT mandates_notice_range CHECK (
    (notice_low_cents IS NULL AND notice_high_cents IS NULL)
    OR (0 <= notice_low_cents AND notice_low_cents <= notice_high_cents));

-- One row per mandate and cycle, written when the notice job (or a set-up inside the
-- notice window) looked at the cycle's draft: whether a notice went out, and the most the
-- draft may take (ceiling_cents), which the draft on the day never exceeds.
CREATE TABLE IF NOT EXISTS autopay_notices (
    mandate_id uuid NOT NULL REFERENCES mandates,
    cycle text NOT NULL,                      -- 'YYYY-MM'
    draft_date date NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    previous_amount_cents bigint CHECK (previous_amount_cents >= 0),
    ceiling_cents bigint NOT NULL CHECK (ceiling_cents >= 0),
    reason text NOT NULL CHECK (reason IN ('first', 'changed', 'outside_range', 'unchanged',
                                           'within_range', 'nothing_owed', 'set_up')),
    noticed boolean NOT NULL,                 -- autopay.upcoming was sent
    business_date date NOT NULL,              -- the day it was looked at
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mandate_id, cycle)
);
