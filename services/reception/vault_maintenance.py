"""Keeping the vault's records right (信息维护): contact updates and duplicate merges.

- **Contact update** (``pii.update_contact``, lobby managers and branch heads — a changed phone is
  the classic first step of an account takeover, so counter staff alone do not change it): new
  name and/or phone, reason required. The customer gets a **fresh data key** and every field is
  re-encrypted under it, so the old values are unreadable in the live database at once (copies in
  WAL and backups stay only as safe as the master key, as for erasure). Audited; a
  ``CustomerContactUpdated`` event names the changed fields, never a value. Senders (SMS, phone
  surveys) resolve the phone at send time, so they reach the new number.
- **Merge** (``pii.merge``, branch heads): two refs of one person — the same ID number or phone in
  both records (checked by decrypting both), or confirmed by staff from documents. The survivor
  takes the fields it lacks (phone, ID number) from the merged record; the merged record's key and
  ciphertext are deleted and it points at the survivor (``merged_into``), so every later lookup by
  the merged ref (read, contact resolution, erasure, a new registration) reaches the survivor.
  ``CustomersMerged`` carries the two pseudonyms. **Reversal** clears the pointer and records
  ``CustomerMergeReversed``; the merged ref's PII stays erased (re-register to restore it).

Rules that need no database are pure functions (:func:`check_merge`), unit-tested.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.reception.vault import Vault
from services.reception.vault_model import (
    Attribution,
    CustomerErased,
    CustomerIdentity,
    CustomerNotFound,
    IntegrityFailure,
    Masked,
    VaultError,
    masked_of,
    normalise_name,
    normalise_phone,
)
from shared.contracts.customers import MergeBasis
from shared.crypto import DecryptionError, WrappedKey, create_data_key, decrypt_record, unwrap_data_key
from shared.pii import REF_LENGTH, customer_ref, mask_known_names
from shared.registry import EventData

#: appends vault facts to reception's store in the caller's transaction: (conn, customer ref of the
#: stream, branch, events, who)
Publish = Callable[[asyncpg.Connection, str, str, Sequence[EventData], Attribution], Awaitable[None]]


class MergeRefused(VaultError):
    status, code = 409, "merge_refused"


class PhoneInUse(VaultError):
    status, code = 409, "phone_in_use"


def _fresh_ref() -> str:
    """A ref of the issued shape derived from nothing: the next registrant of a given-up phone."""
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()[:REF_LENGTH]


@dataclass(frozen=True)
class Record:
    """One customer's decrypted fields (``repr`` hides them) and state, for the rules below."""

    ref: str
    erased: bool
    merged_into: str | None
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None

    def __repr__(self) -> str:
        return f"Record({self.ref}, erased={self.erased}, merged_into={self.merged_into})"


def check_merge(survivor: Record, merged: Record, basis: MergeBasis) -> str | None:
    """Why this merge is refused, or None. Pure: the vault's merge rules in one place."""
    if survivor.ref == merged.ref:
        return "a customer cannot be merged into itself"
    if survivor.merged_into is not None:
        return f"{survivor.ref} was itself merged into {survivor.merged_into}: merge into that one"
    if merged.merged_into is not None and merged.merged_into != survivor.ref:
        return f"{merged.ref} is already merged into {merged.merged_into}"
    if survivor.erased:
        return f"{survivor.ref} was erased: it cannot survive a merge"
    if basis is MergeBasis.confirmed_by_staff:
        return None
    if merged.erased:
        return f"{merged.ref} was erased: nothing left to compare, merge only as confirmed_by_staff"
    field = "id_number" if basis is MergeBasis.same_id_number else "phone"
    mine, theirs = getattr(survivor, field), getattr(merged, field)
    if mine is None or theirs is None:
        return f"both records need a {field} to merge as {basis.value}"
    if mine != theirs:
        return f"the two records hold different {field}s: not merged"
    return None


def survivor_fills(survivor: Record, merged: Record) -> dict[str, str]:
    """The fields the survivor lacks and the merged record has (its own values always win)."""
    out: dict[str, str] = {}
    for field in ("phone", "id_number"):
        if getattr(survivor, field) is None and getattr(merged, field) is not None:
            out[field] = getattr(merged, field)
    return out


_ROW = """
SELECT c.customer_ref, c.identity_kind, c.masked_name, c.masked_phone, c.masked_id_number, c.erased_at,
       c.merged_into,
       k.wrapped_key, p.name_ct, p.phone_ct, p.id_number_ct,
       EXISTS (SELECT 1 FROM vault_customer_branches b
               WHERE b.customer_ref = c.customer_ref AND b.branch_id = $2) AS in_branch
FROM vault_customers c
LEFT JOIN vault_data_keys k ON k.customer_ref = c.customer_ref
LEFT JOIN vault_pii p ON p.customer_ref = c.customer_ref
WHERE c.customer_ref = $1
FOR UPDATE OF c"""


class VaultMaintenance:
    def __init__(self, vault: Vault, publish: Publish | None = None) -> None:
        self.vault = vault
        self.publish = publish

    # ------------------------------------------------------------------------------ reading

    def _record(self, row: asyncpg.Record) -> Record:
        ref = row["customer_ref"]
        erased = row["erased_at"] is not None or row["wrapped_key"] is None
        if erased or row["name_ct"] is None:
            return Record(ref, erased, row["merged_into"])
        try:
            key = unwrap_data_key(self.vault.keyring, WrappedKey.from_bytes(row["wrapped_key"]), ref)
            values = {
                name: decrypt_record(key, row[f"{name}_ct"], ref, context=name.encode()).decode()
                if row[f"{name}_ct"] is not None
                else None
                for name in ("name", "phone", "id_number")
            }
        except (DecryptionError, UnicodeDecodeError):
            raise IntegrityFailure(f"the stored personal data of {ref} failed its integrity check") from None
        return Record(ref, False, row["merged_into"], values["name"], values["phone"], values["id_number"])

    async def _load(self, conn: asyncpg.Connection, ref: str, branch_id: str) -> asyncpg.Record:
        # a merged ref means its survivor (at the end of a chain of merges)
        row = await conn.fetchrow(_ROW, await self.vault.survivor(conn, ref), branch_id)
        if row is None or not row["in_branch"]:
            raise CustomerNotFound(f"no customer {ref} is registered in branch {branch_id}")
        return row

    async def _rekey(
        self, conn: asyncpg.Connection, ref: str, identity: CustomerIdentity, now: datetime
    ) -> None:
        """A fresh data key, every field re-encrypted under it, the old key and ciphertext gone."""
        data_key, wrapped = create_data_key(self.vault.keyring, ref)
        await conn.execute(
            """UPDATE vault_data_keys SET master_key_id = $2, wrapped_key = $3, created_at = $4,
                      rewrapped_at = NULL WHERE customer_ref = $1""",
            ref,
            wrapped.key_id,
            wrapped.to_bytes(),
            now,
        )
        await conn.execute("DELETE FROM vault_pii WHERE customer_ref = $1", ref)
        await self.vault._store(conn, ref, data_key, identity, now)
        masked = identity.masked()
        await conn.execute(
            """UPDATE vault_customers SET masked_name = $2, masked_phone = $3, masked_id_number = $4,
                      updated_at = $5 WHERE customer_ref = $1""",
            ref,
            masked.name,
            masked.phone,
            masked.id_number,
            now,
        )

    # ------------------------------------------------------------------------ contact update

    async def update_contact(
        self, ref: str, *, branch_id: str, name: str | None, phone: str | None, by: Attribution, reason: str
    ) -> tuple[str, list[str], Masked]:
        """New name and/or phone for a customer of ``branch_id``; returns (ref, changed fields,
        masked values). Audited with ``reason``, refusals included."""
        new_name = normalise_name(name) if name is not None else None
        new_phone = normalise_phone(phone) if phone is not None else None
        now = self.vault.clock.now()
        failure: VaultError | None = None
        changed: list[str] = []
        known: list[str | None] = [new_name]
        async with self.vault.pool.acquire() as conn:
            async with conn.transaction():
                try:
                    row = await self._load(conn, ref, branch_id)
                    ref = row["customer_ref"]
                    current = self._record(row)
                    known.append(current.name)
                    if current.erased:
                        raise CustomerErased(f"the personal data of customer {ref} was erased")
                    assert current.name is not None
                    identity = CustomerIdentity(
                        new_name or current.name, new_phone or current.phone, current.id_number
                    )
                    changed = [
                        f
                        for f, new, old in (
                            ("name", new_name, current.name),
                            ("phone", new_phone, current.phone),
                        )
                        if new is not None and new != old
                    ]
                    if "phone" in changed and row["identity_kind"] == "phone" and current.phone is not None:
                        assert new_phone is not None
                        await self._move_phone_key(conn, ref, current.phone, new_phone, now)
                    if changed:
                        await self._rekey(conn, ref, identity, now)
                        if self.publish is not None:
                            await self.publish(conn, ref, branch_id, [_contact_event(ref, changed, now)], by)
                    masked = identity.masked()
                except VaultError as exc:
                    failure = exc
                status = failure.status if failure else 200
                reason = mask_known_names(reason, known)  # the trail outlives the record
                await self.vault._audit(
                    conn, "pii.update_contact", ref, by, branch_id=branch_id, status=status, reason=reason
                )
        if failure is not None:
            raise failure
        return ref, changed, masked

    async def _move_phone_key(
        self, conn: asyncpg.Connection, ref: str, old_phone: str, new_phone: str, now: datetime
    ) -> None:
        """A customer found by their phone (registered without an ID number) is found by the new
        one from now on, and no longer by the old one: ``vault_lookup_keys`` maps the new phone's
        HMAC to ``ref`` and the old one's to a fresh ref (a recycled number is someone else).
        Refused when another live customer is already found by the new phone (merge them instead)."""
        new_key, old_key = (customer_ref(p, self.vault._pii_key) for p in (new_phone, old_phone))
        holder = await self.vault.lookup(conn, new_key)
        if holder != ref and await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM vault_customers c JOIN vault_data_keys k USING (customer_ref)
                              WHERE c.customer_ref = $1 AND c.erased_at IS NULL)""",
            holder,
        ):
            raise PhoneInUse(
                f"another customer ({holder}) is registered with this phone: if they are one person, "
                "merge the two records (GET …/duplicates, POST …/merge)"
            )
        await conn.executemany(
            """INSERT INTO vault_lookup_keys (lookup_ref, customer_ref, since) VALUES ($1, $2, $3)
               ON CONFLICT (lookup_ref) DO UPDATE SET customer_ref = EXCLUDED.customer_ref,
                   since = EXCLUDED.since""",
            [(new_key, ref, now), (old_key, _fresh_ref(), now)],
        )

    # ---------------------------------------------------------------------------- duplicates

    async def duplicates(
        self, ref: str, *, branch_id: str, by: Attribution
    ) -> list[tuple[str, MergeBasis, Masked]]:
        """Other records of this branch the vault believes are the same person: the ref a
        registration by this customer's phone alone, or by their ID number, would have — an
        identity registered under another ref. Keyed HMACs, no scan; audited (it decrypts)."""
        failure: VaultError | None = None
        found: list[tuple[str, MergeBasis, Masked]] = []
        async with self.vault.pool.acquire() as conn:
            async with conn.transaction():
                try:
                    row = await self._load(conn, ref, branch_id)
                    me = self._record(row)
                    if me.erased:
                        raise CustomerErased(f"the personal data of customer {me.ref} was erased")
                    for value, basis in (
                        (me.id_number, MergeBasis.same_id_number),
                        (me.phone, MergeBasis.same_phone),
                    ):
                        if value is None:
                            continue
                        other = await self.vault.lookup(conn, customer_ref(value, self.vault._pii_key))
                        if other == me.ref or other in {f[0] for f in found}:
                            continue
                        hit = await conn.fetchrow(_ROW, other, branch_id)
                        live = hit is not None and hit["erased_at"] is None and hit["merged_into"] is None
                        if hit is not None and live and hit["in_branch"]:
                            found.append((other, basis, masked_of(hit)))
                except VaultError as exc:
                    failure = exc
                status = failure.status if failure else 200
                await self.vault._audit(conn, "pii.duplicates", ref, by, branch_id=branch_id, status=status)
        if failure is not None:
            raise failure
        return found

    # --------------------------------------------------------------------------------- merge

    async def merge(
        self,
        survivor_ref: str,
        merged_ref: str,
        *,
        branch_id: str,
        basis: MergeBasis,
        by: Attribution,
        reason: str,
    ) -> tuple[bool, Masked]:
        """Merge ``merged_ref`` into ``survivor_ref`` (both registered in ``branch_id``); returns
        (already merged before, the survivor's masked values). Audited, refusals included."""
        now = self.vault.clock.now()
        failure: VaultError | None = None
        already = False
        masked = Masked("", None, None)
        known: list[str | None] = []
        async with self.vault.pool.acquire() as conn:
            async with conn.transaction():
                try:
                    rows = {}
                    for ref in sorted({survivor_ref, merged_ref}):  # one lock order: no deadlock
                        row = await conn.fetchrow(_ROW, ref, branch_id)
                        if row is None or not row["in_branch"]:
                            raise CustomerNotFound(f"no customer {ref} is registered in branch {branch_id}")
                        rows[ref] = row
                    survivor, merged = self._record(rows[survivor_ref]), self._record(rows[merged_ref])
                    known += [survivor.name, merged.name]
                    refusal = check_merge(survivor, merged, basis)
                    if refusal is not None:
                        raise MergeRefused(refusal)
                    already = merged.merged_into == survivor.ref
                    masked = masked_of(rows[survivor_ref])
                    if not already:
                        masked = await self._absorb(conn, survivor, merged, by, now)
                        if self.publish is not None:
                            event = _merge_event(survivor.ref, merged.ref, basis, now)
                            await self.publish(conn, survivor.ref, branch_id, [event], by)
                except VaultError as exc:
                    failure = exc
                status = failure.status if failure else 200
                masked_reason = mask_known_names(reason, known)  # the trail outlives the records
                note = f"merge {merged_ref} into {survivor_ref} ({basis.value}): {masked_reason}"
                await self.vault._audit(
                    conn, "pii.merge", survivor_ref, by, branch_id=branch_id, status=status, reason=note
                )
        if failure is not None:
            raise failure
        return already, masked

    async def _absorb(
        self, conn: asyncpg.Connection, survivor: Record, merged: Record, by: Attribution, now: datetime
    ) -> Masked:
        fills = survivor_fills(survivor, merged)
        assert survivor.name is not None
        identity = CustomerIdentity(
            survivor.name, fills.get("phone", survivor.phone), fills.get("id_number", survivor.id_number)
        )
        if fills:
            await self._rekey(conn, survivor.ref, identity, now)
        await conn.execute("DELETE FROM vault_data_keys WHERE customer_ref = $1", merged.ref)
        await conn.execute("DELETE FROM vault_pii WHERE customer_ref = $1", merged.ref)
        await conn.execute(
            """INSERT INTO vault_customer_branches (customer_ref, branch_id, registered_at)
               SELECT $1, branch_id, registered_at FROM vault_customer_branches WHERE customer_ref = $2
               ON CONFLICT DO NOTHING""",
            survivor.ref,
            merged.ref,
        )
        await conn.execute(
            """UPDATE vault_customers SET merged_into = $2, merged_at = $3, merged_by = $4, updated_at = $3
               WHERE customer_ref = $1""",
            merged.ref,
            survivor.ref,
            now,
            by.actor,
        )
        return identity.masked()

    async def reverse_merge(
        self, survivor_ref: str, merged_ref: str, *, branch_id: str, by: Attribution, reason: str
    ) -> None:
        """Undo a merge from now on: ``merged_ref`` stands alone again (its PII stays erased)."""
        now = self.vault.clock.now()
        failure: VaultError | None = None
        async with self.vault.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(_ROW, merged_ref, branch_id)
                if row is None or row["merged_into"] != survivor_ref:
                    failure = MergeRefused(f"{merged_ref} is not merged into {survivor_ref}")
                else:
                    await conn.execute(
                        """UPDATE vault_customers SET merged_into = NULL, merged_at = NULL, merged_by = NULL,
                                  updated_at = $2 WHERE customer_ref = $1""",
                        merged_ref,
                        now,
                    )
                    if self.publish is not None:
                        event = _reversal_event(survivor_ref, merged_ref, now)
                        await self.publish(conn, survivor_ref, branch_id, [event], by)
                status = failure.status if failure else 200
                note = f"reverse merge of {merged_ref} into {survivor_ref}: {reason}"
                await self.vault._audit(
                    conn,
                    "pii.merge.reverse",
                    survivor_ref,
                    by,
                    branch_id=branch_id,
                    status=status,
                    reason=note,
                )
        if failure is not None:
            raise failure


def _contact_event(ref: str, changed: list[str], at: datetime) -> EventData:
    from shared.contracts.customers import CustomerContactUpdated

    return CustomerContactUpdated.model_validate({"customer_ref": ref, "changed": changed, "at": at})


def _merge_event(survivor: str, merged: str, basis: MergeBasis, at: datetime) -> EventData:
    from shared.contracts.customers import CustomersMerged

    return CustomersMerged(survivor_ref=survivor, merged_ref=merged, basis=basis, at=at)


def _reversal_event(survivor: str, merged: str, at: datetime) -> EventData:
    from shared.contracts.customers import CustomerMergeReversed

    return CustomerMergeReversed(survivor_ref=survivor, merged_ref=merged, at=at)
