-- Delivery apart from answers (issue 22): a survey that never reached the customer is not asked.
-- status gains 'send_failed' (retrying, or given up for good: given_up_at).
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS delivery_failure text;
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS retry_at timestamptz;
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS given_up_at timestamptz;
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
-- surveys requested before: sent ones reached the customer; an unsent one given up by the
-- dispatcher (no contact, attempts used up) never did
UPDATE survey_facts f SET given_up_at = d.given_up_at, status = 'send_failed',
       delivery_failure = CASE WHEN d.skip_reason = 'no_contact' THEN 'no_contact' ELSE 'gateway_error' END
  FROM survey_dispatch d
 WHERE d.survey_id = f.survey_id AND d.given_up_at IS NOT NULL AND d.sent_at IS NULL
   AND f.status IN ('requested', 'expired') AND f.answered_at IS NULL;
