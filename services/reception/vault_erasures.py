"""Reception's side of the erasure log (``shared/erasure_log.py``): write before shredding,
re-apply at start-up.

At start-up (an ``on_startup`` hook, after the vault is built and before the service serves) the
whole log is compared with the vault: a vault restored from a backup older than an erasure still
holds that customer's data key, so the erasure is applied again — keys and ciphertext deleted,
reception's texts shredded, ``CustomerErased`` appended for the other contexts (their restored
texts go too) and an ``audit_log`` row ``pii.erase.reapplied`` written, all in one transaction.
On a vault that agrees with the log this is one read of the log and one query.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import uuid4

import asyncpg

from services.reception.vault import Vault
from services.reception.vault_model import Attribution, VaultError
from shared import erasure_log
from shared.erasure_log import Erasure
from shared.runner import ServiceContext

log = logging.getLogger(__name__)


class ErasureLogUnavailable(VaultError):
    status, code = 503, "erasure_log_unavailable"


class ErasureLogStore:
    """The log's connection: its own pool on ``BRANCHCARE_ERASURE_LOG_URL``, else the vault's."""

    def __init__(self, pool: asyncpg.Pool, *, owned: bool) -> None:
        self.pool = pool
        self._owned = owned

    @classmethod
    async def open(cls, vault_pool: asyncpg.Pool, url: str | None) -> ErasureLogStore:
        if url is None:
            store = cls(vault_pool, owned=False)
        else:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2, timeout=10)
            assert pool is not None
            store = cls(pool, owned=True)
        async with store.pool.acquire() as conn:
            await erasure_log.ensure_schema(conn)
        return store

    async def record(self, ref: str, at: datetime, by: Attribution, reason: str | None) -> None:
        """Log one erasure, committed at once; unreachable → :class:`ErasureLogUnavailable` (503),
        and the erasure's own transaction rolls back: nothing is shredded unlogged."""
        try:
            async with self.pool.acquire() as conn:
                await erasure_log.append(conn, Erasure(ref, at, by.actor), reason=reason)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("the erasure log could not record an erasure: %s", type(exc).__name__)
            raise ErasureLogUnavailable(
                "the erasure log cannot be written now; nothing was erased, try again"
            ) from None

    async def entries(self) -> list[Erasure]:
        async with self.pool.acquire() as conn:
            return await erasure_log.read_all(conn)

    async def close(self) -> None:
        if self._owned:
            await self.pool.close()


async def reapply_to_vault(vault: Vault, entries: list[Erasure]) -> list[Erasure]:
    """Apply every logged erasure the vault does not reflect, audited, in one transaction; the
    vault's ``on_erase`` hook runs for each (texts shredded, ``CustomerErased`` appended)."""
    async with vault.pool.acquire() as conn:
        async with conn.transaction():
            applied = await erasure_log.reapply_audited(conn, entries, now=vault.clock.now())
            for entry in applied:
                if vault.on_erase is not None:
                    by = Attribution(erasure_log.RESTORE_ACTOR, uuid4())
                    await vault.on_erase(conn, entry.customer_ref, entry.erased_at, by)
    return applied


async def start_erasure_log(ctx: ServiceContext) -> None:
    """``on_startup`` (after ``start_vault``): open the log, wire it into the vault's erasure and
    re-apply it, so a restored vault never serves a customer who was erased."""
    vault: Vault = ctx.extras["vault"]
    store = await ErasureLogStore.open(ctx.pool, erasure_log.log_url_from_env())
    ctx.extras["erasure_log"] = store
    vault.record_erasure = store.record
    applied = await reapply_to_vault(vault, await store.entries())
    if applied:
        log.warning("re-applied %d erasure(s) from the erasure log (restored vault)", len(applied))
