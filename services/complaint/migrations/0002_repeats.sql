-- Issue 8: recognise the same complainant repeating the same matter while a case is open (merged
-- into the open case instead of a new one), and show each case's regulatory profile on the board.
ALTER TABLE complaint_board ADD COLUMN IF NOT EXISTS customer_ref text;
ALTER TABLE complaint_board ADD COLUMN IF NOT EXISTS matter_keys text[] NOT NULL DEFAULT '{}';
ALTER TABLE complaint_board ADD COLUMN IF NOT EXISTS regulatory_profile text;
CREATE INDEX IF NOT EXISTS complaint_board_open_customer ON complaint_board (customer_ref)
    WHERE is_open AND customer_ref IS NOT NULL;
