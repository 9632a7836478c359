"""The customer PII vault: the one place a customer's name, phone and ID number exist.

- **Pseudonym**: ``customer_ref`` = keyed HMAC of the ID number (or, without one, the phone), so
  the same person registered twice, in any branch, gets the same reference.
- **At rest**: each field is AES-256-GCM ciphertext under the customer's own data key, bound to the
  ``customer_ref`` and the field name; the data key is stored only wrapped by the master key, in
  its own table. Masked display values (``张**``, ``138****5678``) are kept in clear.
- **Access**: staff read PII of customers registered in their branch, with a reason; the feedback
  service resolves a phone number at send time. Every operation writes its ``audit_log`` row in
  its own transaction, so nothing is read unaudited (a failed or refused read is audited too).
- **Erasure**: the wrapped data key and the ciphertext are deleted (crypto-shredding); reads then
  answer "erased", masked values and the event history stay.
- **Fail closed**: ciphertext or a wrapped key that does not authenticate is refused as an
  integrity failure; never decrypted garbage.

Nothing here logs or raises with a raw value. The identity rules, masked values and outcomes are
:mod:`services.reception.vault_model`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from services.reception.vault_model import (
    PII_FIELDS,
    Attribution,
    CustomerErased,
    CustomerIdentity,
    CustomerNotFound,
    CustomerPii,
    Erasure,
    IntegrityFailure,
    Masked,
    NoPhone,
    Registration,
    VaultError,
    masked_of,
)
from shared import audit, crypto
from shared.clock import Clock
from shared.idempotency import Create
from shared.pii import (
    customer_ref,
    mask_known_names,
    pii_key_from_env,
)

SERVICE = "reception"

# ----------------------------------------------------------------------------------------- vault

_LOAD = """
    SELECT c.masked_name, c.masked_phone, c.masked_id_number, c.erased_at,
           k.wrapped_key, p.name_ct, p.phone_ct, p.id_number_ct,
           ($2::text IS NULL OR EXISTS (
               SELECT 1 FROM vault_customer_branches b
               WHERE b.customer_ref = c.customer_ref AND b.branch_id = $2)) AS in_branch
    FROM vault_customers c
    LEFT JOIN vault_data_keys k ON k.customer_ref = c.customer_ref
    LEFT JOIN vault_pii p ON p.customer_ref = c.customer_ref
    WHERE c.customer_ref = $1"""


ErasureHook = Callable[[asyncpg.Connection, str, datetime, Attribution], Awaitable[None]]
#: records an erasure durably outside the vault's database before it shreds (``shared.erasure_log``)
ErasureRecorder = Callable[[str, datetime, Attribution, "str | None"], Awaitable[None]]


#: the end of a ref's chain of merges (bounded: a cycle, which the merge rules exclude, cannot loop)
_SURVIVOR = """
WITH RECURSIVE up(ref, depth) AS (
    SELECT $1::text, 0
    UNION ALL
    SELECT c.merged_into, up.depth + 1 FROM up JOIN vault_customers c ON c.customer_ref = up.ref
    WHERE c.merged_into IS NOT NULL AND up.depth < 32
) SELECT ref FROM up ORDER BY depth DESC LIMIT 1"""


class Vault:
    """The vault over the reception schema's ``vault_*`` tables (``migrations/0002_vault.sql``)."""

    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, *, keyring: crypto.MasterKeyring, pii_key: bytes
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.keyring = keyring
        self._pii_key = pii_key
        #: called in the erasure's transaction when a customer is erased (not when already erased):
        #: reception shreds its own texts and appends ``CustomerErased`` for every other context
        self.on_erase: ErasureHook | None = None
        #: called before the shred (own connection, committed at once): the erasure log that a
        #: restore re-applies, so an erased customer never comes back from an older backup
        self.record_erasure: ErasureRecorder | None = None

    @classmethod
    def from_env(cls, pool: asyncpg.Pool, clock: Clock) -> Vault:
        """Keys from ``BRANCHCARE_MASTER_KEY`` (+ id, retired keys) and ``BRANCHCARE_PII_KEY``;
        raises :class:`~shared.crypto.KeyConfigError` naming the missing variable."""
        return cls(pool, clock, keyring=crypto.MasterKeyring.from_env(), pii_key=pii_key_from_env())

    def ref_for(self, identity: CustomerIdentity) -> str:
        return customer_ref(identity.identity, self._pii_key)

    async def survivor(self, conn: asyncpg.Connection, ref: str) -> str:
        """The ref a lookup means: a merged customer's survivor at the end of the chain of merges
        (A merged into B, B into C: C; ``vault_maintenance``), else itself."""
        survivor: str = await conn.fetchval(_SURVIVOR, ref)
        return survivor

    async def lookup(self, conn: asyncpg.Connection, identity_ref: str) -> str:
        """The ref a registration by an identity whose HMAC is ``identity_ref`` means: the customer a
        contact update moved that phone to, a fresh ref for a phone its customer gave up
        (``vault_lookup_keys``), else the HMAC itself; then its survivor."""
        mapped: str | None = await conn.fetchval(
            "SELECT customer_ref FROM vault_lookup_keys WHERE lookup_ref = $1", identity_ref
        )
        return await self.survivor(conn, mapped or identity_ref)

    # ------------------------------------------------------------------------------- register

    async def register(
        self, branch_id: str, identity: CustomerIdentity, *, by: Attribution, create: Create | None = None
    ) -> Registration:
        """Store (or update) the customer's PII and link them to ``branch_id``; idempotent per
        identity. Fields left out keep their stored values; after an erasure it starts afresh.

        With an idempotency key (``create``) a retry raises
        :class:`~shared.idempotency.AlreadyCreated` naming the first registration's reference."""
        create = create or Create.none()
        ref = self.ref_for(identity)
        now = self.clock.now()
        masked = identity.masked()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await create.claim(conn)
                ref = await self.lookup(conn, ref)
                row = await conn.fetchrow(
                    """INSERT INTO vault_customers (customer_ref, identity_kind, masked_name, masked_phone,
                           masked_id_number, registered_at, registered_by, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $6)
                       ON CONFLICT (customer_ref) DO UPDATE SET updated_at = vault_customers.updated_at
                       RETURNING (xmax = 0) AS inserted""",
                    ref,
                    identity.kind,
                    masked.name,
                    masked.phone,
                    masked.id_number,
                    now,
                    by.actor,
                )
                wrapped = await conn.fetchval(
                    "SELECT wrapped_key FROM vault_data_keys WHERE customer_ref = $1", ref
                )
                fresh = wrapped is None
                failure: VaultError | None = None
                stored: asyncpg.Record | None = None
                if fresh:
                    data_key, new_wrapped = crypto.create_data_key(self.keyring, ref)
                    await conn.execute(
                        """INSERT INTO vault_data_keys (customer_ref, master_key_id, wrapped_key, created_at)
                           VALUES ($1, $2, $3, $4)""",
                        ref,
                        new_wrapped.key_id,
                        new_wrapped.to_bytes(),
                        now,
                    )
                    await conn.execute("DELETE FROM vault_pii WHERE customer_ref = $1", ref)
                else:
                    try:
                        data_key = crypto.unwrap_data_key(
                            self.keyring, crypto.WrappedKey.from_bytes(wrapped), ref
                        )
                    except crypto.DecryptionError:
                        failure = IntegrityFailure(
                            f"the stored data key of {ref} does not authenticate; registration refused"
                        )
                if failure is None:
                    await self._store(conn, ref, data_key, identity, now)
                    stored = await conn.fetchrow(
                        """UPDATE vault_customers SET
                               masked_name = $2,
                               masked_phone = CASE WHEN $5 THEN $3 ELSE coalesce($3, masked_phone) END,
                               masked_id_number =
                                   CASE WHEN $5 THEN $4 ELSE coalesce($4, masked_id_number) END,
                               updated_at = $6, erased_at = NULL, erased_by = NULL
                           WHERE customer_ref = $1
                           RETURNING masked_name, masked_phone, masked_id_number""",
                        ref,
                        masked.name,
                        masked.phone,
                        masked.id_number,
                        fresh,
                        now,
                    )
                    await conn.execute(
                        """INSERT INTO vault_customer_branches (customer_ref, branch_id, registered_at)
                           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
                        ref,
                        branch_id,
                        now,
                    )
                created = bool(row["inserted"]) or fresh
                status = failure.status if failure else (201 if created else 200)
                await self._audit(conn, "pii.register", ref, by, branch_id=branch_id, status=status)
                if failure is None:
                    await create.record(conn, ref, status)
        if failure is not None:
            raise failure
        assert stored is not None
        return Registration(ref, masked_of(stored), created)

    async def masked(self, ref: str) -> Masked:
        """A registered customer's masked values (no decryption, no audit row: nothing raw)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT masked_name, masked_phone, masked_id_number
                   FROM vault_customers WHERE customer_ref = $1""",
                ref,
            )
        if row is None:
            raise CustomerNotFound(f"customer {ref} is not registered")
        return masked_of(row)

    async def _store(
        self, conn: asyncpg.Connection, ref: str, data_key: bytes, identity: CustomerIdentity, now: datetime
    ) -> None:
        def seal(value: str | None, name: str) -> bytes | None:
            if value is None:
                return None
            return crypto.encrypt_record(data_key, value.encode(), ref, context=name.encode())

        await conn.execute(
            """INSERT INTO vault_pii (customer_ref, name_ct, phone_ct, id_number_ct, updated_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (customer_ref) DO UPDATE SET
                   name_ct = EXCLUDED.name_ct,
                   phone_ct = coalesce(EXCLUDED.phone_ct, vault_pii.phone_ct),
                   id_number_ct = coalesce(EXCLUDED.id_number_ct, vault_pii.id_number_ct),
                   updated_at = EXCLUDED.updated_at""",
            ref,
            seal(identity.name, "name"),
            seal(identity.phone, "phone"),
            seal(identity.id_number, "id_number"),
            now,
        )

    # ----------------------------------------------------------------------------------- read

    async def read(self, ref: str, *, branch_id: str, by: Attribution, reason: str) -> CustomerPii:
        """The decrypted PII of a customer registered in ``branch_id``; audited with ``reason``
        in the same transaction (refusals included)."""
        values, masked, survivor = await self._open(ref, PII_FIELDS, by, "pii.read", branch_id, reason)
        return CustomerPii(survivor, values["name"] or "", values["phone"], values["id_number"], masked)

    async def resolve_phone(self, ref: str, *, by: Attribution, purpose: str, branch_id: str | None) -> str:
        """The customer's phone number for a service sending them a message; audited."""
        values, _, _ = await self._open(ref, ("phone",), by, "pii.resolve_contact", branch_id, purpose)
        phone = values["phone"]
        assert phone is not None
        return phone

    async def _open(
        self,
        ref: str,
        wanted: tuple[str, ...],
        by: Attribution,
        kind: str,
        branch_id: str | None,
        reason: str,
    ) -> tuple[dict[str, str | None], Masked, str]:
        """The wanted fields, masked values and the ref they belong to (a merged ref's survivor)."""
        restrict = branch_id if kind == "pii.read" else None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                ref = await self.survivor(conn, ref)
                row = await conn.fetchrow(_LOAD, ref, restrict)
                failure: VaultError | None = None
                values: dict[str, str | None] = {}
                try:
                    values = self._decrypt(ref, row, wanted, branch_id)
                except VaultError as exc:
                    failure = exc
                status = failure.status if failure else 200
                reason = mask_known_names(reason, [values.get("name") or self._name_of(ref, row)])
                await self._audit(conn, kind, ref, by, branch_id=branch_id, status=status, reason=reason)
        if failure is not None:
            raise failure
        assert row is not None
        return values, masked_of(row), ref

    def _decrypt(
        self, ref: str, row: asyncpg.Record | None, wanted: tuple[str, ...], branch_id: str | None
    ) -> dict[str, str | None]:
        if row is None or not row["in_branch"]:
            where = f" in branch {branch_id}" if branch_id is not None and row is not None else ""
            raise CustomerNotFound(f"no customer {ref} is registered{where}")
        if row["erased_at"] is not None or row["wrapped_key"] is None:
            erased_at = row["erased_at"]
            raise CustomerErased(
                f"the personal data of customer {ref} was erased on request (crypto-shredded); "
                "only masked values remain",
                erased_at=erased_at.isoformat() if erased_at else None,
                masked=masked_of(row).to_json(),
            )
        if row["name_ct"] is None:
            raise IntegrityFailure(f"the stored personal data of {ref} is missing; read refused")
        if "phone" in wanted and len(wanted) == 1 and row["phone_ct"] is None:
            raise NoPhone(f"customer {ref} has no phone number on record")
        try:
            data_key = crypto.unwrap_data_key(
                self.keyring, crypto.WrappedKey.from_bytes(row["wrapped_key"]), ref
            )
            values: dict[str, str | None] = {}
            for name in PII_FIELDS:
                blob = row[f"{name}_ct"]
                if name not in wanted or blob is None:
                    values[name] = None
                    continue
                values[name] = crypto.decrypt_record(data_key, blob, ref, context=name.encode()).decode()
        except (crypto.DecryptionError, UnicodeDecodeError):
            raise IntegrityFailure(
                f"the stored personal data of {ref} failed its integrity check (tampered or wrong key); "
                "read refused and audited"
            ) from None
        return values

    def _name_of(self, ref: str, row: asyncpg.Record | None) -> str | None:
        """The customer's registered name when it can be read (for masking it in the audit
        reason, which staff type freely); None when unknown, erased or unreadable."""
        if row is None or row["wrapped_key"] is None or row["name_ct"] is None:
            return None
        try:
            data_key = crypto.unwrap_data_key(
                self.keyring, crypto.WrappedKey.from_bytes(row["wrapped_key"]), ref
            )
            return crypto.decrypt_record(data_key, row["name_ct"], ref, context=b"name").decode()
        except (crypto.DecryptionError, UnicodeDecodeError):
            return None

    # ---------------------------------------------------------------------------------- erase

    async def erase(self, ref: str, *, by: Attribution, reason: str | None = None) -> Erasure:
        """Crypto-shred the customer: delete the wrapped data key and the ciphertext. Idempotent.

        Masked values stay; the event history is not touched (it never held raw PII)."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                ref = await self.survivor(conn, ref)
                row = await conn.fetchrow(
                    """SELECT masked_name, masked_phone, masked_id_number, erased_at
                       FROM vault_customers WHERE customer_ref = $1 FOR UPDATE""",
                    ref,
                )
                if reason is not None and row is not None:
                    # the name goes with the erasure; the reason, which outlives it, must not hold it
                    known = self._name_of(ref, await conn.fetchrow(_LOAD, ref, None))
                    reason = mask_known_names(reason, [known])
                if row is None:
                    await self._audit(conn, "pii.erase", ref, by, status=404, reason=reason)
                else:
                    if self.record_erasure is not None:
                        await self.record_erasure(ref, now, by, reason)
                    await conn.execute("DELETE FROM vault_data_keys WHERE customer_ref = $1", ref)
                    await conn.execute("DELETE FROM vault_pii WHERE customer_ref = $1", ref)
                    if row["erased_at"] is None:
                        await conn.execute(
                            """UPDATE vault_customers SET erased_at = $2, erased_by = $3
                               WHERE customer_ref = $1""",
                            ref,
                            now,
                            by.actor,
                        )
                        if self.on_erase is not None:
                            await self.on_erase(conn, ref, now, by)
                    await self._audit(conn, "pii.erase", ref, by, status=200, reason=reason)
        if row is None:
            raise CustomerNotFound(f"no customer {ref} is registered")
        already = row["erased_at"] is not None
        return Erasure(ref, row["erased_at"] if already else now, masked_of(row), already)

    # --------------------------------------------------------------------------- maintenance

    async def rewrap_keys(self, batch: int = 500) -> int:
        """Master-key rotation: rewrap every data key not under the current master key (the keyring
        must still hold the retired key). Records are not touched. Returns how many moved."""
        moved = 0
        while True:
            async with self.pool.acquire() as conn:
                async with conn.transaction():
                    rows = await conn.fetch(
                        """SELECT customer_ref, wrapped_key FROM vault_data_keys
                           WHERE master_key_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED""",
                        self.keyring.current_id,
                        batch,
                    )
                    for row in rows:
                        ref = row["customer_ref"]
                        fresh = crypto.rewrap_data_key(
                            self.keyring, crypto.WrappedKey.from_bytes(row["wrapped_key"]), ref
                        )
                        await conn.execute(
                            """UPDATE vault_data_keys
                               SET master_key_id = $2, wrapped_key = $3, rewrapped_at = $4
                               WHERE customer_ref = $1""",
                            ref,
                            fresh.key_id,
                            fresh.to_bytes(),
                            self.clock.now(),
                        )
            moved += len(rows)
            if len(rows) < batch:
                return moved

    # -------------------------------------------------------------------------------- audit

    async def _audit(
        self,
        conn: asyncpg.Connection,
        kind: str,
        ref: str,
        by: Attribution,
        *,
        status: int,
        **what: str | None,
    ) -> None:
        """Audit ``kind`` on the customer ``ref`` by ``by`` in the operation's transaction; ``what``:
        the branch and the reason, when there are."""
        await audit.record(
            conn, by.entry(self.clock.now(), SERVICE, kind, resource_id=ref, status=status, **what)
        )
        # the request's command row (register, erase, resolve) commits with the operation
        audit.note(resource_id=ref, status=status)
        await audit.write_in_transaction(conn)
