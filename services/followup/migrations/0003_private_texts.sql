-- Issue 15: staff's notes and reasons are private texts (shared/texts.py); the tasks read model
-- keeps their references, never their words. A task's reason is the rule's system text; what it
-- is about travels as other contexts' references (about).
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS last_note_ref jsonb;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS close_note_ref jsonb;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS close_rule text;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS about jsonb NOT NULL DEFAULT '[]';
-- tasks made before v2: their reason and notes could quote staff's words (names, numbers); they
-- are withheld here as they are in the upcast events
UPDATE tasks SET reason = 'follow-up task recorded before v2 (its reason is withheld)';
ALTER TABLE tasks DROP COLUMN IF EXISTS last_note;
ALTER TABLE tasks DROP COLUMN IF EXISTS close_note;
