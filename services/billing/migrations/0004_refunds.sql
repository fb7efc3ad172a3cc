-- Refunds of credit (payments.v1 refund.issued / refund.returned): `refund` (+, the credit
-- sent back to the member, no coverage year) and `refund_returned` (-, the bank returned
-- it: the credit is the member's again). payment_id holds the refund's id.
ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check
    CHECK (kind IN ('invoice', 'payment', 'credit', 'reversal', 'credit_applied', 'adjustment',
                    'refund', 'refund_returned'));
