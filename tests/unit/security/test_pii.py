"""customer_ref is stable and key-dependent; masking and scrubbing never leave a phone or ID number
readable; log records are scrubbed before any handler writes them."""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.crypto import KeyConfigError
from shared.pii import (
    CUSTOMER_REF_PATTERN,
    PiiLogFilter,
    customer_ref,
    install_log_scrubbing,
    mask_id_number,
    mask_name,
    mask_phone,
    pii_key_from_env,
    scrub_text,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
ELEVEN_DIGITS = re.compile(r"\d{11}")
SEVEN_DIGITS = re.compile(r"\d{7}")

phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
id_numbers = st.from_regex(r"[1-6][0-9]{16}[0-9Xx]", fullmatch=True)


# ---------------------------------------------------------------------------------- customer_ref


def test_customer_ref_has_the_contract_shape() -> None:
    ref = customer_ref("110101199003077777", KEY)
    assert len(ref) == 32 and CUSTOMER_REF_PATTERN.match(ref)


def test_customer_ref_normalises_the_identity() -> None:
    same = {
        customer_ref("11010119900307777X", KEY),
        customer_ref(" 11010119900307777x ", KEY),
        customer_ref("110101 19900307 777X", KEY),
        customer_ref("１１０１０１１９９００３０７７７７Ｘ", KEY),  # full-width input
    }
    assert len(same) == 1


def test_customer_ref_refuses_empty_identities_and_weak_keys() -> None:
    with pytest.raises(ValueError):
        customer_ref("   ", KEY)
    with pytest.raises(ValueError, match="32 bytes"):
        customer_ref("13812345678", b"short")


@given(identity=st.text(min_size=1).filter(lambda s: s.strip(" -\t\n\r\x0b\x0c")))
def test_customer_ref_is_stable_url_safe_and_key_dependent(identity: str) -> None:
    try:
        ref = customer_ref(identity, KEY)
    except ValueError:  # only whitespace after NFKC
        return
    assert ref == customer_ref(identity, KEY)
    assert CUSTOMER_REF_PATTERN.match(ref) and len(ref) == 32
    assert ref != customer_ref(identity, OTHER_KEY)
    assert identity.strip() not in ref or len(identity.strip()) < 4


@given(a=phones, b=phones)
def test_different_customers_get_different_refs(a: str, b: str) -> None:
    assert (customer_ref(a, KEY) == customer_ref(b, KEY)) == (a == b)


def test_pii_key_from_env() -> None:
    good = base64.b64encode(b"r" * 32).decode()
    assert pii_key_from_env({"BRANCHCARE_PII_KEY": good}) == b"r" * 32
    with pytest.raises(KeyConfigError, match="not set"):
        pii_key_from_env({})
    with pytest.raises(KeyConfigError, match="at least 32"):
        pii_key_from_env({"BRANCHCARE_PII_KEY": base64.b64encode(b"r" * 16).decode()})
    with pytest.raises(KeyConfigError, match="base64") as info:
        pii_key_from_env({"BRANCHCARE_PII_KEY": "not base64 at all!"})
    assert "not base64 at all" not in str(info.value)
    assert len(pii_key_from_env({"BRANCHCARE_DEV_MODE": "1"})) >= 32


# ---------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("010-62345678", "010****5678"),
        ("6234 5678", "****5678"),
        ("12345", "****"),
        ("", "****"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*** *****"),
        ("李", "*"),
        ("", "*"),
    ],
)
def test_mask_name(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("110101199003077777", "110***********7777"),
        ("11010119900307777x", "110***********777X"),
        ("110101900307777", "110********7777"),
        ("E1234567", "****4567"),
        ("123", "****"),
    ],
)
def test_mask_id_number(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


@given(phone=phones)
def test_a_masked_phone_keeps_at_most_seven_digits(phone: str) -> None:
    masked = mask_phone(phone)
    assert sum(c.isdigit() for c in masked) <= 7 and not SEVEN_DIGITS.search(masked)


@given(number=id_numbers)
def test_a_masked_id_number_hides_the_birth_date(number: str) -> None:
    masked = mask_id_number(number)
    assert number[6:14] not in masked and not SEVEN_DIGITS.search(masked)


# ------------------------------------------------------------------------------------ free text


def test_scrub_text_masks_numbers_inside_sentences() -> None:
    text = "客户张三 电话13812345678，身份证110101199003077777，卡号6222021234567890123，金额 500 元"
    scrubbed = scrub_text(text)
    # the one policy: every digit but the last four becomes '*'
    assert (
        scrubbed == "客户张三 电话*******5678，身份证**************7777，卡号***************0123，金额 500 元"
    )
    assert "500" in scrubbed  # short numbers (amounts, counters, times) stay


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("card 6222 0212 3456 7890 ok", "card **** **** **** 7890 ok"),
        ("ID 11010519491231002X.", "ID **************002X."),
        ("account 6217-0000-1000-1234-567", "account ****-****-****-***4-567"),
        ("全角１３８１２３４５６７８号码", "全角*******５６７８号码"),
        ("landline 010-12345678", "landline ***-****5678"),
        ("waited 45 minutes at counter 3, fee 5000, hotline 95588", None),
        ("on 2026-03-17 at 10:30, event 123e4567-e89b-12d3-a456-426614174000", None),
    ],
)
def test_the_masking_policy_keeps_the_last_four(raw: str, masked: str | None) -> None:
    assert scrub_text(raw) == (raw if masked is None else masked)
    assert scrub_text(scrub_text(raw)) == scrub_text(raw)  # idempotent


def test_scrub_text_catches_spaced_and_prefixed_phones() -> None:
    for text in ("call 138 1234 5678 now", "call +86-138-1234-5678", "tel:+8613812345678."):
        assert "5678" in scrub_text(text) and "1234" not in scrub_text(text), text


def test_scrub_text_leaves_ordinary_text_alone() -> None:
    text = "visit 3f2a, ticket A012, waited 17 min at 10:42 on 2026-11-26"
    assert scrub_text(text) == text


@given(st.text(alphabet=st.sampled_from("0123456789１２３٣ -+xX()abc张\n"), max_size=200))
def test_scrubbed_text_never_holds_seven_consecutive_digits(text: str) -> None:
    scrubbed = scrub_text(text)
    assert not ELEVEN_DIGITS.search(scrubbed)
    assert not SEVEN_DIGITS.search(scrubbed)


@given(before=st.text(max_size=30), phone=phones, number=id_numbers, after=st.text(max_size=30))
def test_embedded_phone_and_id_never_survive(before: str, phone: str, number: str, after: str) -> None:
    scrubbed = scrub_text(f"{before} {phone} {number}{after}")
    assert phone not in scrubbed and number not in scrubbed.upper() and number not in scrubbed
    assert not ELEVEN_DIGITS.search(scrubbed)


# -------------------------------------------------------------------------------------- logging


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PiiLogFilter())
    logger = logging.getLogger("test.pii.filter")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_the_filter_scrubs_messages_and_args(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("sms to %s for %s", "13812345678", "110101199003077777")
    logger.info("raw %d", 13812345678)
    logger.info("dict %(phone)s", {"phone": "13812345678"})
    output = stream.getvalue()
    assert "13812345678" not in output and "110101199003077777" not in output
    assert output.count("*******5678") == 3


def test_the_filter_scrubs_tracebacks(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad phone 13812345678")
    except ValueError:
        logger.exception("failed")
    assert "13812345678" not in stream.getvalue() and "*******5678" in stream.getvalue()


def test_clean_records_keep_their_args_for_formatters_that_unpack_them(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, '%s - "%s %s" %d', ("1.2.3.4", "GET", "/x", 200), None
    )
    PiiLogFilter().filter(record)
    assert record.args == ("1.2.3.4", "GET", "/x", 200)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("GET", "/c/13812345678"), None)
    PiiLogFilter().filter(record)
    assert record.args == ("GET", "/c/*******5678")


def test_install_log_scrubbing_covers_every_logger() -> None:
    previous = logging.getLogRecordFactory()
    try:
        install_log_scrubbing()
        install_log_scrubbing()  # idempotent
        record = logging.getLogger("anything.at.all").makeRecord(
            "anything", logging.INFO, __file__, 1, "id %s", ("110101199003077777",), None
        )
        assert "110101199003077777" not in record.getMessage()
    finally:
        logging.setLogRecordFactory(previous)
