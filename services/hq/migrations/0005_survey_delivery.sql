-- Survey delivery apart from the rates (issue 22): the contract's new counters
-- (shared/contracts/hqfeed.py: survey_send_failures, surveys_given_up, surveys_given_up_no_contact,
-- surveys_delivered).
-- Days folded before this have 0: records published before the counters existed carry none, and
-- a rebuild from the contract fills them from the records that do.
ALTER TABLE branch_day
    ADD COLUMN survey_send_failures bigint NOT NULL DEFAULT 0,
    ADD COLUMN surveys_given_up     bigint NOT NULL DEFAULT 0,
    ADD COLUMN surveys_given_up_no_contact bigint NOT NULL DEFAULT 0,
    ADD COLUMN surveys_delivered    bigint NOT NULL DEFAULT 0;
