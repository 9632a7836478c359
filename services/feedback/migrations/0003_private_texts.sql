-- Issue 15: a customer's survey comment is a private text (shared/texts.py), kept encrypted under
-- the customer's key with its numbers masked; the read model keeps its reference, never its words.
ALTER TABLE survey_facts ADD COLUMN IF NOT EXISTS comment_ref jsonb;
-- comments recorded before v2 (digit runs masked, names in clear) are withheld, as in the upcast
-- events: the reference says there was one, and how long it was
UPDATE survey_facts
SET comment_ref = jsonb_build_object('context', 'feedback', 'text_id', NULL,
                                     'length', least(char_length(comment), 4000), 'withheld', true)
WHERE comment <> '';
ALTER TABLE survey_facts DROP COLUMN IF EXISTS comment;
