-- The customer PII vault (services/reception/vault.py, issue 7). The ONLY place raw PII exists,
-- and only as ciphertext: AES-256-GCM under a per-customer data key (associated data: the
-- customer_ref and the field), the data key itself stored wrapped by the master key.
-- Erasure = delete the wrapped data key (and the ciphertext): crypto-shredding.

-- The customer, without raw PII: masked display values (kept after erasure) and the erasure mark.
CREATE TABLE IF NOT EXISTS vault_customers (
    customer_ref      text        PRIMARY KEY,
    identity_kind     text        NOT NULL CHECK (identity_kind IN ('id_number', 'phone')),
    masked_name       text        NOT NULL,
    masked_phone      text,
    masked_id_number  text,
    registered_at     timestamptz NOT NULL,
    registered_by     text        NOT NULL,
    updated_at        timestamptz NOT NULL,
    erased_at         timestamptz,
    erased_by         text
);

-- The branches a customer registered in: staff read PII only of their branches' customers.
CREATE TABLE IF NOT EXISTS vault_customer_branches (
    customer_ref   text        NOT NULL REFERENCES vault_customers (customer_ref),
    branch_id      text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_ref, branch_id)
);

-- One data key per customer, wrapped by master key master_key_id (the blob names it too and is
-- bound to the customer_ref). Deleting the row makes the customer's ciphertext unreadable.
CREATE TABLE IF NOT EXISTS vault_data_keys (
    customer_ref   text        PRIMARY KEY REFERENCES vault_customers (customer_ref),
    master_key_id  text        NOT NULL,
    wrapped_key    bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    rewrapped_at   timestamptz
);
CREATE INDEX IF NOT EXISTS vault_data_keys_master ON vault_data_keys (master_key_id);

-- The raw PII, encrypted: version || nonce || ciphertext+tag per field (shared/crypto.py).
CREATE TABLE IF NOT EXISTS vault_pii (
    customer_ref  text        PRIMARY KEY REFERENCES vault_customers (customer_ref),
    name_ct       bytea       NOT NULL,
    phone_ct      bytea,
    id_number_ct  bytea,
    updated_at    timestamptz NOT NULL
);
