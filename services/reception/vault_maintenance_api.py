"""HTTP routes of vault maintenance (issue 20): contact updates, duplicate merges and their reversal.

| route | action | |
|---|---|---|
| ``POST /branches/{b}/customers/{ref}/contact`` | ``pii.update_contact`` | ``{name?, phone?}`` ``?reason=`` |
| ``GET /branches/{b}/customers/{ref}/duplicates`` | ``pii.duplicates.read`` | merge candidates |
| ``POST /branches/{b}/customers/{survivor}/merge`` | ``pii.merge`` | ``{merged_ref, basis}`` ``?reason=`` |
| ``POST …/customers/{survivor}/merge-reversal`` | ``pii.merge.reverse`` | ``{merged_ref}`` ``?reason=`` |

Bodies are parsed by :func:`~services.reception.vault_api._parse`, so a 422 never echoes a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import uuid4

import asyncpg
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.reception.components import reception_if_running
from services.reception.vault_api import (
    NO_STORE,
    BranchId,
    MaskedView,
    Meta,
    PiiBody,
    Reason,
    Ref,
    VaultDep,
    _parse,
    _refusal,
    _schema,
)
from services.reception.vault_maintenance import Publish, VaultMaintenance
from services.reception.vault_model import Attribution, Name, Phone, VaultError
from shared.auth import Principal, requires
from shared.contracts.common import CustomerRef
from shared.contracts.customers import MergeBasis, customer_stream
from shared.envelope import Metadata
from shared.registry import EventData
from shared.runner import ServiceContext, context

router = APIRouter(tags=["customer vault"])

Updater = Annotated[Principal, Depends(requires("pii.update_contact"))]
Merger = Annotated[Principal, Depends(requires("pii.merge"))]
Reverser = Annotated[Principal, Depends(requires("pii.merge.reverse"))]
DuplicateReader = Annotated[Principal, Depends(requires("pii.duplicates.read"))]


class ContactBody(PiiBody):
    """New contact details (at least one); why goes in ``?reason=`` (audited), as for reads."""

    ONE_OF, MISSING = ("name", "phone"), "give a new name and/or phone"

    name: Name | None = Field(default=None, max_length=200)
    phone: Phone | None = Field(default=None, max_length=32)


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_ref: CustomerRef
    #: inline (not a $ref): the body schema is published through ``openapi_extra``
    basis: Literal["same_id_number", "same_phone", "confirmed_by_staff"]


class ReversalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_ref: CustomerRef


class ContactUpdatedView(BaseModel):
    customer_ref: str
    changed: list[str]
    masked: MaskedView


class MergedView(BaseModel):
    survivor_ref: str
    merged_ref: str
    already_merged: bool
    masked: MaskedView


class DuplicateView(BaseModel):
    customer_ref: str
    basis: str
    masked: MaskedView


class DuplicatesView(BaseModel):
    customer_ref: str
    candidates: list[DuplicateView]


def publisher(ctx: ServiceContext) -> Publish | None:
    """Vault facts go onto reception's store through the reception application (none in a bare
    vault, e.g. tests of the vault alone)."""
    reception = reception_if_running(ctx)
    if reception is None:
        return None

    async def publish(
        conn: asyncpg.Connection, ref: str, branch_id: str, events: Sequence[EventData], by: Attribution
    ) -> None:
        stream = customer_stream(ref)
        version = int(
            await conn.fetchval(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream
            )
        )
        meta = Metadata(actor=by.actor, correlation_id=by.correlation_id or uuid4())
        envelopes = reception.visits.envelopes(stream, version, branch_id, list(events), meta)
        await reception.store.append(stream, version, envelopes, conn)

    return publish


async def maintenance(ctx: Annotated[ServiceContext, Depends(context)], vault: VaultDep) -> VaultMaintenance:
    return VaultMaintenance(vault, publisher(ctx))


Maintenance = Annotated[VaultMaintenance, Depends(maintenance)]


@router.post(
    "/branches/{branch_id}/customers/{customer_ref}/contact",
    response_model=ContactUpdatedView,
    openapi_extra=_schema(ContactBody),
    responses={404: {}, 409: {}, 410: {}},
)
async def update_contact(
    branch_id: BranchId,
    customer_ref: Ref,
    staff: Updater,
    meta: Meta,
    request: Request,
    maint: Maintenance,
    reason: Reason,
) -> Any:
    """Change a customer's name and/or phone: re-encrypted under a fresh key (the old values are
    unreadable at once), audited with the reason, ``CustomerContactUpdated`` names the fields."""
    body = await _parse(request, ContactBody)
    by = Attribution(staff.staff_id, meta.correlation_id)
    try:
        ref, changed, masked = await maint.update_contact(
            customer_ref, branch_id=branch_id, name=body.name, phone=body.phone, by=by, reason=reason
        )
    except VaultError as exc:
        return _refusal(exc)
    view = ContactUpdatedView(customer_ref=ref, changed=changed, masked=MaskedView.of(masked))
    return _no_store(view)


@router.get(
    "/branches/{branch_id}/customers/{customer_ref}/duplicates",
    response_model=DuplicatesView,
    responses={404: {}, 410: {}},
)
async def duplicates(
    branch_id: BranchId, customer_ref: Ref, staff: DuplicateReader, meta: Meta, maint: Maintenance
) -> Any:
    """Records of this branch the vault believes are the same person (the same ID number or phone
    registered under another ref): the candidates for a merge, masked. Audited."""
    by = Attribution(staff.staff_id, meta.correlation_id)
    try:
        found = await maint.duplicates(customer_ref, branch_id=branch_id, by=by)
    except VaultError as exc:
        return _refusal(exc)
    candidates = [DuplicateView(customer_ref=r, basis=b.value, masked=MaskedView.of(m)) for r, b, m in found]
    return _no_store(DuplicatesView(customer_ref=customer_ref, candidates=candidates))


@router.post(
    "/branches/{branch_id}/customers/{customer_ref}/merge",
    response_model=MergedView,
    openapi_extra=_schema(MergeBody),
    responses={404: {}, 409: {"description": "the merge rules refuse it (reason given)"}},
)
async def merge_customers(
    branch_id: BranchId,
    customer_ref: Ref,
    staff: Merger,
    meta: Meta,
    request: Request,
    maint: Maintenance,
    reason: Reason,
) -> Any:
    """Merge ``merged_ref`` into this customer (the survivor): one person registered twice.
    Idempotent; the merged ref resolves to the survivor from now on."""
    body = await _parse(request, MergeBody)
    by = Attribution(staff.staff_id, meta.correlation_id)
    try:
        already, masked = await maint.merge(
            customer_ref,
            body.merged_ref,
            branch_id=branch_id,
            basis=MergeBasis(body.basis),
            by=by,
            reason=reason,
        )
    except VaultError as exc:
        return _refusal(exc)
    view = MergedView(
        survivor_ref=customer_ref,
        merged_ref=body.merged_ref,
        already_merged=already,
        masked=MaskedView.of(masked),
    )
    return _no_store(view)


@router.post(
    "/branches/{branch_id}/customers/{customer_ref}/merge-reversal",
    status_code=200,
    openapi_extra=_schema(ReversalBody),
    responses={409: {"description": "not merged into this customer"}},
)
async def reverse_merge(
    branch_id: BranchId,
    customer_ref: Ref,
    staff: Reverser,
    meta: Meta,
    request: Request,
    maint: Maintenance,
    reason: Reason,
) -> Any:
    """Undo a merge from now on (a new fact; the merge stays in the history)."""
    body = await _parse(request, ReversalBody)
    by = Attribution(staff.staff_id, meta.correlation_id)
    try:
        await maint.reverse_merge(customer_ref, body.merged_ref, branch_id=branch_id, by=by, reason=reason)
    except VaultError as exc:
        return _refusal(exc)
    return {"survivor_ref": customer_ref, "merged_ref": body.merged_ref, "reversed": True}


def _no_store(view: BaseModel) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(view.model_dump(), headers=NO_STORE)
