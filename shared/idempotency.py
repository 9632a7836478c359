"""Idempotent creates: an ``Idempotency-Key`` makes a retried or double-clicked create return the
first result instead of a second case, ticket or answer.

Decision (issue 15):

- **Scope**: a key belongs to one branch of one service (the branch the create acts in). The same
  key in another branch is another key; the same key on another route of the same branch is a
  conflict (422), like another body.
- **A deterministic id** for a new stream: ``uuid5(NAMESPACE, HMAC(key_secret, service, branch,
  key))``. Two replicas racing on the same key name the same stream, so the event store's unique
  ``(stream_id, version)`` would refuse a second first event even without anything else. The id
  goes through a keyed HMAC (not ``uuid5`` of the raw key) because ids travel in events forever
  and a careless client could use a guessable value (a phone number) as its key.
- **A small table** ``idempotency_keys`` (``shared/sql/0005_idempotency.sql``), written in the
  create's own transaction: the key's digest, the request's fingerprint, the resource it created
  (or merged into, or answered) and the first status. It is needed anyway: a cn-2020 repeat is
  merged into an existing case (no new stream to derive), a queue ticket and a survey answer are
  commands on an existing stream, and a vault registration writes no event at all. The key is
  *claimed first* in the transaction by inserting its row (``INSERT … ON CONFLICT``, one round
  trip: the row's unique key is the lock): a concurrent request with the same key waits until the
  first commits, then finds its row and replays it; if the first rolls back (refused, 4xx), its
  row is gone and the key is free again. The row names the resource and status once they are
  known (:meth:`Create.record`, queued with the create's append); a row left without them (a
  create that committed without recording, e.g. a refused vault registration) does not count:
  the next request with the key takes it over. (Before issue 19 the claim was an advisory lock
  and a look-up: two round trips, which cannot share a statement, since a statement's snapshot is
  taken before its lock wait.) The insert gives the transaction its id at the claim: a keyed
  create that then extends an *existing* stream (a cn-2020 repeat merged into its case) may find
  that stream written meanwhile by a younger transaction and is refused as a conflict (409), as
  ``shared.eventstore`` explains; a retry with the same key runs afresh.
- **The fingerprint** is a keyed HMAC of the route, its path parameters and the *validated* body
  (defaults filled in, so ``{}`` and ``{"arrival": "walk_in"}`` are the same request). Keyed,
  because a registration body is a name and a number: a plain hash of it could be brute-forced.
  Neither the key nor the body is stored in clear.
- **Replay**: the same key with the same body answers the resource's current representation in
  the create's own shape, with the first status code (201, or 200 for a merge or a known
  customer) and ``Idempotent-Replayed: true``. Another body or route → 422 naming the conflict.
- **Retention**: rows are kept at least ``IDEMPOTENCY_RETENTION_HOURS`` (default 72, minimum 24),
  pruned in small batches by the creates themselves (at most once per 10 minutes per process).
  After that a reused key is a new request; for a create of a new stream the deterministic id
  still exists, so the decider refuses it (409) instead of making a duplicate.
- The HMAC key is derived from ``BRANCHCARE_PII_KEY`` (the same in every service, never rotated:
  rotating it would change every ``customer_ref`` too).

Usage in a route::

    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    try:
        result = await app.arrive(..., create=create)      # claims first, records its result
    except AlreadyCreated as done:
        return replay(response, done, await render(done.resource_id))
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel

from shared import audit, db_batch
from shared.auth.dependencies import BRANCH_CHECK_KEY
from shared.auth.routes import effective_routes
from shared.pii import pii_key_from_env

log = logging.getLogger(__name__)

__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "AlreadyCreated",
    "Create",
    "IdempotencyKey",
    "check_idempotency_secret",
    "checked_branch",
    "claim_first",
    "document_idempotency",
    "install_idempotency",
    "replay",
]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{8,255}$"
DEFAULT_RETENTION = timedelta(hours=72)
MIN_RETENTION = timedelta(hours=24)
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCH = 1000
NAMESPACE = uuid5(NAMESPACE_URL, "https://branchcare/idempotent-create")
_DERIVATION_LABEL = b"branchcare.idempotency.v1"
_PARAMETER_NAME = "IdempotencyKey"
_CONFLICT_DOC = "Invalid input, or the Idempotency-Key was already used for another request"

DESCRIPTION = (
    "Makes this create safe to retry: send a fresh random value (a UUID) per intended create "
    "and the same value when you retry it (timeout, double click, lost answer). The same key "
    "with the same body answers the first result — the same id, the first status code, with "
    "`Idempotent-Replayed: true` — instead of creating a second resource; the same key with "
    "another body or on another route answers 422. Keys are scoped to the branch, shared by "
    "every replica, and kept at least 24 h (72 h by default). 8–255 visible ASCII characters; "
    "optional (without it every request creates)."
)

IdempotencyKey = Annotated[
    str | None,
    Header(alias=HEADER, description=DESCRIPTION, pattern=KEY_PATTERN, examples=[str(NAMESPACE)]),
]
"""The route parameter: ``idempotency_key: IdempotencyKey = None``."""


@functools.cache
def _secret() -> bytes:
    return hmac.new(pii_key_from_env(), _DERIVATION_LABEL, hashlib.sha256).digest()


def check_idempotency_secret() -> None:
    """``Service.checks`` of a service with creates: the PII key it derives from is configured
    (else :class:`~shared.crypto.KeyConfigError` naming the variable, before anything starts)."""
    _secret()


def _mac(*parts: str) -> bytes:
    return hmac.new(_secret(), "\x00".join(parts).encode(), hashlib.sha256).digest()


def _canonical(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def checked_branch(request: Request) -> str | None:
    """The branch ``requires``/``requires_on`` checked for this request (the scope of a create on
    a resource by id), None when none was (the resource does not exist)."""
    check = (request.scope.get("state") or {}).get(BRANCH_CHECK_KEY)
    branch = getattr(check, "checked_branch", None)
    return branch if isinstance(branch, str) else None


class AlreadyCreated(Exception):
    """The key was used before with the same request: answer its resource, don't create again."""

    def __init__(self, resource_id: str, status: int) -> None:
        super().__init__(f"already created: {resource_id}")
        self.resource_id = resource_id
        self.status = status


#: the claim: the key's row, inserted (or an unrecorded one taken over); no row back when the key
#: belongs to a request that committed (after waiting for one still in flight)
_CLAIM = """
INSERT INTO idempotency_keys (key_digest, scope, operation, fingerprint, resource_id, status, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key_digest) DO UPDATE
    SET scope = EXCLUDED.scope, operation = EXCLUDED.operation, fingerprint = EXCLUDED.fingerprint,
        resource_id = EXCLUDED.resource_id, status = EXCLUDED.status, created_at = EXCLUDED.created_at
    WHERE idempotency_keys.resource_id IS NULL
RETURNING true
"""
_FIRST = "SELECT operation, fingerprint, resource_id, status FROM idempotency_keys WHERE key_digest = $1"
_RECORD = """
INSERT INTO idempotency_keys (key_digest, scope, operation, fingerprint, resource_id, status, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key_digest) DO UPDATE SET resource_id = EXCLUDED.resource_id, status = EXCLUDED.status
"""
_PRUNE = """
DELETE FROM idempotency_keys WHERE key_digest IN (
    SELECT key_digest FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)
"""
_last_prune = 0.0


@dataclass(frozen=True)
class Create:
    """One create request's idempotency. Without a key (``digest is None``) every method is a
    no-op and :meth:`new_id` is random: the create behaves as it always did."""

    service: str
    scope: str
    operation: str
    digest: bytes | None
    fingerprint: bytes
    at: datetime
    retention: timedelta = DEFAULT_RETENTION

    @classmethod
    def none(cls) -> Create:
        """Not idempotent (internal callers, reactions: their ids come from the causing event)."""
        return cls("", "", "", None, b"", datetime.min)

    @classmethod
    def of(cls, request: Request, key: str | None, *, scope: str, body: Any) -> Create:
        """The create behind ``request``: route template, path parameters and the validated
        ``body`` (a pydantic model or plain JSON data) make its fingerprint."""
        ctx = request.app.state.ctx
        route = request.scope.get("route")
        # the route's template; the request's path only without one (building the URL costs ~30 µs)
        path = getattr(route, "path", None) or request.url.path
        operation = f"{request.method} {path}"
        if key is None:  # nothing is claimed or pruned: no key row, no retention
            return cls(ctx.name, scope, operation, None, b"", ctx.clock.now())
        retention = timedelta(hours=float(getattr(ctx.settings, "idempotency_retention_hours", 72)))
        params = {k: str(v) for k, v in request.path_params.items()}
        fingerprint = _mac("request", operation, _canonical(params), _canonical(body))
        digest = _mac("key", ctx.name, scope, key)
        return cls(
            ctx.name, scope, operation, digest, fingerprint, ctx.clock.now(), max(retention, MIN_RETENTION)
        )

    @classmethod
    def on_resource(cls, request: Request, key: str | None, *, body: Any) -> Create:
        """A create that is a command on an existing resource by id (a queue ticket, a survey
        answer): scoped to the branch ``requires_on`` checked. When the resource does not exist
        (nothing was checked) the command answers 404 anyway: no key is claimed."""
        branch = checked_branch(request)
        if key is None or branch is None:
            return cls.none()
        return cls.of(request, key, scope=branch, body=body)

    @property
    def keyed(self) -> bool:
        return self.digest is not None

    def new_id(self) -> UUID:
        """The new resource's id: derived from the key (the same on every replica), else random."""
        return uuid4() if self.digest is None else uuid5(NAMESPACE, self.digest.hex())

    async def claim(
        self, conn: asyncpg.Connection, *, resource_id: str | None = None, status: int | None = None
    ) -> None:
        """Take the key inside the create's transaction, before the create decides anything.

        Inserting the key's row makes a concurrent request with the same key wait until the first
        one commits (then it finds its row and replays it) or rolls back (then it goes ahead): one
        round trip. Raises :class:`AlreadyCreated` when the key's first request committed with
        the same fingerprint, 422 when it was another request. Given ``resource_id`` and
        ``status`` (known up front: a derived id), the row records them at once; else
        :meth:`record` does, with the create's append."""
        if self.digest is None:
            if resource_id is not None and status is not None:
                audit.note(resource_id=resource_id, status=status)
            return
        first = None
        for _ in range(3):
            claimed = await conn.fetchval(_CLAIM, *self._row(resource_id, status))
            if claimed:
                await self._prune(conn)
                if resource_id is not None and status is not None:
                    audit.note(resource_id=resource_id, status=status)
                return
            first = await conn.fetchrow(_FIRST, self.digest)  # a fresh snapshot: the first's row
            if first is not None:
                break
            # pruned between the two statements (older than the retention): claim it again
        if first is None:
            raise RuntimeError("idempotency key could not be claimed; retry")
        if first["operation"] != self.operation:
            raise HTTPException(
                422,
                f"{HEADER} conflict: this key was already used in this branch for "
                f"{first['operation']}, not {self.operation}; send a new key for a new request",
            )
        if not hmac.compare_digest(bytes(first["fingerprint"]), self.fingerprint):
            raise HTTPException(
                422,
                f"{HEADER} conflict: this key was already used in this branch with another body; "
                "a retry must repeat the first request exactly, a new request needs a new key",
            )
        raise AlreadyCreated(first["resource_id"], first["status"])

    async def record(self, conn: asyncpg.Connection, resource_id: str, status: int) -> None:
        """Remember what the claimed key produced, in the create's transaction (after
        :meth:`claim`, so nobody else holds the key: its row is this transaction's); the
        request's audit row (written with the same transaction) names the same resource and
        status, key or not."""
        audit.note(resource_id=resource_id, status=status)
        if self.digest is not None:  # queued with the create's append (shared.db_batch)
            await db_batch.write(conn, _RECORD, *self._row(resource_id, status))

    def _row(self, resource_id: str | None, status: int | None) -> tuple[object, ...]:
        """The key's row as ``_CLAIM`` and ``_RECORD`` take it."""
        return (self.digest, self.scope, self.operation, self.fingerprint, resource_id, status, self.at)

    async def _prune(self, conn: asyncpg.Connection) -> None:
        global _last_prune
        if time.monotonic() - _last_prune < PRUNE_EVERY_SECONDS:
            return
        _last_prune = time.monotonic()
        # old keys only, never this one: safe to send with the create's other writes
        await db_batch.write(conn, _PRUNE, self.at - self.retention, PRUNE_BATCH)


def claim_first(
    create: Create, command: Any, *, resource_id: str | None = None, status: int | None = None
) -> Callable[[asyncpg.Connection, Any], Awaitable[Any]]:
    """A command builder (``shared.commands.MakeCommand``) that claims ``create``'s key — and,
    given them, records ``resource_id``/``status`` — in the command's own transaction before
    building ``command`` (a command, or itself a builder): for creates that are commands on an
    existing stream (a queue ticket, a complaint raised during a visit, a survey answer). A caller
    that owns the transaction records after the append instead (no write before the append)."""

    async def make(conn: asyncpg.Connection, loaded: Any) -> Any:
        await create.claim(conn, resource_id=resource_id, status=status)
        return await command(conn, loaded) if callable(command) else command

    return make


def replay(response: Response, done: AlreadyCreated) -> None:
    """Mark ``response`` as the replay of the first result (its status, the replay header)."""
    response.status_code = done.status
    response.headers[REPLAYED_HEADER] = "true"


def takes_key(route: object) -> bool:
    """Whether a route declares the ``Idempotency-Key`` header."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        if any(p.alias.lower() == HEADER.lower() for p in dependant.header_params):
            return True
        pending.extend(dependant.dependencies)
    return False


def install_idempotency(app: FastAPI) -> None:
    """For an app with creates: check the HMAC key now (a missing ``BRANCHCARE_PII_KEY`` stops
    the service at start-up, :class:`~shared.crypto.KeyConfigError`) and document the header
    once in OpenAPI. Call after every router is included."""
    if any(takes_key(route) for _, route in effective_routes(app)):
        check_idempotency_secret()
        document_idempotency(app)


def document_idempotency(app: FastAPI) -> None:
    """One reusable ``IdempotencyKey`` header parameter in ``components.parameters`` of the
    OpenAPI document, referenced by every create (instead of a copy per operation)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        shared: dict[str, Any] | None = None
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                params = operation.get("parameters") or []
                for i, param in enumerate(params):
                    if param.get("in") == "header" and param.get("name", "").lower() == HEADER.lower():
                        shared = shared or dict(param)
                        params[i] = {"$ref": f"#/components/parameters/{_PARAMETER_NAME}"}
                        invalid = operation.setdefault("responses", {}).setdefault("422", {})
                        invalid["description"] = _CONFLICT_DOC
        if shared is not None:
            schema.setdefault("components", {}).setdefault("parameters", {})[_PARAMETER_NAME] = shared
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
