"""Masked display values are validated by shape: one ``*`` is not enough to pass as masked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.contracts.common import MaskedName, MaskedPhone
from shared.contracts.reception import CallReceived, VisitArrived
from shared.pii import mask_name, mask_phone
from shared.registry import STORED_EVENT

NAME = TypeAdapter(MaskedName)
PHONE = TypeAdapter(MaskedPhone)


@pytest.mark.parametrize("value", ["张**", "王*", "*", "**", "J*** *****", "欧***"])
def test_masked_names_keep_at_most_the_first_character(value: str) -> None:
    assert NAME.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    ["张三丰*", "张三", "J*** S****", "*三", " 张*", "张* ", "张*  *", "王 *", "", "张\x00*", "x" * 65],
)
def test_names_showing_more_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        NAME.validate_python(value)


@pytest.mark.parametrize("value", ["138****5678", "****5678", "****", "1*", "*"])
def test_masked_phones_keep_at_most_3_and_4_digits(value: str) -> None:
    assert PHONE.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    ["13812345678", "1381****5678", "138****56789", "1381234567*", "138-****-5678", "+86****5678", ""],
)
def test_phones_showing_more_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        PHONE.validate_python(value)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40))
def test_every_masked_name_the_vault_makes_passes(name: str) -> None:
    NAME.validate_python(mask_name(name))


@given(st.text(alphabet="0123456789 -+", min_size=0, max_size=20))
def test_every_masked_phone_the_vault_makes_passes(phone: str) -> None:
    PHONE.validate_python(mask_phone(phone))


def test_the_events_refuse_a_name_or_number_in_clear() -> None:
    with pytest.raises(ValidationError):
        VisitArrived.model_validate(
            {"visit_id": "00000000-0000-0000-0000-000000000001", "arrival": "walk_in",
             "at": "2026-03-02T09:00:00+08:00", "display_name": "张三丰*"}
        )  # fmt: skip
    with pytest.raises(ValidationError):
        CallReceived.model_validate(
            {"call_id": "00000000-0000-0000-0000-000000000001", "at": "2026-03-02T09:00:00+08:00",
             "masked_number": "1381234567*"}
        )  # fmt: skip


def test_a_value_stored_before_the_check_is_masked_again_when_read_back() -> None:
    data = {"visit_id": "00000000-0000-0000-0000-000000000001", "arrival": "walk_in",
            "at": "2026-03-02T09:00:00+08:00", "display_name": "张三丰*"}  # fmt: skip
    stored = VisitArrived.model_validate(data, context={STORED_EVENT: True})
    assert stored.display_name == "张***"
