-- The business date billing learned of a payment's submission: a reinstatement after a
-- termination for non-payment counts the day the member paid, not the later day the bank
-- settled the payment. Payments recorded before this column existed have none (the
-- settlement date stands in for them).
ALTER TABLE payments ADD COLUMN submitted_on date;
