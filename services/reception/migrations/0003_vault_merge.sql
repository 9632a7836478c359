-- Duplicate merge (issue 20): a customer registered twice (once by phone, once by ID number) is
-- merged into one survivor. The merged record keeps its row (masked values, the mark below) but
-- loses its PII; every lookup by the merged ref resolves to the survivor. A reversal clears the
-- mark (the merged ref then stands alone again, without PII until re-registered).
ALTER TABLE vault_customers ADD COLUMN IF NOT EXISTS merged_into text REFERENCES vault_customers (customer_ref);
ALTER TABLE vault_customers ADD COLUMN IF NOT EXISTS merged_at   timestamptz;
ALTER TABLE vault_customers ADD COLUMN IF NOT EXISTS merged_by   text;
CREATE INDEX IF NOT EXISTS vault_customers_merged_into ON vault_customers (merged_into)
    WHERE merged_into IS NOT NULL;
