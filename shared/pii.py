"""Customer PII rules: a pseudonymous ``customer_ref``, masked display values, scrubbed logs.

Events, Kafka messages, logs, metric labels and HQ read models never hold a raw name, phone number
or ID-card number. They hold ``customer_ref`` (a keyed HMAC of the identity: stable per customer,
useless without the key, so HQ can spot "same customer in two branches" without knowing who) and
masked values such as ``138****5678``. The raw values live only in the reception vault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.crypto import configured_key
from shared.settings import key_environment

log = logging.getLogger(__name__)

__all__ = [
    "CUSTOMER_REF_PATTERN",
    "PII_KEY_ENV",
    "PiiLogFilter",
    "customer_ref",
    "install_log_scrubbing",
    "mask_id_number",
    "mask_known_names",
    "mask_name",
    "mask_number",
    "mask_phone",
    "normalise_identity",
    "pii_key_from_env",
    "scrub_text",
]

PII_KEY_ENV = "BRANCHCARE_PII_KEY"
CUSTOMER_REF_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
REF_LENGTH = 32
MIN_KEY_BYTES = 32
_REF_DOMAIN = b"branchcare.customer_ref.v1\x00"
#: public on purpose: usable only with BRANCHCARE_DEV_MODE=1
_DEV_PII_KEY = b"DEV-ONLY-branchcare-pii-hmac-key"
_SEPARATORS = re.compile(r"[\s\-]+")


def pii_key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    """``BRANCHCARE_PII_KEY``: base64 of ≥ 32 random bytes; the dev key only with DEV_MODE=1.

    Every service that derives ``customer_ref`` must use the same key, or the same customer gets
    different references in different services.
    """
    env = key_environment() if environ is None else environ
    key = configured_key(
        env,
        PII_KEY_ENV,
        dev_key=_DEV_PII_KEY,
        how="give it ≥ 32 random bytes in base64",
        min_bytes=MIN_KEY_BYTES,
    )
    if key is None:
        log.warning("BRANCHCARE_DEV_MODE=1: using the PUBLIC development PII key. Never in production.")
        return _DEV_PII_KEY
    return key


# ----------------------------------------------------------------------------------- customer_ref


def normalise_identity(identity: str) -> str:
    """One spelling per identity: NFKC (full-width digits → ASCII), no spaces/hyphens, upper case
    (ID cards ending in ``x``/``X`` are the same card)."""
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", identity)).upper()
    if not value:
        raise ValueError("identity is empty")
    return value


def customer_ref(identity: str, key: bytes) -> str:
    """Keyed HMAC-SHA256 of the normalised identity, url-safe base64, 32 chars (192 bits)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the PII key must be at least {MIN_KEY_BYTES} bytes")
    digest = hmac.new(key, _REF_DOMAIN + normalise_identity(identity).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:REF_LENGTH]


# ---------------------------------------------------------------------------------------- masking


def _digits(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdecimal())


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; at most 3 leading and 4 trailing digits ever remain."""
    digits = _digits(phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 7:
        return f"****{digits[-4:]}"
    return "****"


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; ``John Smith`` → ``J*** *****``: only the name's first character
    (the shape :data:`shared.contracts.common.MaskedName` accepts)."""
    words = unicodedata.normalize("NFKC", name).split()
    if not words:
        return "*"
    masked = []
    for i, word in enumerate(words):
        if len(word) == 1 or i > 0:
            masked.append("*" * min(len(word), 9))
        else:
            masked.append(word[0] + "*" * min(len(word) - 1, 8))
    return " ".join(masked)


def _name_variants(name: str) -> list[str]:
    """What staff type of a registered name: the whole name, each word of a spaced name, and the
    given name of a CJK name (``王小明`` → ``小明``). Single characters are left alone: masking
    every ``王`` in a text would destroy it and a lone surname does not identify anyone."""
    full = unicodedata.normalize("NFKC", name).strip()
    variants = {full, *full.split()}
    if " " not in full and len(full) >= 3:
        variants.add(full[1:])
    return sorted((v for v in variants if len(v) >= 2), key=len, reverse=True)


def mask_known_names(text: str, names: Iterable[str | None]) -> str:
    """``text`` with every typed form of ``names`` (the linked customer's registered names, which
    the vault knows) masked like :func:`mask_name`, case-insensitively. Free text that leaves the
    vault (an audit reason) goes through this and :func:`scrub_text`."""
    out = text
    for name in names:
        if not name:
            continue
        full = unicodedata.normalize("NFKC", name).strip()
        for variant in _name_variants(name):

            def masked(match: re.Match[str], whole: bool = variant == full) -> str:
                return mask_name(match.group(0)) if whole else "*" * len(match.group(0))

            out = re.sub(re.escape(variant), masked, out, flags=re.IGNORECASE)
    return out


def mask_id_number(id_number: str) -> str:
    """``110101199003077777`` → ``110***********7777``: region prefix and last 4 only."""
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", id_number)).upper()
    if len(value) >= 10:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if len(value) >= 6:
        return "*" * (len(value) - 4) + value[-4:]
    return "*" * max(len(value), 4)


# ------------------------------------------------------------------------------------- free text

#: THE masking policy for numbers in free text (every service, the console, logs, the audit trail).
#: A number is a run of 7 or more digits (any script's digits, e.g. full-width ones), single spaces
#: or hyphens between them allowed, an ID card's final ``X`` included: a mobile or landline phone,
#: an 18-character ID card, a 16–19 digit bank card, an account number. Shorter numbers ("waited 40
#: minutes", "fee of 5000", hotline 95588) stay readable, and so do ISO dates and UUIDs, which are
#: matched first and kept as they are.
_NUMBERS_IN_TEXT = re.compile(
    r"""
      (?P<uuid>(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})
    | (?P<date>(?<!\d)(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?!\d))
    | (?P<number>\d(?:[\ \-]?\d){6,}(?:[Xx](?![A-Za-z]))?)
    """,
    re.VERBOSE,
)
#: how many digits (or the ID card's check character) of a number stay readable
KEEP_LAST = 4


def mask_number(number: str) -> str:
    """Every digit but the last four becomes ``*``; separators stay (``6222 0212 3456 7890`` →
    ``**** **** **** 7890``, an ID card ``…7777X`` → ``**************777X``)."""
    positions = [i for i, ch in enumerate(number) if ch.isdecimal() or ch in "Xx"]
    hidden = set(positions[:-KEEP_LAST]) if len(positions) > KEEP_LAST else set(positions)
    return "".join("*" if i in hidden else ch for i, ch in enumerate(number))


def _mask_match(match: re.Match[str]) -> str:
    number = match.group("number")
    return match.group(0) if number is None else mask_number(number)


def scrub_text(text: str) -> str:
    """Mask every phone, ID-card, bank-card and account number in ``text``: the one policy.

    Keeps the last four digits (enough for staff to tell two cards apart, as a bank statement
    does). Idempotent. Names cannot be found reliably in free text, which is why free text never
    leaves the service that received it (``shared/texts.py``).
    """
    return _NUMBERS_IN_TEXT.sub(_mask_match, text)


# ---------------------------------------------------------------------------------------- logging


class PiiLogFilter(logging.Filter):
    """Scrubs a record's rendered message, traceback and stack before any handler formats it.

    Attach to handlers (a logger's own filters do not see records propagated from child loggers),
    or use :func:`install_log_scrubbing`, which covers every record of the process.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def _scrub_arg(value: object) -> object:
    return scrub_text(value) if isinstance(value, str) else value


def _scrub_message(record: logging.LogRecord) -> None:
    """Leave a clean record untouched; otherwise keep the args' shape when that suffices (some
    formatters unpack ``record.args``), else replace the message by its scrubbed rendering."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what is there, but scrubbed
        record.msg, record.args = scrub_text(f"{record.msg} {record.args!r}"), None
        return
    scrubbed = scrub_text(message)
    if scrubbed == message:
        return
    if isinstance(record.msg, str) and isinstance(record.args, tuple | Mapping):
        args: Any = (
            tuple(_scrub_arg(a) for a in record.args)
            if isinstance(record.args, tuple)
            else {k: _scrub_arg(v) for k, v in record.args.items()}
        )
        try:
            candidate = scrub_text(record.msg) % args
        except Exception:
            candidate = None
        if candidate is not None and scrub_text(candidate) == candidate:
            record.msg, record.args = scrub_text(record.msg), args
            return
    record.msg, record.args = scrubbed, None


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a record in place (message, traceback, stack); idempotent."""
    if getattr(record, "_pii_scrubbed", False):
        return record
    _scrub_message(record)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)
    record._pii_scrubbed = True
    return record


_installed_factory: Callable[..., logging.LogRecord] | None = None


def install_log_scrubbing() -> None:
    """Scrub every log record of the process at creation (uvicorn's and libraries' included).

    Idempotent. Formatting moves to record creation, which only happens for enabled levels.
    """
    global _installed_factory
    current = logging.getLogRecordFactory()
    if _installed_factory is not None and current is _installed_factory:
        return
    previous = current

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(previous(*args, **kwargs))

    _installed_factory = factory
    logging.setLogRecordFactory(factory)
