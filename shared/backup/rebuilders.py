"""Store-fed read models the restore drill rebuilds from a restored event store, to compare with
the restored read models: the rebuilders of :mod:`shared.readmodels.store_fed` (the same ones
``branchcare rebuild`` runs on a live database).

The drill empties their tables in a second copy of the restored database and calls ``run``
(search_path = the schema, in one transaction) to fill them from that copy's ``events`` table
alone. Equal row counts and checksums prove the stored events are enough to recover the read model.
The Kafka-fed read models are rebuilt from their sources' restored stores (:mod:`.replayed`). Tables
that are state rather than read models (``SOURCE_TABLES``) are only checked against the backup."""

from __future__ import annotations

from shared.readmodels.store_fed import Rebuilder, rebuilders

__all__ = ["SOURCE_TABLES", "Rebuilder", "rebuilders"]

#: state no event store can give back, checked against the backup, never "rebuilt": the stores
#: themselves, positions, clocks, the vault (lookup keys included), audit, texts, ticket numbers,
#: operators' dead-letter redrives, the relays' marks, feedback's dispatch queue and the preferences
#: staff set through its API (no event records them), HQ's published alerts and rebuild generation,
#: the HQ feed's KPI deltas waiting for their window (the part of its output not appended yet)
SOURCE_TABLES = frozenset(
    {
        "events", "relay_checkpoint", "relay_marks", "projection_positions", "deadlines", "audit_log",
        "idempotency_keys", "private_texts", "text_keys", "schema_migrations", "ticket_counters",
        "vault_customers", "vault_customer_branches", "vault_data_keys", "vault_pii", "vault_lookup_keys",
        "dlq_redrives", "survey_dispatch", "sms_outbox", "customer_preferences", "alert_events",
        "read_model_state", "pending_deltas",
    }
)  # fmt: skip
