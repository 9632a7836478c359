-- The audit trail (shared/audit.py): who did what, when, in which branch, in which conversation.
-- One row per command (written by the ASGI middleware for every non-GET request) and per PII
-- operation (written by the vault in the operation's own transaction). Never a request body, never
-- raw PII: the route is its template, ids are pseudonymous, free text (reason) is scrubbed.
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id        bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL,
    service         text        NOT NULL,
    -- 'command' (middleware) or the PII action: pii.register, pii.read, pii.erase, pii.resolve_contact
    kind            text        NOT NULL,
    -- staff id, or svc:<name> for a service identity; NULL when nobody could be identified
    staff_id        text,
    -- true when staff_id comes from a verified token, false for a bare X-Staff-Id header
    authenticated   boolean     NOT NULL,
    action          text,
    method          text,
    route           text,
    resource_id     text,
    branch_id       text,
    status          integer,
    correlation_id  uuid,
    reason          text
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at, audit_id);
CREATE INDEX IF NOT EXISTS audit_log_staff ON audit_log (staff_id, at);
CREATE INDEX IF NOT EXISTS audit_log_branch ON audit_log (branch_id, at);
CREATE INDEX IF NOT EXISTS audit_log_correlation ON audit_log (correlation_id);

-- Append-only: the application may insert, never rewrite or remove. A retention job run by the
-- schema owner disables the trigger explicitly (ALTER TABLE audit_log DISABLE TRIGGER ...).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_log_no_rewrite ON audit_log;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
