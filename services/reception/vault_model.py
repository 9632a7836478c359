"""What the vault stores and answers: the identity rules (normalised name, phone and ID number, the
ID number's check character), masked values, and the vault's outcomes and errors. Pure, no I/O;
the vault itself is :mod:`services.reception.vault`.

Nothing here logs or raises with a raw value; :class:`CustomerIdentity` hides its fields in repr.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from pydantic import AfterValidator

from shared.audit import AuditEntry
from shared.pii import (
    mask_id_number,
    mask_name,
    mask_phone,
)

MAX_NAME = 50
PHONE = re.compile(r"^1\d{10}$")
ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SEPARATORS = re.compile(r"[\s\-()]+")
_NAME_PUNCTUATION = frozenset(" ·・.'-")
PII_FIELDS = ("name", "phone", "id_number")

# -------------------------------------------------------------------------------- identity rules


def normalise_phone(value: str) -> str:
    """A mainland mobile number, digits only: ``+86 138-1234-5678`` → ``13812345678``."""
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if not PHONE.match(digits):
        raise ValueError("phone must be a mainland mobile number: 11 digits starting with 1")
    return digits


def id_check_char(first17: str) -> str:
    """The check character of an 18-character resident ID number (GB 11643, ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("an ID number starts with 17 digits")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalise_id_number(value: str) -> str:
    """18 characters, 17 digits and a check character (digit or X) that must match."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()
    if not ID_NUMBER.match(text):
        raise ValueError("id_number must be 18 characters: 17 digits and a check digit or X")
    if id_check_char(text[:17]) != text[17]:
        raise ValueError("id_number check character does not match (mistyped?)")
    return text


def normalise_name(value: str) -> str:
    """1–50 characters of letters (any script), spaces, '·', '.', apostrophe or hyphen."""
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    if not 1 <= len(text) <= MAX_NAME:
        raise ValueError(f"name must be 1-{MAX_NAME} characters")
    if not any(ch.isalpha() for ch in text):
        raise ValueError("name must contain letters")
    for ch in text:
        if not (ch.isalpha() or ch in _NAME_PUNCTUATION or unicodedata.category(ch).startswith("M")):
            raise ValueError("name may hold letters, spaces, '·', '.', apostrophes and hyphens only")
    return text


#: a name, mobile number or ID number as presented, normalised on the way in (a bad one is a 422
#: with the rule it breaks); every body that takes one uses these
Name = Annotated[str, AfterValidator(normalise_name)]
Phone = Annotated[str, AfterValidator(normalise_phone)]
IdNumber = Annotated[str, AfterValidator(normalise_id_number)]


@dataclass(frozen=True)
class Masked:
    name: str
    phone: str | None
    id_number: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "phone": self.phone, "id_number": self.id_number}


@dataclass(frozen=True)
class CustomerIdentity:
    """What a customer presents, normalised and validated. ``repr`` shows nothing of it."""

    name: str = field(repr=False)
    phone: str | None = field(default=None, repr=False)
    id_number: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, name: str, phone: str | None = None, id_number: str | None = None) -> CustomerIdentity:
        return cls(
            normalise_name(name),
            normalise_phone(phone) if phone is not None else None,
            normalise_id_number(id_number) if id_number is not None else None,
        )

    def __post_init__(self) -> None:
        if self.phone is None and self.id_number is None:
            raise ValueError("a customer needs an id_number or a phone")

    @property
    def kind(self) -> str:
        return "id_number" if self.id_number is not None else "phone"

    @property
    def identity(self) -> str:
        """What ``customer_ref`` is derived from: the ID number, else the phone."""
        value = self.id_number if self.id_number is not None else self.phone
        assert value is not None
        return value

    def masked(self) -> Masked:
        return Masked(
            mask_name(self.name),
            mask_phone(self.phone) if self.phone else None,
            mask_id_number(self.id_number) if self.id_number else None,
        )


# -------------------------------------------------------------------------------------- outcomes


class VaultError(Exception):
    """A refused vault operation; ``status`` is its HTTP answer, ``code`` a bounded reason."""

    status = 500
    code = "vault_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class CustomerNotFound(VaultError):
    status, code = 404, "not_found"


class NoPhone(VaultError):
    status, code = 404, "no_phone"


class CustomerErased(VaultError):
    status, code = 410, "erased"


class IntegrityFailure(VaultError):
    """Stored ciphertext or wrapped key does not authenticate: tampered, moved or wrong key."""

    status, code = 409, "integrity"


@dataclass(frozen=True)
class Attribution:
    """Who acts (staff id, or ``svc:<name>``) and in which conversation: goes to the audit row."""

    actor: str
    correlation_id: UUID | None
    authenticated: bool = True

    def entry(self, at: datetime, service: str, kind: str, **what: Any) -> AuditEntry:
        """The audit row of an act (``kind``) by this actor; ``what``: its resource, branch, status
        and reason."""
        who: dict[str, Any] = {"staff_id": self.actor, "authenticated": self.authenticated}
        return AuditEntry(
            at=at, service=service, kind=kind, action=kind, correlation_id=self.correlation_id, **who, **what
        )


@dataclass(frozen=True)
class Registration:
    customer_ref: str
    masked: Masked
    created: bool


@dataclass(frozen=True)
class CustomerPii:
    customer_ref: str
    name: str = field(repr=False)
    phone: str | None = field(repr=False)
    id_number: str | None = field(repr=False)
    masked: Masked


@dataclass(frozen=True)
class Erasure:
    customer_ref: str
    erased_at: datetime
    masked: Masked
    already_erased: bool


def masked_of(row: asyncpg.Record) -> Masked:
    """The masked values kept in clear on a vault row."""
    return Masked(row["masked_name"], row["masked_phone"], row["masked_id_number"])
