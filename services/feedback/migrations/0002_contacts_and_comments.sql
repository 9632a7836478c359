-- The number a survey was handed to the gateway for, masked (138****5678): the local sender's
-- record of the handoff. The number itself is resolved from the reception vault at send time and
-- never stored here.
ALTER TABLE sms_outbox ADD COLUMN IF NOT EXISTS masked_phone text;

-- Why a survey was not sent without retrying (e.g. 'no_contact': erased, unknown, no number).
ALTER TABLE survey_dispatch ADD COLUMN IF NOT EXISTS skip_reason text;

-- The answer's (masked) comment, reasons and complaint flag, for the branch's recent surveys list.
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS comment text NOT NULL DEFAULT '';
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS reasons text[] NOT NULL DEFAULT '{}';
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS describes_complaint boolean NOT NULL DEFAULT false;

-- Surveys answered before these columns existed: from their events (comments are masked there).
UPDATE survey_facts f
SET comment = coalesce(e.data->>'comment', ''),
    reasons = ARRAY(SELECT jsonb_array_elements_text(coalesce(e.data->'reasons', '[]'::jsonb)))
FROM events e
WHERE e.type = 'SurveyAnswered' AND e.stream_id = 'survey-' || f.survey_id::text;

UPDATE survey_facts f
SET describes_complaint = true
FROM events e
WHERE e.type = 'NegativeFeedbackReceived' AND e.stream_id = 'survey-' || f.survey_id::text
  AND coalesce((e.data->>'describes_complaint')::boolean, false);

CREATE INDEX IF NOT EXISTS survey_facts_branch_recent
    ON survey_facts (branch_id, (coalesce(answered_at, requested_at)) DESC);
