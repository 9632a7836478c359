"""``customer_ref`` is a pseudonym: the contract type refuses anything shaped like a raw number.

A real reference is what the vault issues (``shared.pii.customer_ref``): 32 url-safe base64
characters of a keyed HMAC. Staff typing a phone, ID-card, bank-card or account number where a
reference belongs is the mistake this guards against; it would otherwise travel in events forever
(follow-up copies the reference into its own events).

The rule, decided so that an issued reference is never refused:

- **the issued shape** (exactly 32 of ``[A-Za-z0-9_-]``) is accepted when it holds at least
  :data:`MIN_LETTERS` letters. Random base64 digits form runs by chance (a run of 7 digits in
  about 1 of 16,000 references), so digit runs are *not* held against it; fewer than 4 letters
  among 32 random characters happens with a probability of about 10⁻¹⁸, so a 32-digit number is
  refused and a real reference never is.
- **any other shape** (8–64 characters: test fixtures, legacy refs) needs at least
  :data:`MIN_LETTERS` letters and at most :data:`MAX_OTHER_DIGITS` digits in all. A mobile
  number has 11 digits, an ID card 17–18, a bank card 13–19, an account number 8 or more: none
  fits, whatever separators are put between the digits.

Commands (HTTP bodies, path parameters) and events use the same type, so a forged event carrying
a raw number fails validation and is dead-lettered with the reason.

Events a service stored before this rule existed may hold a raw number. Read back from the
service's own store (``EventRegistry.upcast(..., stored=True)``, which ``EventStore.read_stream``
does) such a value is replaced by :func:`legacy_pseudonym` — the reference the vault issues for
that mobile or ID number — so the stream still loads and new events carry the pseudonym, never
the number again. The stored row itself is not rewritten (the store is append-only); a topic that
still holds the old message dead-letters it at every consumer, loudly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

from shared.registry import STORED_EVENT

__all__ = [
    "ISSUED_LENGTH",
    "CustomerRef",
    "check_customer_ref",
    "is_pseudonym",
    "legacy_pseudonym",
    "pseudonym_problem",
    "synthetic_ref",
]

ISSUED_LENGTH = 32
MIN_LETTERS = 4
MAX_OTHER_DIGITS = 6
SHAPE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
PATTERN = SHAPE.pattern
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")

REASON_SHAPED_LIKE_NUMBER = (
    "is shaped like a phone, ID-card, bank-card or account number, not a pseudonymous reference: "
    "look the customer up in the vault (POST /branches/{branch_id}/customers) and send the "
    "customer_ref it answers"
)


def pseudonym_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable customer reference, or None. Never repeats the value."""
    if not SHAPE.match(value):
        return "must be 8-64 characters of A-Z, a-z, 0-9, '_' and '-'"
    letters = len(_LETTER.findall(value))
    if len(value) == ISSUED_LENGTH:
        return None if letters >= MIN_LETTERS else REASON_SHAPED_LIKE_NUMBER
    if letters < MIN_LETTERS or len(_DIGIT.findall(value)) > MAX_OTHER_DIGITS:
        return REASON_SHAPED_LIKE_NUMBER
    return None


def synthetic_ref(label: str) -> str:
    """A reference of the issued shape for a synthetic customer (simulator, tests, benchmarks):
    deterministic per ``label``, never derived from a real identity."""
    digest = hashlib.sha256(b"branchcare.synthetic_ref.v1\x00" + label.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:ISSUED_LENGTH]


def is_pseudonym(value: str) -> bool:
    return pseudonym_problem(value) is None


def check_customer_ref(value: str) -> str:
    """Pydantic validator: the value itself, or ``ValueError`` with the reason (not the value)."""
    problem = pseudonym_problem(value)
    if problem is not None:
        raise ValueError(f"customer_ref {problem}")
    return value


@functools.cache
def _pii_key() -> bytes:
    from shared.pii import pii_key_from_env

    return pii_key_from_env()


def legacy_pseudonym(raw: str) -> str:
    """The reference for a raw number found in a stored event: ``shared.pii.customer_ref`` of it,
    which is what the vault issues when that number is the customer's identity."""
    from shared.pii import customer_ref

    return customer_ref(raw, _pii_key())


def _validate(value: str, info: ValidationInfo) -> str:
    """Refuse a number; in an event read back from the service's own store, replace it."""
    problem = pseudonym_problem(value)
    if problem is None:
        return value
    if problem == REASON_SHAPED_LIKE_NUMBER and (info.context or {}).get(STORED_EVENT):
        return legacy_pseudonym(value)
    raise ValueError(f"customer_ref {problem}")


#: pseudonymous customer reference (keyed HMAC of the identity, issued by the vault), never raw PII
CustomerRef = Annotated[
    str,
    Field(
        pattern=PATTERN,
        description=(
            "Pseudonymous customer reference issued by the vault (POST /branches/{branch_id}/customers): "
            "32 url-safe base64 characters. Anything shaped like a phone, ID-card, bank-card or "
            "account number is refused (422 in a command; an event carrying one is dead-lettered)."
        ),
        examples=["Hk3v0Qm7_Zb1xYt9LsWc2Rn8PdFa4Ue6"],
    ),
    AfterValidator(_validate),
]
