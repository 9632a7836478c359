"""``customer_ref`` is a pseudonym (issue 15): a reference the vault issues is never refused,
anything shaped like a phone, ID-card, bank-card or account number always is — in commands and
in event contracts alike. PII-shaped values are built at run time, never committed."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.contracts.common import CustomerRef
from shared.contracts.complaint import ComplaintReceived
from shared.contracts.reception import VisitArrived
from shared.contracts.refs import ISSUED_LENGTH, is_pseudonym, pseudonym_problem, synthetic_ref
from shared.pii import customer_ref
from tests.support.pii import account, bank_card, digits, id_number, phone, rng

NUMBERS = {"phone": phone, "id_number": id_number, "bank_card": bank_card, "account": account}


@settings(max_examples=300)
@given(identity=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s.strip("-")))
def test_every_issued_reference_is_accepted(identity: str) -> None:
    key = secrets.token_bytes(32)
    try:
        ref = customer_ref(identity, key)
    except ValueError:  # an identity that normalises to nothing
        return
    assert len(ref) == ISSUED_LENGTH and is_pseudonym(ref)


def test_issued_references_with_digit_runs_pass() -> None:
    """Digit runs occur in random references by chance (a run of 7 in about 1 of 16,000): an
    issued-shape reference is never refused for them, however long the run."""
    key = secrets.token_bytes(32)
    assert all(is_pseudonym(customer_ref(f"p{i}", key)) for i in range(10_000))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for run in range(7, ISSUED_LENGTH - 3):
        for _ in range(20):
            rest = "".join(rng.choice(alphabet) for _ in range(ISSUED_LENGTH - run - 4))
            start = rng.randrange(len(rest) + 1)
            ref = rest[:start] + digits(run) + rest[start:] + "".join(rng.choice("abcXYZ") for _ in range(4))
            assert is_pseudonym(ref), ref


@pytest.mark.parametrize("kind", sorted(NUMBERS))
@pytest.mark.parametrize("separator", ["", "-", "_"])
def test_numbers_are_refused_however_they_are_spelled(kind: str, separator: str) -> None:
    for _ in range(50):
        value = NUMBERS[kind]()
        if separator:
            value = separator.join(value[i : i + 4] for i in range(0, len(value), 4))
        for candidate in (value, f"ref{value}", f"tel_{value}", value.ljust(ISSUED_LENGTH, "0")):
            if 8 <= len(candidate) <= 64:
                problem = pseudonym_problem(candidate)
                assert problem is not None, candidate
                assert value not in problem and "shaped like" in problem


def test_short_test_and_simulator_refs_still_pass() -> None:
    for ref in ("cust_ref_0042", "cust_a000099", "cref_AAAAAAAAAAAAAAAAAAAAAAAA", synthetic_ref("sim-1")):
        assert is_pseudonym(ref), ref


class _Body(BaseModel):
    customer_ref: CustomerRef
    representatives: list[CustomerRef] = []


def test_the_contract_type_refuses_with_a_reason_and_never_echoes_the_value() -> None:
    raw = phone()
    with pytest.raises(ValidationError) as caught:
        _Body(customer_ref=raw)
    (error,) = caught.value.errors(include_input=False)
    assert (
        error["loc"] == ("customer_ref",)
        and "shaped like a phone" in error["msg"]
        and raw not in error["msg"]
    )
    with pytest.raises(ValidationError) as caught:
        _Body(customer_ref="cust_ref_0042", representatives=["cust_ref_0043", id_number()])
    assert caught.value.errors()[0]["loc"] == ("representatives", 1)


def test_events_carrying_a_raw_number_do_not_validate() -> None:
    """What a projection decodes: a forged event is dead-lettered with this reason."""
    with pytest.raises(ValidationError, match="customer_ref is shaped like"):
        VisitArrived.model_validate(
            {
                "visit_id": "6f1c3c7e-2a55-4a55-9c55-1f2e3d4c5b6a",
                "arrival": "walk_in",
                "at": "2026-03-02T02:00:00Z",
            }
            | {"customer_ref": bank_card()}
        )
    with pytest.raises(ValidationError, match="customer_ref is shaped like"):
        ComplaintReceived.model_validate(
            {
                "complaint_id": "6f1c3c7e-2a55-4a55-9c55-1f2e3d4c5b6a",
                "channel": "web",
                "customer_ref": "cust_ref_0042",
                "description": "x",
                "received_at": "2026-03-02T02:00:00Z",
                "representatives": [account()],
            }
        )
