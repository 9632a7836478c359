"""The vault's identity rules (pure): mobile numbers, ID numbers with their check character,
names, the pseudonym derived from them, masks, and a registration body that never echoes input."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.reception.vault_api import RegisterCustomerBody, _safe_errors
from services.reception.vault_model import (
    CustomerIdentity,
    id_check_char,
    normalise_id_number,
    normalise_name,
    normalise_phone,
)
from shared.pii import customer_ref

KEY = secrets.token_bytes(32)
#: the worked example of GB 11643-1999
ID_EXAMPLE = "11010519491231002X"


def valid_id(first17: str) -> str:
    return first17 + id_check_char(first17)


def test_the_standard_example_checks_out() -> None:
    assert id_check_char(ID_EXAMPLE[:17]) == "X"
    assert normalise_id_number(ID_EXAMPLE.lower()) == ID_EXAMPLE
    assert normalise_id_number("110105 19491231 002x") == ID_EXAMPLE


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_every_wrong_check_character_is_refused(first17: str) -> None:
    good = valid_id(first17)
    assert normalise_id_number(good) == good
    for wrong in set("0123456789X") - {good[-1]}:
        with pytest.raises(ValueError, match="check character"):
            normalise_id_number(first17 + wrong)


@pytest.mark.parametrize(
    "bad", ["", "1101051949123100", "11010519491231002XX", "A1010519491231002X", "x" * 18]
)
def test_malformed_id_numbers_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        normalise_id_number(bad)
    assert bad not in str(info.value) or not bad


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits
        ("10012345678", "10012345678"),  # ^1\d{10}$ as the brief says
    ],
)
def test_mobile_numbers_are_normalised(given_: str, expected: str) -> None:
    assert normalise_phone(given_) == expected


@pytest.mark.parametrize(
    "bad", ["", "1381234567", "138123456789", "23812345678", "1381234567a", "+1 2025550123"]
)
def test_other_numbers_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        normalise_phone(bad)
    assert not bad or bad not in str(info.value)


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("张三", "张三"),
        ("  欧阳  娜娜 ", "欧阳 娜娜"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("Jean-Luc O'Neil Jr.", "Jean-Luc O'Neil Jr."),
        ("José Müller", "José Müller"),
        ("李" * 50, "李" * 50),
    ],
)
def test_names_are_bounded_letters(given_: str, expected: str) -> None:
    assert normalise_name(given_) == expected


@pytest.mark.parametrize(
    "bad", ["", "   ", "李" * 51, "R2D2", "a\x00b", "<script>", "a;b", "🙂", "---", "张三 13812345678"]
)
def test_names_with_anything_else_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_name(bad)


def test_the_ref_is_the_id_number_else_the_phone_and_stable_across_spellings() -> None:
    with_id = CustomerIdentity.of("张三", "13812345678", ID_EXAMPLE.lower())
    assert with_id.kind == "id_number" and with_id.identity == ID_EXAMPLE
    same = CustomerIdentity.of(" 张三", "+86 138 1234 5678", ID_EXAMPLE)
    assert customer_ref(same.identity, KEY) == customer_ref(with_id.identity, KEY)
    phone_only = CustomerIdentity.of("张三", "138-1234-5678")
    assert phone_only.kind == "phone" and phone_only.identity == "13812345678"
    with pytest.raises(ValueError, match="id_number or a phone"):
        CustomerIdentity.of("张三")


def test_identities_show_nothing_in_repr_and_mask_everything() -> None:
    identity = CustomerIdentity.of("张三丰", "13812345678", ID_EXAMPLE)
    assert "张" not in repr(identity) and "138" not in repr(identity) and "1101" not in repr(identity)
    masked = identity.masked()
    assert (masked.name, masked.phone, masked.id_number) == ("张**", "138****5678", "110***********002X")


def _errors(body: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        RegisterCustomerBody.model_validate(body)
    return str(_safe_errors(info.value))


def test_the_registration_body_refuses_unknown_fields_and_never_echoes_values() -> None:
    ok = RegisterCustomerBody.model_validate({"name": "张三", "phone": "13812345678"})
    assert ok.identity().phone == "13812345678" and "13812345678" not in repr(ok)
    text = _errors({"name": "张三", "phone": "13812345678", "13987654321": "x"})
    assert "13987654321" not in text and "Extra inputs" in text
    text = _errors({"name": "张三丰", "phone": "1381234567"})
    assert "1381234567" not in text and "张三丰" not in text and "mainland mobile" in text
    text = _errors({"name": "张三丰", "id_number": ID_EXAMPLE[:-1] + "1"})
    assert ID_EXAMPLE[:-1] not in text and "check character" in text
    assert "id_number or a phone" in _errors({"name": "张三丰"})
    assert "string" in _errors({"name": 13812345678, "phone": "13812345678"}).lower()
