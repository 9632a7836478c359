-- A task's clock stops while its complaint is on hold (issue 22): paused tasks are never overdue,
-- and their due time moves by the held time when the complaint resumes.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS paused_at timestamptz;
