"""Private texts: free text stays, encrypted and erasable, in the service that received it.

The decided design (``shared/SECURITY.md``, "Free text"): staff's free text never goes into an
event, because an event is kept forever and copied to every consumer, and a customer's name typed
into a note cannot be found and masked reliably. Instead:

1. A request body's text fields are :data:`~shared.contracts.text.FreeText` (validated).
2. The route collects them in a :class:`TextBatch` (``app.texts.batch()``): each ``add(text)``
   masks the numbers in it (``shared.pii.scrub_text``, the one policy) and gives back a
   :class:`~shared.contracts.text.TextRef` — context, a fresh text id, the length. The command
   carries the refs; the decider copies them into events and never looks at the words.
3. ``CommandHandler.execute(..., texts=batch)`` saves the batch in the command's own transaction,
   after the decision and with the append (a refused command stores nothing), each text encrypted
   under its owner's data key: the customer of the stream (``state.customer_ref``) or, for a text
   about no known customer, the branch.
4. Reads: the service's own views render its refs with :class:`TextReader` (the words for staff
   of the branch holding ``text.read``; ``hidden`` for anyone else, e.g. HQ), and every service
   with texts serves ``GET /texts/{text_id}`` (:mod:`shared.texts_route`, audited as a PII read)
   so the console can show a text another context owns.
5. Erasure: when the reception vault erases a customer it appends ``CustomerErased``; every service
   with texts deletes that customer's data key and ciphertexts (:meth:`PrivateTexts.erase_customer`,
   idempotent): crypto-shredding.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel
from pydantic_core import to_json

from shared import db_batch
from shared.auth import Principal, is_allowed
from shared.contracts.text import MAX_TEXT, TEXT_CONTEXTS, TextContext, TextRef, clean_text
from shared.crypto import (
    DecryptionError,
    MasterKeyring,
    WrappedKey,
    create_data_key,
    decrypt_record,
    encrypt_record,
    rewrap_data_key,
    unwrap_data_key,
)
from shared.one_statement import NEW_KEYS
from shared.pii import scrub_text
from shared.runner import ServiceContext
from shared.text_owners import BRANCH_OWNER, CUSTOMER_OWNER, STREAM_KEYS

log = logging.getLogger(__name__)

__all__ = [
    "STREAM_KEYS",
    "PrivateTexts",
    "StoredText",
    "TextBatch",
    "TextReader",
    "TextView",
    "check_text_keys",
    "refs_in",
    "texts_for",
]

_RECORD_CONTEXT = b"branchcare.private-text.v1\x00"
#: a command's new texts (``$1``: a JSON array of rows, the ciphertext as hex)
_INSERT_TEXTS = """INSERT INTO private_texts (text_id, owner, branch_id, ciphertext, length)
SELECT r.text_id, r.owner, r.branch_id, decode(r.ciphertext, 'hex'), r.length
FROM json_to_recordset($1::json)
     AS r(text_id uuid, owner text, branch_id text, ciphertext text, length int)"""

TextStatus = Literal["shown", "erased", "withheld", "elsewhere", "hidden", "unknown"]


def customer_owner(customer_ref: str) -> str:
    return f"{CUSTOMER_OWNER}{customer_ref}"


def branch_owner(branch_id: str) -> str:
    return f"{BRANCH_OWNER}{branch_id}"


@functools.lru_cache(maxsize=4096)
def _subject(owner: str) -> str:
    """The owner as the crypto module's associated-data subject (a ref-shaped token); a command
    needs it twice (its key, its texts) and a busy owner again and again: kept for the last few
    thousand owners (a hash of a pseudonymous owner name, nothing secret)."""
    return base64.urlsafe_b64encode(hashlib.sha256(owner.encode()).digest()).decode().rstrip("=")


# ----------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Pending:
    ref: TextRef
    text: str


class TextBatch:
    """The texts of one command, masked and referenced now, stored with the command's events."""

    def __init__(self, store: PrivateTexts) -> None:
        self.store = store
        self._items: list[_Pending] = []

    def add(self, text: str | None, *, max_length: int = MAX_TEXT) -> TextRef | None:
        """A ref for ``text`` (None for no text or an empty one). The text is normalised and
        checked again (``clean_text``) and its numbers are masked before anything keeps it."""
        if text is None:
            return None
        masked = scrub_text(clean_text(text, max_length=max_length))
        if not masked:
            return None
        ref = TextRef(context=self.store.context, text_id=uuid4(), length=len(masked))
        self._items.append(_Pending(ref, masked))
        return ref

    def require(self, text: str) -> TextRef:
        """A ref for a text that must not be empty (the body's type already refused empty)."""
        ref = self.add(text)
        if ref is None:
            raise ValueError("a required text is empty")
        return ref

    def __bool__(self) -> bool:
        return bool(self._items)

    def stored(self, *, branch_id: str, customer_ref: str | None) -> dict[UUID, StoredText]:
        """The batch's texts as :meth:`PrivateTexts.resolve` would find them once saved (under
        the customer, else the branch): an answer shows them without reading them back."""
        owner = customer_owner(customer_ref) if customer_ref else branch_owner(branch_id)
        return {
            i.ref.text_id: StoredText(i.ref.text_id, branch_id, owner, i.ref.length, i.text)
            for i in self._items
            if i.ref.text_id is not None
        }

    def __len__(self) -> int:
        return len(self._items)

    async def save(
        self,
        conn: asyncpg.Connection,
        *,
        branch_id: str,
        customer_ref: str | None,
        keys: Mapping[str, bytes] | None = None,
    ) -> None:
        """Store the batch in ``conn``'s transaction (``CommandHandler`` calls this, again on a
        retried attempt: the rolled-back attempt stored nothing); ``keys``: the wrapped keys
        read with the stream (:data:`STREAM_KEYS`)."""
        await self.store.save(conn, self._items, branch_id=branch_id, customer_ref=customer_ref, keys=keys)


@dataclass(frozen=True)
class StoredText:
    text_id: UUID
    branch_id: str
    owner: str
    length: int
    #: the masked words, or None when the owner was erased
    text: str | None

    @property
    def erased(self) -> bool:
        return self.text is None


_GET_OR_CREATE_KEY = """
WITH found AS (
    SELECT wrapped_key FROM text_keys WHERE owner = $1 AND wrapped_key IS NOT NULL
), created AS (
    INSERT INTO text_keys (owner, wrapped_key, master_key_id)
    SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (owner) DO UPDATE
        SET wrapped_key = EXCLUDED.wrapped_key, master_key_id = EXCLUDED.master_key_id,
            created_at = now(), erased_at = NULL
        WHERE text_keys.wrapped_key IS NULL
    RETURNING wrapped_key
)
SELECT wrapped_key FROM found
UNION ALL
SELECT wrapped_key FROM created
LIMIT 1
"""
_READ_KEY = "SELECT wrapped_key FROM text_keys WHERE owner = $1 AND wrapped_key IS NOT NULL"
#: a new owner's key, created with the command's one statement (``shared.one_statement``): a key
#: row already there (or an erased one) makes it, and so the whole statement, fail
_NEW_KEY = "INSERT INTO text_keys (owner, wrapped_key, master_key_id) VALUES ($1, $2, $3)"
#: owners this process saw with a key (their texts read it first), bounded; only a choice of path
_KEYED: dict[str, None] = {}
_KEYED_MAX = 50_000


def _one_statement(conn: asyncpg.Connection) -> bool:
    """Whether ``conn``'s writes go as one statement outside a transaction (``shared.one_statement``)."""
    return db_batch.pending(conn) is not None and not conn.is_in_transaction()


def _keyed(owner: str) -> None:
    if len(_KEYED) >= _KEYED_MAX:
        _KEYED.clear()
    _KEYED[owner] = None


class PrivateTexts:
    """One service's private texts (tables of ``shared/sql/0005_private_texts.sql`` in its schema)."""

    def __init__(self, context: TextContext | str, keyring: MasterKeyring) -> None:
        if context not in TEXT_CONTEXTS:
            raise ValueError(f"{context!r} keeps no texts (contexts: {', '.join(TEXT_CONTEXTS)})")
        self.context: TextContext = context  # type: ignore[assignment]
        self.keyring = keyring

    @classmethod
    def from_env(cls, context: str) -> PrivateTexts:
        """The master key as the vault reads it (``BRANCHCARE_MASTER_KEY`` + id + retired keys);
        :class:`~shared.crypto.KeyConfigError` naming the variable when it is missing."""
        return cls(context, MasterKeyring.from_env())

    def batch(self) -> TextBatch:
        return TextBatch(self)

    async def _data_key(self, conn: asyncpg.Connection, owner: str, known: bytes | None = None) -> bytes:
        """The owner's data key: ``known`` (its wrapped key as read with the stream), else read or
        created by one statement that locks nothing when the key exists (commands about one
        branch's anonymous visitors must not queue on one row).

        Erasure: a key read before an erasure deleted it (with the stream, or by this statement)
        seals a text that is unreadable afterwards, as the erasure wants: its row is gone or holds
        a new key, which does not open the text (``resolve`` then shows it erased). Keys are never
        kept beyond the command."""
        subject = _subject(owner)
        if known is not None:
            return unwrap_data_key(self.keyring, WrappedKey.from_bytes(known), subject)
        key, wrapped = create_data_key(self.keyring, subject)
        if owner not in _KEYED and NEW_KEYS.get() and _one_statement(conn):
            # created with the command's statement; a key already there aborts it, and the
            # command runs again with NEW_KEYS off (shared.one_statement.run)
            await db_batch.write(conn, _NEW_KEY, owner, wrapped.to_bytes(), wrapped.key_id)
            _keyed(owner)
            return key
        _keyed(owner)
        stored: bytes | None = await conn.fetchval(
            _GET_OR_CREATE_KEY, owner, wrapped.to_bytes(), wrapped.key_id
        )
        if stored is None:  # another transaction created it after this statement began: read it now
            stored = await conn.fetchval(_READ_KEY, owner)
            if stored is None:
                raise RuntimeError(f"no data key for {self.context} texts of one owner; retry")
        if stored == wrapped.to_bytes():
            return key
        return unwrap_data_key(self.keyring, WrappedKey.from_bytes(stored), subject)

    async def save(
        self,
        conn: asyncpg.Connection,
        items: Iterable[_Pending],
        *,
        branch_id: str,
        customer_ref: str | None,
        keys: Mapping[str, bytes] | None = None,
    ) -> None:
        pending = list(items)
        if not pending:
            return
        owner = customer_owner(customer_ref) if customer_ref else branch_owner(branch_id)
        key = await self._data_key(conn, owner, (keys or {}).get(owner))
        subject = _subject(owner)
        rows = []
        for item in pending:
            assert item.ref.text_id is not None
            sealed = encrypt_record(
                key, item.text.encode(), subject, context=self._record_context(item.ref.text_id)
            )
            rows.append(
                {
                    "text_id": item.ref.text_id,
                    "owner": owner,
                    "branch_id": branch_id,
                    "ciphertext": sealed.hex(),
                    "length": item.ref.length,
                }
            )
        # one statement, queued with the command's append when a batch is open (shared.db_batch);
        # the rows as one JSON parameter, not five arrays (asyncpg encodes an array per column:
        # issue 19), the ciphertext as hex
        await db_batch.write(conn, _INSERT_TEXTS, to_json(rows).decode())

    def _record_context(self, text_id: UUID) -> bytes:
        return _RECORD_CONTEXT + self.context.encode() + b"\x00" + text_id.bytes

    # ------------------------------------------------------------------------------- reading

    async def resolve(self, conn: asyncpg.Connection, text_ids: Iterable[UUID]) -> dict[UUID, StoredText]:
        """The stored texts among ``text_ids`` (unknown ids are left out), decrypted."""
        ids = list(dict.fromkeys(text_ids))
        if not ids:
            return {}
        rows = await conn.fetch(
            """SELECT t.text_id, t.owner, t.branch_id, t.ciphertext, t.length, k.wrapped_key
               FROM private_texts t LEFT JOIN text_keys k ON k.owner = t.owner
               WHERE t.text_id = ANY($1::uuid[])""",
            ids,
        )
        return self.decrypted(rows)

    def decrypted(self, rows: Iterable[Mapping[str, Any]]) -> dict[UUID, StoredText]:
        """Rows of :meth:`resolve`'s query (text_id, owner, branch_id, ciphertext, length and the
        owner's wrapped_key), decrypted: for a caller that read them with something else."""
        keys: dict[str, bytes | None] = {}
        found: dict[UUID, StoredText] = {}
        for row in rows:
            text: str | None = None
            if row["ciphertext"] is not None and row["wrapped_key"] is not None:
                owner = row["owner"]
                try:
                    if owner not in keys:
                        wrapped = WrappedKey.from_bytes(row["wrapped_key"])
                        keys[owner] = unwrap_data_key(self.keyring, wrapped, _subject(owner))
                    key = keys[owner]
                    if key is not None:
                        context = self._record_context(row["text_id"])
                        sealed = row["ciphertext"]
                        text = decrypt_record(key, sealed, _subject(owner), context=context).decode()
                except DecryptionError:
                    # written under a key erased meanwhile (the new key cannot open it), or tampered:
                    # unreadable either way, never garbage
                    keys.setdefault(row["owner"], None)
                    log.info("%s text %s does not decrypt: treated as erased", self.context, row["text_id"])
            found[row["text_id"]] = StoredText(
                row["text_id"], row["branch_id"], row["owner"], row["length"], text
            )
        return found

    async def reader(
        self, conn: asyncpg.Connection, refs: Iterable[TextRef | None], *, may_read: bool
    ) -> TextReader:
        """A :class:`TextReader` for one answer: this context's refs among ``refs`` resolved at
        once (only when the reader ``may_read``: staff of the branch with ``text.read``)."""
        own = [r.text_id for r in refs if r is not None and r.context == self.context and r.text_id]
        found = await self.resolve(conn, own) if may_read else {}
        return TextReader(self.context, found, may_read)

    # ------------------------------------------------------------------------------- erasure

    async def erase_customer(self, conn: asyncpg.Connection, customer_ref: str) -> int:
        """Crypto-shred a customer's texts: their wrapped data key and ciphertexts go. Idempotent;
        returns how many texts became unreadable now."""
        owner = customer_owner(customer_ref)
        await conn.execute(
            """UPDATE text_keys SET wrapped_key = NULL, master_key_id = NULL, erased_at = now()
               WHERE owner = $1 AND wrapped_key IS NOT NULL""",
            owner,
        )
        status = await conn.execute(
            "UPDATE private_texts SET ciphertext = NULL WHERE owner = $1 AND ciphertext IS NOT NULL", owner
        )
        return int(status.split()[-1])

    async def rewrap_keys(self, conn: asyncpg.Connection) -> int:
        """Master-key rotation: rewrap every data key under the current master key (the keyring must
        still hold the retired one). Texts are not touched. Returns how many keys moved."""
        rows = await conn.fetch(
            """SELECT owner, wrapped_key FROM text_keys
               WHERE wrapped_key IS NOT NULL AND master_key_id <> $1 FOR UPDATE""",
            self.keyring.current_id,
        )
        for row in rows:
            wrapped = WrappedKey.from_bytes(row["wrapped_key"])
            fresh = rewrap_data_key(self.keyring, wrapped, _subject(row["owner"]))
            await conn.execute(
                "UPDATE text_keys SET wrapped_key = $2, master_key_id = $3 WHERE owner = $1",
                row["owner"],
                fresh.to_bytes(),
                fresh.key_id,
            )
        return len(rows)


# ------------------------------------------------------------------------------------- views


class TextView(BaseModel):
    """A text as an answer shows it: the reference, and the words when this reader may see them.

    ``status``: ``shown`` (``text`` holds the masked words), ``erased`` (the customer was erased),
    ``withheld`` (recorded before v2: never kept), ``elsewhere`` (owned by the ``context`` named:
    ask ``GET /texts/{text_id}`` there), ``hidden`` (not for this reader, e.g. an HQ-wide token),
    ``unknown`` (no such text here)."""

    context: TextContext
    text_id: UUID | None
    length: int
    status: TextStatus
    text: str | None = None


class TextReader:
    """Renders the refs of one answer (see :meth:`PrivateTexts.reader`)."""

    def __init__(self, context: str, found: Mapping[UUID, StoredText], may_read: bool) -> None:
        self.context = context
        self.found = found
        self.may_read = may_read

    def view(self, ref: TextRef | None) -> TextView | None:
        if ref is None:
            return None
        stored = self.found.get(ref.text_id) if ref.text_id is not None else None
        status: TextStatus
        if ref.withheld or ref.text_id is None:
            status = "withheld"
        elif ref.context != self.context:
            status = "elsewhere"
        elif not self.may_read:
            status = "hidden"
        elif stored is None:
            status = "unknown"
        else:
            status = "erased" if stored.erased else "shown"
        return TextView(
            context=ref.context,
            text_id=ref.text_id,
            length=ref.length,
            status=status,
            text=stored.text if status == "shown" and stored is not None else None,
        )

    def views(self, refs: Iterable[TextRef]) -> list[TextView]:
        return [v for v in (self.view(r) for r in refs) if v is not None]

    def render(self, data: Any) -> Any:
        """``data`` (an event's JSON data) with every text reference in it shown as a
        :class:`TextView` (as JSON): what a history entry shows."""
        if isinstance(data, dict):
            ref = _as_ref(data)
            if ref is not None:
                view = self.view(ref)
                return view.model_dump(mode="json") if view is not None else None
            return {k: self.render(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.render(v) for v in data]
        return data


_REF_KEYS = frozenset(TextRef.model_fields)


def _as_ref(node: dict[str, Any]) -> TextRef | None:
    if node.keys() != _REF_KEYS:
        return None
    try:
        return TextRef.model_validate(node)
    except ValueError:
        return None


def refs_in(data: Any) -> list[TextRef]:
    """Every text reference inside ``data`` (an event's JSON data, nested lists and objects)."""
    if isinstance(data, dict):
        ref = _as_ref(data)
        if ref is not None:
            return [ref]
        return [r for v in data.values() for r in refs_in(v)]
    if isinstance(data, list):
        return [r for v in data for r in refs_in(v)]
    return []


def may_read_texts(staff: Principal, branch_id: str) -> bool:
    """Whether ``staff`` may see the words of texts of ``branch_id`` (``text.read``)."""
    return is_allowed(staff, "text.read", branch_id)


# ------------------------------------------------------------------------------ the service


TEXTS_KEY = "private_texts"


def texts_for(ctx: ServiceContext) -> PrivateTexts:
    """The service's :class:`PrivateTexts`, created on first use (master key from the env)."""
    texts: PrivateTexts | None = ctx.extras.get(TEXTS_KEY)
    if texts is None:
        texts = ctx.extras[TEXTS_KEY] = PrivateTexts.from_env(ctx.name)
    return texts


def check_text_keys() -> None:
    """``Service.checks``: the master key the private texts are wrapped with is configured."""
    MasterKeyring.from_env()
