-- The regulatory complaint report from the complaint service's real regulatory events (issue 8):
-- the first decision against the regulatory clock, review outcomes, and remediation actions joined
-- with the follow-up tasks they become.

ALTER TABLE complaints
    -- days used of the regulatory clock at the first decision, paused time excluded (counted_days)
    ADD COLUMN decision_days          double precision,
    ADD COLUMN decision_unit          text,
    ADD COLUMN decision_limit         int,
    ADD COLUMN decided_within_limit   boolean,
    ADD COLUMN reviews_decided        int NOT NULL DEFAULT 0,
    ADD COLUMN reviews_upheld         int NOT NULL DEFAULT 0,
    ADD COLUMN reviews_changed        int NOT NULL DEFAULT 0,
    ADD COLUMN reviews_within_limit   int NOT NULL DEFAULT 0;

-- 溯源整改 actions (ComplaintClosed.remediation_actions) and the follow-up tasks they become
-- (task id derived as follow-up derives it); filled from both topics in any order
CREATE TABLE remediation_actions (
    task_id          uuid        PRIMARY KEY,
    complaint_id     uuid,
    branch_id        text,
    action_id        uuid,
    owner            text,
    due_at           timestamptz,
    created_at       timestamptz,
    scheduled_at     timestamptz,
    followup_due_at  timestamptz,
    completed_at     timestamptz,
    cancelled_at     timestamptz
);
CREATE INDEX remediation_actions_by_complaint ON remediation_actions (complaint_id);

-- An existing read model lacks these facts: rebuild it from the topics (what POST /hq/admin/rebuild
-- does). A fresh database has nothing to rebuild and keeps generation 1.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM projection_positions WHERE projection = 'branch_kpis') THEN
        LOCK TABLE projection_positions IN EXCLUSIVE MODE;
        TRUNCATE branch_complaints, branches, branch_day, branch_day_sla, branch_day_category, complaints,
                 open_breaches, crisis_slots, crisis_windows, spike_alerts, repeat_alerts, remediation_actions;
        DELETE FROM projection_positions WHERE projection = 'branch_kpis';
        UPDATE read_model_state
        SET generation = generation + 1, requested_at = now(), requested_by = 'migration 0003_regulatory_report',
            started_at = NULL, caught_up_at = NULL, records = 0, target = NULL
        WHERE id = 1;
    END IF;
END
$$;
