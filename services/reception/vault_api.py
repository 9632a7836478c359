"""HTTP routes of the customer PII vault (issue 7), owned by reception.

| route | action | |
|---|---|---|
| ``POST /branches/{b}/customers`` | ``pii.register`` | 201 new, 200 known: ``{customer_ref, masked}`` |
| ``GET /branches/{b}/customers/{ref}/pii?reason=`` | ``pii.read`` | decrypted values; audited |
| ``DELETE /customers/{ref}/pii`` | ``pii.erase`` | crypto-shredding; later reads 410 |
| ``POST /internal/contacts/resolve`` | service ``pii.resolve_contact`` | ``{phone}`` for svc:feedback |

The registration body is parsed here rather than by FastAPI so that a 422 never echoes the
submitted values (FastAPI's default error body repeats the input: a raw name or number).
Answers carrying PII are ``Cache-Control: no-store``. Refusals: 404 unknown (or not registered in
this branch), 410 erased, 409 integrity failure (stored data does not authenticate).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from services.reception.components import reception_if_running
from services.reception.vault import Vault
from services.reception.vault_model import (
    MAX_NAME,
    Attribution,
    CustomerIdentity,
    IdNumber,
    Masked,
    Name,
    Phone,
    Registration,
    VaultError,
)
from shared.audit import annotate
from shared.auth import Principal, principal_metadata, requires
from shared.contacts import RESOLVE_PATH, ContactPurpose
from shared.contracts.common import CustomerRef
from shared.contracts.text import TextRules
from shared.crypto import KeyConfigError, MasterKeyring
from shared.envelope import Metadata
from shared.http import CustomerRefPath
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, replay
from shared.pii import pii_key_from_env, scrub_text
from shared.runner import ServiceContext, context
from shared.service_identity import ServicePrincipal, requires_service

log = logging.getLogger(__name__)

router = APIRouter(tags=["customer vault"])
internal_router = APIRouter(tags=["internal"])

MAX_BODY_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store"}
_ID = r"^[A-Za-z0-9_\-]{1,64}$"

BranchId = Annotated[str, Path(pattern=_ID)]
Ref = CustomerRefPath
#: free text (one line, no control characters: 422 naming it), numbers masked in the audit row
Reason = Annotated[
    str,
    TextRules(200, min_length=3, single_line=True),
    Query(
        min_length=3,
        max_length=200,
        description="why the raw data is needed (audited); no personal data in it",
    ),
]
Meta = Annotated[Metadata, Depends(principal_metadata)]
Registrar = Annotated[Principal, Depends(requires("pii.register"))]
Reader = Annotated[Principal, Depends(requires("pii.read"))]
Eraser = Annotated[Principal, Depends(requires("pii.erase"))]
Caller = Annotated[ServicePrincipal, Depends(requires_service("pii.resolve_contact"))]


async def vault(ctx: Annotated[ServiceContext, Depends(context)]) -> Vault:
    """The running service's vault (built from the environment on first use; see
    :func:`start_vault` to refuse to start without keys instead)."""
    existing: Vault | None = ctx.extras.get("vault")
    if existing is None:
        try:
            existing = ctx.extras["vault"] = build_vault(ctx)
        except KeyConfigError as exc:
            log.error("the customer vault is not configured: %s", exc)
            raise HTTPException(503, f"the customer vault is not configured: {exc}") from None
    return existing


async def start_vault(ctx: ServiceContext) -> None:
    """``Service.on_startup`` hook: build the vault now, so missing keys stop the service."""
    ctx.extras["vault"] = build_vault(ctx)


def build_vault(ctx: ServiceContext) -> Vault:
    """The vault from the environment, wired to reception's erasure (its texts, ``CustomerErased``)."""
    built = Vault.from_env(ctx.pool, ctx.clock)

    async def erased(conn: asyncpg.Connection, ref: str, at: datetime, by: Attribution) -> None:
        reception = reception_if_running(ctx)
        if reception is None:  # a vault served without the reception application (tests)
            return
        meta = Metadata(actor=by.actor, correlation_id=by.correlation_id or uuid4())
        await reception.record_erasure(conn, ref, at, meta)

    built.on_erase = erased
    return built


def check_vault_keys() -> None:
    """``Service.checks``: the master key and the PII key are configured (else
    :class:`~shared.crypto.KeyConfigError` naming the variable, before anything starts)."""
    MasterKeyring.from_env()
    pii_key_from_env()


VaultDep = Annotated[Vault, Depends(vault)]


# ---------------------------------------------------------------------------------- bodies


class MaskedView(BaseModel):
    name: str
    phone: str | None
    id_number: str | None

    @classmethod
    def of(cls, masked: Masked) -> MaskedView:
        return cls(name=masked.name, phone=masked.phone, id_number=masked.id_number)


class PiiBody(BaseModel):
    """A body carrying a customer's personal data: unknown fields refused, the values never
    printed, and at least one of :attr:`ONE_OF` given (else 422 saying :attr:`MISSING`)."""

    model_config = ConfigDict(extra="forbid")
    ONE_OF: ClassVar[tuple[str, ...]]
    MISSING: ClassVar[str]

    @model_validator(mode="after")
    def _one_given(self) -> Self:
        if all(getattr(self, name) is None for name in self.ONE_OF):
            raise ValueError(self.MISSING)
        return self

    def __repr__(self) -> str:  # never print the values
        return f"{type(self).__name__}(...)"


class RegisterCustomerBody(PiiBody):
    """A customer's identity as presented: a name and an ID number and/or a mobile number."""

    ONE_OF, MISSING = ("phone", "id_number"), "give an id_number or a phone (the customer's identity)"

    name: Name = Field(min_length=1, max_length=4 * MAX_NAME, description=f"1-{MAX_NAME} characters")
    phone: Phone | None = Field(default=None, max_length=32, description="mainland mobile, ^1\\d{10}$")
    id_number: IdNumber | None = Field(
        default=None, max_length=32, description="18-character resident ID number (check character verified)"
    )

    def identity(self) -> CustomerIdentity:
        return CustomerIdentity(self.name, self.phone, self.id_number)


class RegisteredView(BaseModel):
    customer_ref: str
    masked: MaskedView
    created: bool


class PiiView(BaseModel):
    #: the customer's ref: the survivor's when the ref asked for was merged into it
    customer_ref: str
    name: str
    phone: str | None
    id_number: str | None
    masked: MaskedView
    #: the ref asked for, when a duplicate merge folded it into ``customer_ref`` (else absent)
    merged_ref: str | None = None


class ErasedView(BaseModel):
    customer_ref: str
    erased_at: str
    already_erased: bool
    masked: MaskedView


class ResolveContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ref: CustomerRef
    purpose: ContactPurpose
    #: the branch the message is about (survey's visit), for the audit row only
    branch_id: str | None = Field(default=None, pattern=_ID)


class ContactView(BaseModel):
    customer_ref: str
    phone: str


Body = TypeVar("Body", bound=BaseModel)


def _safe_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input``/``ctx`` (they repeat the submitted values)."""
    return [
        {
            "type": err["type"],
            "loc": ["body", *(scrub_text(str(part)) for part in err["loc"])],
            "msg": err["msg"],
        }
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


async def _parse(request: Request, model: type[Body]) -> Body:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        error = {"type": "json_invalid", "loc": ["body"], "msg": "the body must be a JSON object"}
        raise HTTPException(422, [error])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, _safe_errors(exc)) from None


def _refusal(exc: VaultError) -> JSONResponse:
    body = {"detail": str(exc), "code": exc.code, **exc.extra}
    return JSONResponse(body, status_code=exc.status, headers=NO_STORE)


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# ---------------------------------------------------------------------------------- routes


@router.post(
    "/branches/{branch_id}/customers",
    status_code=201,
    response_model=RegisteredView,
    openapi_extra=_schema(RegisterCustomerBody),
    responses={200: {"description": "already registered (same identity): the same customer_ref"}},
)
async def register_customer(
    branch_id: BranchId,
    staff: Registrar,
    meta: Meta,
    request: Request,
    response: Response,
    vault: VaultDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Register a customer's PII in the vault: answers the pseudonymous ``customer_ref`` and masked
    values to use everywhere else (events, visits, complaints). Same person → same reference.
    With an ``Idempotency-Key`` a retry answers the first registration (another body → 422)."""
    body = await _parse(request, RegisterCustomerBody)
    by = Attribution(staff.staff_id, meta.correlation_id)
    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    try:
        result = await vault.register(branch_id, body.identity(), by=by, create=create)
    except AlreadyCreated as done:
        replay(response, done)
        try:
            masked = await vault.masked(done.resource_id)
        except VaultError as exc:
            return _refusal(exc)
        result = Registration(done.resource_id, masked, done.status == 201)
    except VaultError as exc:
        return _refusal(exc)
    else:
        response.status_code = 201 if result.created else 200
    annotate(request, resource_id=result.customer_ref)
    response.headers.update(NO_STORE)
    return RegisteredView(
        customer_ref=result.customer_ref, masked=MaskedView.of(result.masked), created=result.created
    )


@router.get(
    "/branches/{branch_id}/customers/{customer_ref}/pii",
    response_model=PiiView,
    responses={404: {}, 409: {"description": "stored data fails its integrity check"}, 410: {}},
)
async def read_pii(
    branch_id: BranchId, customer_ref: Ref, staff: Reader, meta: Meta, reason: Reason, vault: VaultDep
) -> Any:
    """The customer's raw name, phone and ID number, for a customer registered in this branch.
    Every read is audited (who, when, branch, correlation id, reason). A ref merged into another
    (duplicate merge) answers the survivor's record: ``customer_ref`` names the survivor and
    ``merged_ref`` the ref asked for (never the merged record's erased data)."""
    by = Attribution(staff.staff_id, meta.correlation_id)
    try:
        pii = await vault.read(customer_ref, branch_id=branch_id, by=by, reason=reason)
    except VaultError as exc:
        return _refusal(exc)
    view = PiiView(
        customer_ref=pii.customer_ref,
        name=pii.name,
        phone=pii.phone,
        id_number=pii.id_number,
        masked=MaskedView.of(pii.masked),
        merged_ref=customer_ref if pii.customer_ref != customer_ref else None,
    )
    plain = view.model_dump(exclude={"merged_ref"} if view.merged_ref is None else None)
    return JSONResponse(plain, headers=NO_STORE)


@router.delete("/customers/{customer_ref}/pii", response_model=ErasedView, responses={404: {}})
async def erase_pii(
    customer_ref: Ref,
    admin: Eraser,
    meta: Meta,
    vault: VaultDep,
    reason: Annotated[Reason | None, Query(min_length=3, max_length=200)] = None,
) -> Any:
    """Erasure on request (crypto-shredding): the customer's data key and ciphertext are deleted,
    reads answer 410 from now on; masked values and the event history stay. Idempotent."""
    by = Attribution(admin.staff_id, meta.correlation_id)
    try:
        erased = await vault.erase(customer_ref, by=by, reason=reason)
    except VaultError as exc:
        return _refusal(exc)
    return ErasedView(
        customer_ref=erased.customer_ref,
        erased_at=erased.erased_at.isoformat(),
        already_erased=erased.already_erased,
        masked=MaskedView.of(erased.masked),
    )


async def _correlation(x_correlation_id: Annotated[str | None, Header()] = None) -> UUID | None:
    if x_correlation_id is None:
        return None
    try:
        return UUID(x_correlation_id)
    except ValueError:
        raise HTTPException(400, "X-Correlation-Id must be a UUID") from None


@internal_router.post(RESOLVE_PATH, response_model=ContactView, responses={404: {}, 409: {}, 410: {}})
async def resolve_contact(
    caller: Caller,
    body: ResolveContactBody,
    correlation_id: Annotated[UUID | None, Depends(_correlation)],
    vault: VaultDep,
) -> Any:
    """Service-to-service (``svc:feedback``): a customer's phone number at send time. Audited with
    the purpose; 410 once the customer was erased, 404 unknown or without a number."""
    by = Attribution(caller.staff_id, correlation_id)
    try:
        phone = await vault.resolve_phone(
            body.customer_ref, by=by, purpose=body.purpose, branch_id=body.branch_id
        )
    except VaultError as exc:
        return _refusal(exc)
    return JSONResponse({"customer_ref": body.customer_ref, "phone": phone}, headers=NO_STORE)
