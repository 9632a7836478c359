"""The traffic model of the simulator: pure and seeded, so a run can be repeated and unit-tested.

Branches open 09:00–17:00 on weekdays (Saturday mornings); customers arrive as a Poisson process
whose rate follows the day (a late-morning and a lunchtime peak); the service type decides the
line and the time at the counter; a few visits end in a complaint; survey answers are mostly 5
and 4 with a few 1–2; an outage makes several branches complain about ``system_failure`` at once.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shared.contracts.complaint import Category, Channel, Nature
from shared.contracts.reception import ServiceType
from shared.pii import REF_LENGTH

OPEN = time(9, 0)
CLOSE = time(17, 0)
SATURDAY_CLOSE = time(12, 0)

#: service type → (share of arrivals, mean minutes at the counter)
SERVICE_MIX: dict[ServiceType, tuple[float, float]] = {
    ServiceType.deposit_demand: (0.22, 4),
    ServiceType.withdrawal: (0.18, 4),
    ServiceType.transfer: (0.14, 6),
    ServiceType.card_service: (0.12, 8),
    ServiceType.account_opening: (0.07, 12),
    ServiceType.deposit_time: (0.06, 6),
    ServiceType.wealth_management: (0.06, 15),
    ServiceType.loan_application: (0.04, 20),
    ServiceType.enquiry: (0.09, 3),
    ServiceType.other: (0.02, 5),
}

#: complaint category → share (system_failure is rare unless there is an outage)
CATEGORY_MIX: dict[Category, float] = {
    Category.waiting_time: 0.30,
    Category.service_attitude: 0.18,
    Category.process_complexity: 0.14,
    Category.fees_and_information_transparency: 0.12,
    Category.product_defect: 0.06,
    Category.communication: 0.07,
    Category.business_restrictions: 0.05,
    Category.personal_needs_unmet: 0.04,
    Category.system_failure: 0.01,
    Category.other: 0.03,
}

#: survey score → share: most customers are satisfied (the target is 95 % scoring 4–5)
SCORE_MIX: dict[int, float] = {5: 0.72, 4: 0.21, 3: 0.04, 2: 0.02, 1: 0.01}

#: a customer ref never holds a run of 4 digits, nor more than 8 digits in all
_DIGIT_RUN = re.compile(r"\d{4}")
MAX_REF_DIGITS = 8


@dataclass(frozen=True)
class Tuning:
    #: arrivals per branch per hour at the busiest time of day
    peak_arrivals_per_hour: float = 24.0
    counters: int = 3
    complaint_share: float = 0.03
    #: complaints that also come by phone/app, per branch per hour
    remote_complaints_per_hour: float = 0.3
    phone_calls_per_hour: float = 4.0
    survey_response_share: float = 0.75
    escalation_share: float = 0.08
    #: visits given a customer_ref (identified customers: the only ones surveyed)
    identified_share: float = 0.85


def is_open(at: datetime) -> bool:
    weekday = at.weekday()
    if weekday == 6:
        return False
    close = SATURDAY_CLOSE if weekday == 5 else CLOSE
    return OPEN <= at.time() < close


def next_opening(at: datetime) -> datetime:
    """``at`` if the branch is open then, else the next opening time."""
    if is_open(at):
        return at
    day = at.date() if at.time() < OPEN else at.date() + timedelta(days=1)
    while True:
        candidate = datetime.combine(day, OPEN, tzinfo=at.tzinfo)
        if is_open(candidate):
            return candidate
        day += timedelta(days=1)


def day_shape(at: datetime) -> float:
    """Relative arrival rate (0–1) through the opening hours: peaks at 10:30 and 13:00."""
    if not is_open(at):
        return 0.0
    hour = at.hour + at.minute / 60
    morning = math.exp(-(((hour - 10.5) / 1.0) ** 2))
    lunch = 0.8 * math.exp(-(((hour - 13.0) / 0.8) ** 2))
    return max(0.25, min(1.0, morning + lunch))


def next_arrival(rng: random.Random, at: datetime, per_hour_peak: float) -> datetime:
    """The next arrival after ``at`` (thinning of a Poisson process bounded by the peak rate)."""
    if per_hour_peak <= 0:
        return at + timedelta(days=365)
    t = next_opening(at)
    while True:
        t = t + timedelta(hours=rng.expovariate(per_hour_peak))
        if not is_open(t):
            t = next_opening(t)
            continue
        if rng.random() <= day_shape(t):
            return t


def pick(rng: random.Random, mix: dict, weight=lambda v: v):  # type: ignore[no-untyped-def]
    keys = list(mix)
    return rng.choices(keys, weights=[weight(mix[k]) for k in keys])[0]


def service_type(rng: random.Random) -> ServiceType:
    result: ServiceType = pick(rng, SERVICE_MIX, weight=lambda v: v[0])
    return result


def service_minutes(rng: random.Random, kind: ServiceType | str | None) -> float:
    """Minutes at the counter: gamma-distributed around the service type's mean."""
    try:
        mean = SERVICE_MIX[ServiceType(kind)][1] if kind is not None else 5.0
    except (ValueError, KeyError):
        mean = 5.0
    return max(0.5, rng.gammavariate(2.0, mean / 2.0))


def category(rng: random.Random) -> Category:
    result: Category = pick(rng, CATEGORY_MIX)
    return result


def nature(rng: random.Random) -> Nature:
    return Nature.major if rng.random() < 0.05 else Nature.general


def remote_channel(rng: random.Random) -> Channel:
    return rng.choice((Channel.phone_hotline, Channel.app, Channel.web))


def score(rng: random.Random) -> int:
    result: int = pick(rng, SCORE_MIX)
    return result


def customer_ref(rng: random.Random, population: int = 2_000_000) -> str:
    """A pseudonymous customer reference shaped like ``shared.pii.customer_ref`` output: 32
    url-safe base64 characters of a hash, never a name or a number. The simulator's population is
    ``population`` customers, so some come back; no ref holds a run of digits that could pass for a
    phone, card or ID number (issue 15's check), so a redrawn hash replaces such a one."""
    customer = rng.randrange(population)
    salt = 0
    while True:
        digest = hashlib.sha256(f"branchcare-simulator:{customer}:{salt}".encode()).digest()
        ref = base64.urlsafe_b64encode(digest).decode()[:REF_LENGTH]
        if not _DIGIT_RUN.search(ref) and sum(ch.isdigit() for ch in ref) <= MAX_REF_DIGITS:
            return ref
        salt += 1


def branch_ids(branches: int, regions: int) -> list[str]:
    """``r01-b0001`` …: branches spread round-robin over ``regions`` (see services/hq/regions.toml)."""
    regions = max(1, min(regions, 99))
    return [f"r{(i % regions) + 1:02d}-b{i + 1:04d}" for i in range(branches)]


def outage_branches(
    rng: random.Random, branches: list[str], share: float = 0.1, minimum: int = 6
) -> list[str]:
    """The branches an outage hits: a share of them, at least ``minimum`` (HQ's threshold is 5)."""
    count = min(len(branches), max(minimum, round(len(branches) * share)))
    return sorted(rng.sample(branches, count))
