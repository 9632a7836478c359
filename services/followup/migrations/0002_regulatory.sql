-- Regulatory profiles (issue 8): a milestone task names the regulatory deadline it warns about, so
-- the decision that meets that deadline (or its extension, or a restart) ends the task.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS regulatory_sla text;
CREATE INDEX IF NOT EXISTS tasks_complaint_milestones ON tasks (complaint_id, regulatory_sla)
    WHERE regulatory_sla IS NOT NULL AND status IN ('scheduled', 'contacted');

-- Why the complaint waits while it is on hold, so the task after the resume can say what arrived.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS hold_kind text;
