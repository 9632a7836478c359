-- Private texts (shared/texts.py): free text typed by staff, kept by the service that received it
-- and never put into an event (events carry a TextRef: context, text id, length).
--
-- Each text is encrypted (AES-256-GCM) under a data key of its owner: the customer it is about
-- (owner 'customer:<customer_ref>') or, for a text about no known customer, its branch
-- ('branch:<branch_id>'). Data keys are stored wrapped by the master key (BRANCHCARE_MASTER_KEY),
-- as the reception vault does. Erasing a customer deletes their wrapped key and the ciphertexts
-- (crypto-shredding): every copy in WAL and backups becomes unreadable once the master key that
-- wrapped it is retired. Numbers in the texts are masked before they are encrypted.
CREATE TABLE IF NOT EXISTS text_keys (
    owner          text        PRIMARY KEY,
    -- NULL once erased; a later text about the same owner gets a fresh key
    wrapped_key    bytea,
    master_key_id  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    erased_at      timestamptz
);

CREATE TABLE IF NOT EXISTS private_texts (
    text_id        uuid        PRIMARY KEY,
    owner          text        NOT NULL,
    branch_id      text        NOT NULL,
    -- version || nonce || AES-GCM(masked text); NULL once the owner was erased
    ciphertext     bytea,
    length         integer     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS private_texts_owner ON private_texts (owner);
