-- Issue 20: a phone change moves how the customer is found. A customer registered by phone has the
-- keyed HMAC of that phone as their ref; after a contact update the new phone's HMAC must find the
-- same ref and the old phone's must not (a recycled number is someone else). lookup_ref is the HMAC a
-- registration computes; customer_ref the ref it means instead of itself: the moved customer for the
-- new phone, a fresh ref for the old one (whoever registers with it next is a new customer).
CREATE TABLE IF NOT EXISTS vault_lookup_keys (
    lookup_ref    text        PRIMARY KEY,
    customer_ref  text        NOT NULL,
    since         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_lookup_keys_customer ON vault_lookup_keys (customer_ref);
