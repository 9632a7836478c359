"""PII-shaped values built at run time for tests (never committed as literals): a mobile
number, an ID-card number with a valid check character, a bank card with a valid Luhn digit,
an account number."""

from __future__ import annotations

import random
import secrets

from services.reception.vault_model import id_check_char

rng = random.Random(secrets.randbits(64))


def digits(n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def phone() -> str:
    return "1" + rng.choice("3456789") + digits(9)


def id_number() -> str:
    born = f"{rng.randrange(1950, 2005)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    first17 = "110105" + born + digits(3)
    return first17 + id_check_char(first17)


def bank_card() -> str:
    body = "622202" + digits(12)
    total = 0
    for i, ch in enumerate(reversed(body)):  # Luhn check digit
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def account() -> str:
    return digits(rng.choice((8, 12, 16, 20, 25)))
